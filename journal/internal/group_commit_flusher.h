// Group commit: the durable LSN, the flusher thread that advances it, and
// the waiters and OnDurable callbacks that wait for it.
//
// At Durability::kSync a background thread fdatasyncs every segment that
// holds published records once a waiter (WaitDurable/OnDurable) asks for an
// LSN or JournalOptions::sync_interval passes, covering everything
// published by then in one round (group commit). Each round advances the
// durable word (durable LSN | failure and close flags), wakes the waiters
// parked on it and runs the callbacks that became due. The first failed
// fdatasync is final: the kernel may have dropped the pages it could not
// write, so nothing after the durable LSN is ever acknowledged again.
// At kProcess there is no thread; SyncUpTo still serves Journal::Sync and
// Close.
//
// Thread-safety: every method is thread-safe. sync_mu_ serialises sync
// rounds (and guards the sticky sync_error_); flush_mu_ guards the
// flusher's work queue, the callbacks and the error waiters see.
// At kReplicated the flusher syncs as at kSync, but the durable word
// advances only to min(synced, acknowledged by the replicas): the
// replicator reports acknowledgements through AcknowledgeReplicated.
//
// Lock order: sync_mu_ -> word_mu_, sync_mu_ -> SegmentSet locks;
// flush_mu_ is never held while syncing or while running callbacks.
// Ownership: owns the thread (joined by Close) and the pending callbacks;
// borrows the journal's committed LSN and its SegmentSet, which must
// outlive it.
#ifndef ENGRAM_JOURNAL_INTERNAL_GROUP_COMMIT_FLUSHER_H_
#define ENGRAM_JOURNAL_INTERNAL_GROUP_COMMIT_FLUSHER_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "engram/base/internal/mutex.h"
#include "engram/journal/journal_options.h"

namespace engram::internal {

class JournalStateFile;
class SegmentSet;

class GroupCommitFlusher {
 public:
  // `committed` is the journal's published LSN (every LSN <= it is
  // published); `durable` the LSN recovery made durable.
  GroupCommitFlusher(std::string dir, const JournalOptions& options,
                     const std::atomic<uint64_t>* committed, SegmentSet* segments,
                     uint64_t durable);
  GroupCommitFlusher(const GroupCommitFlusher&) = delete;
  GroupCommitFlusher& operator=(const GroupCommitFlusher&) = delete;
  ~GroupCommitFlusher();

  // Where each advance of the durable LSN is also published for same-host
  // followers (kSync only; at kProcess the appender publishes durable ==
  // committed). Set before Start(); `state` outlives this flusher.
  void PublishTo(JournalStateFile* state) { state_ = state; }
  // Starts the flusher thread (kSync only).
  void Start();

  // Every LSN <= synced_lsn() is fdatasync'ed.
  uint64_t synced_lsn() const noexcept {
    return synced_lsn_.load(std::memory_order_acquire);
  }
  // Every LSN <= durable_lsn() is durable at the journal's level: synced,
  // and at kReplicated also acknowledged by the replicas.
  uint64_t durable_lsn() const noexcept {
    return durable_word_.load(std::memory_order_acquire) & kLsnMask;
  }
  uint64_t sync_count() const noexcept {
    return sync_count_.load(std::memory_order_relaxed);
  }

  // One sync round covering every LSN <= target (which must be published).
  // Returns the sticky error once a round failed.
  absl::Status SyncUpTo(uint64_t target) ABSL_LOCKS_EXCLUDED(sync_mu_);
  // Journal::Sync: SyncUpTo(target); at kSync a failure also fails the
  // waiters and callbacks, and due callbacks run.
  absl::Status Sync(uint64_t target) ABSL_LOCKS_EXCLUDED(flush_mu_);
  // kSync: the semantics of Journal::WaitDurable and Journal::OnDurable.
  absl::Status WaitDurable(uint64_t lsn, absl::Duration timeout)
      ABSL_LOCKS_EXCLUDED(flush_mu_);
  void OnDurable(uint64_t lsn, absl::AnyInvocable<void(absl::Status)> done)
      ABSL_LOCKS_EXCLUDED(flush_mu_);
  // kReplicated: the replicas hold every LSN <= lsn (the replicator's
  // acknowledgement path). Advances the durable word to min(lsn, synced),
  // publishes the replicated LSN for same-host followers and runs the
  // callbacks that became due.
  void AcknowledgeReplicated(uint64_t lsn) ABSL_LOCKS_EXCLUDED(word_mu_, flush_mu_);
  // kReplicated: while `degraded`, the durable word follows the synced LSN
  // alone (advanced to it at once).
  void SetDegraded(bool degraded) ABSL_LOCKS_EXCLUDED(word_mu_, flush_mu_);
  // kReplicated: nothing more will be acknowledged; waiters and callbacks
  // get `why` (as after a failed sync).
  void FailReplication(const absl::Status& why) ABSL_LOCKS_EXCLUDED(flush_mu_);
  // kSync: a final round up to `target`, then stops and joins the thread,
  // completes due callbacks, cancels the rest and waits for a callback
  // runner on another thread. Returns the final round's status.
  absl::Status Close(uint64_t target) ABSL_LOCKS_EXCLUDED(flush_mu_);

 private:
  // The durable word: bits 0..61 the durable LSN; kFailedBit once
  // flush_error_ is set, kClosedBit once flush_stop_ is set (both sticky).
  static constexpr uint64_t kFailedBit = uint64_t{1} << 63;
  static constexpr uint64_t kClosedBit = uint64_t{1} << 62;
  static constexpr uint64_t kLsnMask = kClosedBit - 1;

  void Loop() ABSL_LOCKS_EXCLUDED(flush_mu_);
  // Raises the LSN bits of the durable word to `to` (if higher) and wakes
  // the threads parked on it.
  void AdvanceDurable(uint64_t to) ABSL_EXCLUSIVE_LOCKS_REQUIRED(word_mu_);
  // Records a failed round as final (sync_error_) and returns it.
  absl::Status FailSync(const absl::Status& cause) ABSL_EXCLUSIVE_LOCKS_REQUIRED(sync_mu_);
  // Sets flush_error_ (if `overwrite` or none yet) and kFailedBit, waking
  // every waiter.
  void SetFlushError(const absl::Status& s, bool overwrite)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(flush_mu_);
  // Sets bits in the durable word and wakes the threads parked on it.
  void SetFlags(uint64_t bits);
  void RunDueCallbacks() ABSL_LOCKS_EXCLUDED(flush_mu_);
  bool FlusherHasWork() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(flush_mu_);
  bool WaitOver(uint64_t lsn) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(flush_mu_);
  absl::Status WaitResult(uint64_t lsn, absl::Duration timeout) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(flush_mu_);
  absl::Status ClosedError() const;

  const std::string dir_;
  const JournalOptions options_;
  const std::atomic<uint64_t>* const committed_;
  SegmentSet* const segments_;
  JournalStateFile* state_ = nullptr;  // set before Start, then constant

  // The last LSN fdatasync covered: stored (release) only by a sync round,
  // under sync_mu_, after fdatasync returned; loaded (acquire) anywhere.
  std::atomic<uint64_t> synced_lsn_;
  // The durable word (see kFailedBit). The LSN part is advanced only by
  // AdvanceDurable, under word_mu_, by fetch_add (release): after a sync
  // round, and at kReplicated after an acknowledgement; the flags are set by fetch_or (release) under flush_mu_ right
  // after the field they mirror. Every change is followed by notify_all
  // for the waiters parked on it (WaitDurable). Loaded (acquire) anywhere.
  alignas(64) std::atomic<uint64_t> durable_word_;
  // Incremented (relaxed, a statistic) by each successful round.
  std::atomic<uint64_t> sync_count_{0};

  Mutex sync_mu_ ABSL_ACQUIRED_BEFORE(flush_mu_);
  // The first failed fdatasync; every later SyncUpTo returns it.
  absl::Status sync_error_ ABSL_GUARDED_BY(sync_mu_);

  // Guards the LSN part of the durable word and replicated_; taken inside
  // sync_mu_ by a sync round, alone by the acknowledgement path (so that an
  // acknowledgement never waits for an fdatasync).
  Mutex word_mu_ ABSL_ACQUIRED_AFTER(sync_mu_);
  // kReplicated: the highest LSN the replicas acknowledged.
  uint64_t replicated_ ABSL_GUARDED_BY(word_mu_) = 0;
  // kReplicated: degraded to the local level (SetDegraded).
  bool degraded_ ABSL_GUARDED_BY(word_mu_) = false;

  Mutex flush_mu_;
  CondVar flush_cv_;  // work for the flusher, or progress for waiters
  uint64_t flush_wanted_ ABSL_GUARDED_BY(flush_mu_) = 0;  // highest LSN asked for
  bool flush_stop_ ABSL_GUARDED_BY(flush_mu_) = false;
  absl::Status flush_error_ ABSL_GUARDED_BY(flush_mu_);
  std::multimap<uint64_t, absl::AnyInvocable<void(absl::Status)>> callbacks_
      ABSL_GUARDED_BY(flush_mu_);
  // A thread is running callbacks (RunDueCallbacks).
  bool callbacks_running_ ABSL_GUARDED_BY(flush_mu_) = false;
  std::thread thread_;  // started by Start, joined by Close
};

}  // namespace engram::internal

#endif  // ENGRAM_JOURNAL_INTERNAL_GROUP_COMMIT_FLUSHER_H_
