#ifndef ENGRAM_ACTORS_INTERNAL_BOUNDED_STATE_H_
#define ENGRAM_ACTORS_INTERNAL_BOUNDED_STATE_H_

#include <atomic>
#include <cstdint>

#include "absl/time/time.h"
#include "engram/actors/send_result.h"
#include "engram/actors/spawn_options.h"

namespace engram::internal {

// The admission counter of a bounded mailbox: how many user messages are
// queued, and where blocked senders wait for space.
//
// Thread-safety: Admit() from any sender; Release() by the owner.
class BoundedState {
 public:
  BoundedState(uint32_t capacity, OverflowPolicy policy, absl::Duration timeout)
      : capacity_(capacity), policy_(policy), block_timeout_(timeout) {}

  // Takes a slot for one message, or says why not (the policy's outcome).
  SendResult Admit() noexcept;
  // Gives a slot back after the owner dequeued a message.
  void Release() noexcept;

  uint32_t capacity() const { return capacity_; }

 private:
  bool TryTake() noexcept;

  const uint32_t capacity_;
  const OverflowPolicy policy_;
  const absl::Duration block_timeout_;
  // Queued user messages; also the futex word blocked senders sleep on.
  // Writers: senders (CAS up), owner (fetch_sub). seq_cst with waiters_
  // (Dekker: a sender bumps waiters_ then reads size_; the owner lowers
  // size_ then reads waiters_).
  std::atomic<uint32_t> size_{0};
  // Senders sleeping for space. Writers: blocked senders.
  std::atomic<int32_t> waiters_{0};
};

}  // namespace engram::internal

#endif  // ENGRAM_ACTORS_INTERNAL_BOUNDED_STATE_H_
