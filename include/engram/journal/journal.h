// The journal: a directory of preallocated, memory-mapped segment files that
// records are appended to, with recovery on open and group commit.
//
// Journal is the facade; each of its jobs has its own class under
// journal/internal/ (not part of the API): recovery.h (Open's scan and
// repair), segment_set.h (the segments and the roll), segment_preallocator.h
// (the next segment file, prefaulting), group_commit_flusher.h (the durable
// LSN, the flusher thread, WaitDurable/OnDurable) and retention.h. Appending
// itself is Journal's: a lock-free reservation in the active segment and
// publication in LSN order (committed_lsn_).
//
// Thread-safety: Append/AppendBatch may be called from any number of threads
// at once; they take no lock unless the active segment is full (the roll).
// All other methods are thread-safe too. One Journal per directory across
// all processes (the lock file); readers (engram::Reader) need no lock.
// Ownership: Journal owns its segment mappings, the lock and two background
// threads (segment preallocation and, at kSync and kReplicated, the flusher);
// destroying it closes the journal.
#ifndef ENGRAM_JOURNAL_JOURNAL_H_
#define ENGRAM_JOURNAL_JOURNAL_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "engram/base/internal/mutex.h"
#include "engram/journal/epoch.h"
#include "engram/journal/journal_options.h"
#include "engram/journal/record.h"
#include "engram/journal/writer_lock.h"

namespace engram {

namespace internal {
class GroupCommitFlusher;
class Retention;
class SegmentPreallocator;
class JournalStateFile;
class SegmentSet;
}  // namespace internal

// What Journal::Open found and did.
struct RecoveryReport {
  uint64_t records = 0;        // records kept
  uint64_t last_lsn = 0;       // last LSN kept (0: none)
  // Torn tail cut off (a writer died mid-append).
  uint64_t torn_bytes = 0;
  std::string torn_file;
  uint64_t torn_offset = 0;
  std::string torn_reason;
  // Repair (JournalOptions::repair) cut the journal at a corrupt record.
  bool repaired = false;
  std::string repaired_file;
  uint64_t repaired_offset = 0;
  uint64_t dropped_first_lsn = 0;
  uint64_t dropped_last_lsn = 0;
  std::string repair_reason;
  // Whole segment files removed because they lay after the cut (or were
  // created but never written: a power cut before their first sync).
  std::vector<std::string> removed_files;
  // Sealed segments whose end marker had not reached the disk (a power cut
  // right after a roll); recovery wrote the markers back.
  uint64_t lost_markers = 0;
  // Epoch records among the records kept (before this writer's own), and
  // the last of them (none: the journal has no epoch record).
  uint64_t epochs = 0;
  std::optional<EpochRecord> last_epoch;
  // record_epochs: the segment appends would have continued in was of
  // format version 1, so recovery sealed it (or, holding no record, removed
  // it: see removed_files) and the epoch record starts a new (version 2)
  // segment.
  bool sealed_for_epoch = false;

  // Human-readable summary, "" when nothing was cut.
  std::string ToString() const;
};

class Journal {
 public:
  // Opens (creating if allowed) the journal in `dir` for writing, after
  // recovering it: a torn tail is cut and reported in recovery(); a
  // corrupt record followed by valid ones fails with kDataLoss naming file,
  // offset and LSN unless options.repair is set. Other errors:
  // kFailedPrecondition (locked by another process, naming its PID; newer
  // format version), kResourceExhausted (disk full at segment creation),
  // kNotFound (missing directory and !create_if_missing), kInvalidArgument.
  // Recovery checks the journal's epoch records (kDataLoss naming the LSN
  // of one that does not decode, names another journal id, is not above
  // the epoch before it or whose base LSN is not its own LSN; repair does
  // not cut there). With options.record_epochs the new epoch record is
  // appended and synced before Open returns (see epoch()).
  static absl::StatusOr<std::unique_ptr<Journal>> Open(
      const std::string& dir, const JournalOptions& options = {});
  // As Open, with the writer lock already held (a standby that waited for
  // it: WriterLock::Await); the journal keeps it. kInvalidArgument if the
  // lock is for another directory.
  static absl::StatusOr<std::unique_ptr<Journal>> Open(const std::string& dir,
                                                       const JournalOptions& options,
                                                       std::unique_ptr<WriterLock> lock);

  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;
  ~Journal();

  // Appends one record and returns its LSN once it is published (visible to
  // readers, kept by recovery after a process crash). Errors:
  // kInvalidArgument for an oversize record (naming size and limit) or a
  // record in stream 0 with a reserved type id (engram/journal/epoch.h),
  // kResourceExhausted/kInternal when a new segment cannot be created,
  // kFailedPrecondition after Close().
  absl::StatusOr<uint64_t> Append(const RecordInput& record) noexcept;
  // Appends records as one batch that readers and recovery see whole or not
  // at all, with consecutive LSNs; returns the first. The batch must fit in
  // one segment.
  absl::StatusOr<uint64_t> AppendBatch(
      absl::Span<const RecordInput> records) noexcept;

  // Appends records read from another copy of this journal (a replica
  // following it), keeping their LSNs, timestamps and stream 0 records
  // (epochs): the first must have LSN last_lsn() + 1, the LSNs must be
  // consecutive and each batch whole (its head's batch_count, then its
  // members), and the bytes written are the bytes read, checksums included.
  // Returns the last LSN. kInvalidArgument naming the LSN that does not
  // follow; the errors of AppendBatch. Not to be mixed with appends from
  // other threads.
  absl::StatusOr<uint64_t> AppendCopy(absl::Span<const RecordView> records);

  // Last LSN published (every LSN up to it is readable). 0 if none.
  uint64_t last_lsn() const noexcept;
  // Last LSN durable at the journal's level: equal to last_lsn() at
  // kProcess, the last LSN covered by fdatasync at kSync, the last LSN both
  // covered by fdatasync and acknowledged by the replicas at kReplicated.
  uint64_t durable_lsn() const noexcept;
  // Group commits (fdatasync rounds) done so far; for statistics.
  uint64_t sync_count() const noexcept;
  // Blocks until durable_lsn() >= lsn. kDeadlineExceeded on timeout; the
  // flusher's I/O error if syncing failed; kFailedPrecondition if closed.
  absl::Status WaitDurable(uint64_t lsn,
                           absl::Duration timeout = absl::InfiniteDuration());
  // Calls `done` once durable_lsn() >= lsn, or with an error if syncing
  // fails or the journal closes first. Callbacks of one journal run one at
  // a time in LSN order (registration order for equal LSNs), on the flusher
  // thread or on a thread that registers one for an LSN already durable.
  // `done` must not block; it may call OnDurable again.
  void OnDurable(uint64_t lsn, absl::AnyInvocable<void(absl::Status)> done);
  // Makes everything appended so far durable (fdatasync even at kProcess).
  absl::Status Sync();

  // Retention: deletes whole segment files all of whose records have LSNs
  // below `lsn` (never the active segment). Returns how many were deleted.
  absl::StatusOr<int> DeleteSegmentsBelow(uint64_t lsn);

  // Flushes (at kSync and kReplicated; at kReplicated then lets the
  // replicator ship what is left: Replicator::Stop), stops the background
  // threads, unmaps and unlocks.
  // Appends fail afterwards. Idempotent.
  absl::Status Close();

  // This writer's epoch (0 when options().record_epochs is off) and its
  // epoch record (all fields zero/empty when off).
  uint64_t epoch() const { return epoch_.epoch; }
  // The random id all segments of this journal share (and its replicas).
  uint64_t journal_id() const { return journal_id_; }
  const EpochRecord& epoch_record() const { return epoch_; }

  const RecoveryReport& recovery() const { return recovery_; }
  const std::string& dir() const { return dir_; }
  const JournalOptions& options() const { return options_; }

 private:
  // Open, once the options are checked, the directory prepared and the
  // writer lock held.
  static absl::StatusOr<std::unique_ptr<Journal>> OpenLocked(const std::string& dir,
                                                             const JournalOptions& options,
                                                             std::unique_ptr<WriterLock> lock);
  Journal(std::string dir, const JournalOptions& options);

  // `journal_record`: the journal's own record (reserved type ids allowed).
  absl::StatusOr<uint64_t> AppendRecords(const RecordInput* records, size_t n,
                                         bool journal_record = false) noexcept;
  // Open, with record_epochs: appends this tenure's epoch record (epoch >=
  // 1, previous = epoch - 1) and syncs it.
  absl::Status StartEpoch(uint64_t epoch, uint64_t journal_id);
  // Returns committed_lsn_ once every LSN below `lsn` is published (its
  // LSN bits == lsn - 1): publication is in LSN order.
  uint64_t WaitForPredecessors(uint64_t lsn) const noexcept;
  // WaitDurable at kProcess, where durable means published.
  absl::Status WaitPublished(uint64_t lsn, absl::Duration timeout);

  const std::string dir_;
  const JournalOptions options_;
  uint64_t capacity_ = 0;    // segment size
  uint64_t max_record_ = 0;  // largest header+payload accepted
  std::unique_ptr<WriterLock> lock_;
  RecoveryReport recovery_;
  EpochRecord epoch_;  // set by Open, then constant
  uint64_t journal_id_ = 0;  // set by Open, then constant
  // kReplicated: options_.replicator was started (Close stops it).
  bool replicating_ = false;

  // Set up by Open, in this order, and torn down by Close; the pointers
  // themselves never change after Open.
  std::unique_ptr<internal::SegmentPreallocator> preallocator_;
  std::unique_ptr<internal::SegmentSet> segments_;
  std::unique_ptr<internal::GroupCommitFlusher> flusher_;
  std::unique_ptr<internal::Retention> retention_;
  // The shared state page (<dir>/STATE) for same-host followers: created
  // by Open right after recovery, marked closed by Close, freed only by the
  // destructor (appenders still in flight during Close may publish).
  std::unique_ptr<internal::JournalStateFile> state_;

  // Every LSN <= committed_lsn_ (its low 63 bits) is published. Written
  // (release) by the appender that publishes the next LSN range, in LSN
  // order, followed by notify_all for threads parked on it
  // (WaitForPredecessors, WaitPublished); its top bit is set once by Close
  // (acq_rel fetch_or, then notify_all) to wake them (see
  // journal/internal/committed_lsn.h). Loaded (acquire) by appenders waiting
  // for their predecessors, the flusher, retention and last_lsn().
  alignas(64) std::atomic<uint64_t> committed_lsn_{0};
  // Set once by Close (acq_rel exchange, so Close runs once); read
  // (acquire) by WaitPublished to stop waiting.
  alignas(64) std::atomic<bool> closed_{false};
  // kReplicated: new appends are refused (ReplicationContext::
  // refuse_appends). Stored (release) by the replicator's thread after
  // refused_status_; loaded (relaxed: only the flag's own value matters, the
  // status is read under its mutex) by every append.
  std::atomic<bool> refusing_{false};
  Mutex refuse_mu_;
  absl::Status refused_status_ ABSL_GUARDED_BY(refuse_mu_);
};

}  // namespace engram

#endif  // ENGRAM_JOURNAL_JOURNAL_H_
