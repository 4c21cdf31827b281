#ifndef ENGRAM_IMAGE_INTERNAL_MEMORY_IMAGE_TEST_PEER_H_
#define ENGRAM_IMAGE_INTERNAL_MEMORY_IMAGE_TEST_PEER_H_

// Test hooks of MemoryImage, kept out of its public interface: for engram's
// own tests and for ImageTestKit (engram/image/test_kit.h). Not for
// applications.
//
// Thread-safety: as the MemoryImage methods they call (SetCommitObserver
// before Open(); the others from any thread).

#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "engram/image/memory_image.h"

namespace engram::internal {

class MemoryImageTestPeer {
 public:
  // Called on the committing actor's turn with each command's events after
  // they are journaled and applied. Set before Open().
  static void SetCommitObserver(
      MemoryImage& image,
      std::function<void(uint64_t stream_id, const std::vector<std::unique_ptr<Envelope>>&)>
          observer) {
    image.observer_ = std::move(observer);
  }
  // Output gating: while held, gated outputs wait even when durable (as if
  // the flush were slow); ReleaseOutputs lets them go, in order.
  static void HoldOutputs(MemoryImage& image) { image.HoldOutputs(); }
  static void ReleaseOutputs(MemoryImage& image) { image.ReleaseOutputs(); }
};

}  // namespace engram::internal

#endif  // ENGRAM_IMAGE_INTERNAL_MEMORY_IMAGE_TEST_PEER_H_
