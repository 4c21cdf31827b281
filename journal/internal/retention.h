// Retention: what the journal lets go of. Whole segment files whose
// records all lie below a caller's LSN are deleted on request
// (Journal::DeleteSegmentsBelow), and the mappings of sealed segments that
// are fully published and durable are released as soon as they are
// (RetireMappings, run by the preallocator thread after each roll), so
// that a long-running writer maps only the segments it still writes.
//
// Thread-safety: both methods are thread-safe; Retention has no state of
// its own beyond the pointers it borrows (the SegmentSet serialises the
// work). Ownership: borrows the journal's committed LSN, SegmentSet and
// flusher, which must outlive it.
#ifndef ENGRAM_JOURNAL_INTERNAL_RETENTION_H_
#define ENGRAM_JOURNAL_INTERNAL_RETENTION_H_

#include <atomic>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "engram/journal/journal_options.h"

namespace engram::internal {

class GroupCommitFlusher;
class SegmentSet;

class Retention {
 public:
  Retention(std::string dir, Durability durability,
            const std::atomic<uint64_t>* committed, SegmentSet* segments,
            const GroupCommitFlusher* flusher);

  // Deletes segment files all of whose records have LSNs below `lsn`
  // (never the active segment, never beyond the published LSN). Returns
  // how many were deleted.
  absl::StatusOr<int> DeleteSegmentsBelow(uint64_t lsn);

  // Releases the mappings of sealed segments whose records are all
  // published and (at kSync) durable.
  void RetireMappings();

 private:
  const std::string dir_;
  const Durability durability_;
  const std::atomic<uint64_t>* const committed_;
  SegmentSet* const segments_;
  const GroupCommitFlusher* const flusher_;
};

}  // namespace engram::internal

#endif  // ENGRAM_JOURNAL_INTERNAL_RETENTION_H_
