// Iterates over the records of a journal from any LSN and tails it while a
// writer (in this process or another) appends: maps segments read-only,
// follows segment rolls, and returns only whole records (a batch appears
// only once all of it is published).
//
// Waiting (NextWait) sleeps on the futex word of the journal's shared state
// page (<dir>/STATE) and is woken by the writer's publish, in this process
// or another; a journal without that page (a writer that predates it) is
// sleep-polled instead. writer_state() reads what the writer published
// there (committed/durable/replicated LSNs, epoch, heartbeat).
//
// Thread-safety: a Reader is used by one thread at a time; any number of
// Readers may run beside the one writer. Ownership: the Reader owns the
// read-only mapping of its current segment and its mapping of the state
// page; the RecordView it returns points into the segment mapping and is
// valid until the next call to Next.
#ifndef ENGRAM_JOURNAL_READER_H_
#define ENGRAM_JOURNAL_READER_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "engram/journal/record.h"
#include "engram/journal/writer_state.h"

namespace engram {

namespace internal {
class JournalStateFile;
class MappedFile;
}  // namespace internal

// How far a follower reads: what the writer published as committed (kept
// by a crash of the writer's process), as durable at the journal's
// durability level, or as replicated (see WriterState).
enum class ReadHorizon { kCommitted, kDurable, kReplicated };

class Reader {
 public:
  // Opens `dir` positioned at `from_lsn` (0 = the oldest record kept). A
  // position past the last record waits there for the writer. Errors:
  // kNotFound (no directory / not a journal), kOutOfRange (the LSN was
  // deleted by retention), kFailedPrecondition (newer format version),
  // kDataLoss (damage before the position).
  static absl::StatusOr<std::unique_ptr<Reader>> Open(const std::string& dir,
                                                      uint64_t from_lsn = 0);
  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;
  ~Reader();

  // Fills `*out` with the next record and returns true, or returns false
  // when no further record is published yet. kDataLoss names file, offset
  // and LSN of a damaged record; kOutOfRange, naming the oldest LSN still
  // kept, when retention deleted the next segment while this reader was
  // behind.
  absl::StatusOr<bool> Next(RecordView* out);
  // Like Next, but waits up to `timeout` for a record to appear: on the
  // state page's wake word when the journal has one (woken by the writer's
  // publish, never missing a record published while it starts to wait),
  // else (no STATE file, or one that cannot be used) by polling with a
  // backoff of up to 5 ms.
  absl::StatusOr<bool> NextWait(RecordView* out, absl::Duration timeout);
  // Like NextWait, but returns a record only once the writer has published
  // its LSN as within `horizon` in the state page (woken by that publish,
  // too). Where no live writer publishes one (no STATE file, or the last
  // writer closed the journal cleanly), every whole record is within it. A
  // writer that crashed leaves its last horizon in place until the next
  // writer opens the journal.
  absl::StatusOr<bool> NextWait(RecordView* out, absl::Duration timeout, ReadHorizon horizon);

  // What the journal's writer last published in its state page; `present`
  // is false when the journal has none. Errors: kDataLoss (bad magic,
  // wrong size) or kFailedPrecondition (unknown layout version) naming the
  // file; kPermissionDenied if it cannot be opened read-write.
  absl::StatusOr<WriterState> writer_state();

  // LSN of the record the next call to Next returns.
  uint64_t next_lsn() const { return next_lsn_; }

 private:
  explicit Reader(std::string dir);
  // Maps the segment file that starts at `first_lsn`; false if it does not
  // exist (yet).
  absl::StatusOr<bool> OpenSegment(uint64_t first_lsn, const std::string& path);
  // kOutOfRange if the segment starting at next_lsn_ was deleted (a later
  // one exists), OK if it may still appear.
  absl::Status CheckNotDeleted() const;
  // Opens <dir>/STATE into state_ if it is not open yet. OK with state_
  // still null if the file does not exist; an error if it is unusable.
  absl::Status EnsureState();

  const std::string dir_;
  std::unique_ptr<internal::MappedFile> file_;
  uint64_t segment_size_ = 0;
  uint64_t offset_ = 0;
  uint64_t next_lsn_ = 1;
  uint32_t batch_left_ = 0;  // members of the current batch not yet returned
  // The journal's state page, once it has been seen to exist.
  std::unique_ptr<internal::JournalStateFile> state_;
};

}  // namespace engram

#endif  // ENGRAM_JOURNAL_READER_H_
