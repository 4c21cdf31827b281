#include "journal/internal/group_commit_flusher.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "base/spin_wait.h"
#include "journal/internal/committed_lsn.h"
#include "journal/internal/journal_state_file.h"
#include "journal/internal/segment_set.h"

namespace engram::internal {

GroupCommitFlusher::GroupCommitFlusher(std::string dir, const JournalOptions& options,
                                       const std::atomic<uint64_t>* committed,
                                       SegmentSet* segments, uint64_t durable)
    : dir_(std::move(dir)),
      options_(options),
      committed_(committed),
      segments_(segments),
      synced_lsn_(durable),
      durable_word_(durable & kLsnMask) {}

GroupCommitFlusher::~GroupCommitFlusher() {
  if (thread_.joinable()) {
    {
      MutexLock l(&flush_mu_);
      flush_stop_ = true;
      SetFlags(kClosedBit);
      flush_cv_.SignalAll();
    }
    thread_.join();
  }
}

void GroupCommitFlusher::Start() {
  thread_ = std::thread([this] { Loop(); });
}

absl::Status GroupCommitFlusher::SyncUpTo(uint64_t target) {
  MutexLock s(&sync_mu_);
  // After a failed fdatasync the kernel may have dropped the dirty pages it
  // could not write (and cleared the error): a later sync that succeeds
  // proves nothing about them. The failure is final for this journal.
  if (!sync_error_.ok()) return sync_error_;
  const uint64_t synced = synced_lsn();
  if (target <= synced) return absl::OkStatus();
  if (absl::Status st = segments_->SyncThrough(target, synced); !st.ok()) {
    return FailSync(st);
  }
  synced_lsn_.store(target, std::memory_order_release);
  {
    MutexLock w(&word_mu_);
    // Still under sync_mu_, so same-host followers (and the replicator,
    // which reads at the durable horizon) see synced LSNs in order. At
    // kProcess the appender publishes durable == committed itself.
    if (state_ != nullptr && options_.durability != Durability::kProcess) {
      state_->PublishDurable(target);
    }
    // At kReplicated the durable word waits for the replicas as well.
    AdvanceDurable(options_.durability == Durability::kReplicated && !degraded_
                       ? std::min(target, replicated_)
                       : target);
  }
  sync_count_.fetch_add(1, std::memory_order_relaxed);
  return absl::OkStatus();
}

void GroupCommitFlusher::AdvanceDurable(uint64_t to) {
  const uint64_t durable = durable_lsn();
  if (to <= durable) return;
  // Only AdvanceDurable changes the LSN bits, under word_mu_: adding the
  // difference keeps the flag bits another thread may have set.
  durable_word_.fetch_add(to - durable, std::memory_order_release);
  durable_word_.notify_all();
}

void GroupCommitFlusher::AcknowledgeReplicated(uint64_t lsn) {
  {
    MutexLock w(&word_mu_);
    if (lsn <= replicated_) return;
    replicated_ = lsn;
    if (state_ != nullptr) state_->PublishReplicated(lsn);
    AdvanceDurable(std::min(lsn, synced_lsn()));
  }
  RunDueCallbacks();
}

void GroupCommitFlusher::SetDegraded(bool degraded) {
  {
    MutexLock w(&word_mu_);
    degraded_ = degraded;
    if (degraded) AdvanceDurable(synced_lsn());
  }
  RunDueCallbacks();
}

void GroupCommitFlusher::FailReplication(const absl::Status& why) {
  {
    MutexLock l(&flush_mu_);
    SetFlushError(why, /*overwrite=*/false);
  }
  RunDueCallbacks();
}

absl::Status GroupCommitFlusher::FailSync(const absl::Status& cause) {
  sync_error_ = absl::Status(
      cause.code(),
      absl::StrCat(cause.message(), "; journal ", dir_,
                   " acknowledges nothing more (records after durable LSN ",
                   durable_lsn(), " may be lost); reopen it to recover"));
  return sync_error_;
}

void GroupCommitFlusher::SetFlags(uint64_t bits) {
  durable_word_.fetch_or(bits, std::memory_order_release);
  durable_word_.notify_all();
}

void GroupCommitFlusher::SetFlushError(const absl::Status& s, bool overwrite) {
  if (overwrite || flush_error_.ok()) flush_error_ = s;
  SetFlags(kFailedBit);
  flush_cv_.SignalAll();
}

absl::Status GroupCommitFlusher::ClosedError() const {
  return absl::FailedPreconditionError(absl::StrCat("journal ", dir_, " is closed"));
}

void GroupCommitFlusher::RunDueCallbacks() {
  MutexLock l(&flush_mu_);
  flush_cv_.SignalAll();  // timed WaitDurable callers re-check the durable LSN
  // One runner at a time, so that callbacks run in LSN order (and, for one
  // LSN, in registration order) whichever thread finds them due: the
  // flusher, Sync(), or OnDurable for an LSN already durable. A second
  // caller leaves its work to the runner, which collects again after each
  // batch.
  if (callbacks_running_) return;
  callbacks_running_ = true;
  for (;;) {
    std::vector<absl::AnyInvocable<void(absl::Status)>> due, failed;
    absl::Status error;
    const uint64_t durable = durable_lsn();
    auto end = callbacks_.upper_bound(durable);
    for (auto it = callbacks_.begin(); it != end; ++it) {
      due.push_back(std::move(it->second));
    }
    callbacks_.erase(callbacks_.begin(), end);
    if (!flush_error_.ok() || flush_stop_) {
      error = !flush_error_.ok()
                  ? flush_error_
                  : absl::CancelledError(absl::StrCat(
                        "journal ", dir_, " closed before the LSN became durable"));
      for (auto& entry : callbacks_) failed.push_back(std::move(entry.second));
      callbacks_.clear();
    }
    if (due.empty() && failed.empty()) break;
    // Outside the lock: callbacks may call back into the journal.
    flush_mu_.Unlock();
    for (auto& cb : due) cb(absl::OkStatus());
    for (auto& cb : failed) cb(error);
    flush_mu_.Lock();
  }
  callbacks_running_ = false;
  flush_cv_.SignalAll();  // Close waits for the runner to finish
}

bool GroupCommitFlusher::FlusherHasWork() const {
  // Work is what is not yet synced: at kReplicated the durable LSN may lag
  // the synced one while the replicas catch up, which is not the
  // flusher's to wait for.
  const uint64_t d = synced_lsn();
  return flush_stop_ || (flush_error_.ok() && flush_wanted_ > d &&
                         CommittedLsn(*committed_) > d);
}

void GroupCommitFlusher::Loop() {
  for (;;) {
    {
      MutexLock l(&flush_mu_);
      const absl::Time deadline = absl::Now() + options_.sync_interval;
      while (!FlusherHasWork()) {
        if (flush_cv_.WaitWithDeadline(&flush_mu_, deadline)) break;
      }
      if (flush_stop_) return;
      if (!flush_error_.ok()) continue;
    }
    const uint64_t target = CommittedLsn(*committed_);
    if (target > synced_lsn()) {
      absl::Status s = SyncUpTo(target);
      if (!s.ok()) {
        MutexLock l(&flush_mu_);
        SetFlushError(s, /*overwrite=*/true);
      }
    }
    RunDueCallbacks();
  }
}

absl::Status GroupCommitFlusher::Sync(uint64_t target) {
  absl::Status s = SyncUpTo(target);
  if (options_.durability != Durability::kProcess) {
    if (!s.ok()) {
      // Waiters and callbacks fail as if the flusher had hit it.
      MutexLock l(&flush_mu_);
      SetFlushError(s, /*overwrite=*/false);
    }
    RunDueCallbacks();
  }
  return s;
}

bool GroupCommitFlusher::WaitOver(uint64_t lsn) const {
  return durable_lsn() >= lsn || !flush_error_.ok() || flush_stop_;
}

absl::Status GroupCommitFlusher::WaitResult(uint64_t lsn, absl::Duration timeout) const {
  if (durable_lsn() >= lsn) return absl::OkStatus();
  if (!flush_error_.ok()) return flush_error_;
  if (flush_stop_) return ClosedError();
  return absl::DeadlineExceededError(absl::StrFormat(
      "LSN %u not durable within %s (durable LSN %u)", lsn,
      absl::FormatDuration(timeout), durable_lsn()));
}

absl::Status GroupCommitFlusher::WaitDurable(uint64_t lsn, absl::Duration timeout) {
  if (durable_lsn() >= lsn) return absl::OkStatus();
  {
    MutexLock l(&flush_mu_);
    flush_wanted_ = std::max(flush_wanted_, lsn);
    flush_cv_.SignalAll();
    if (timeout != absl::InfiniteDuration()) {
      // std::atomic::wait has no timeout: a bounded wait sleeps on flush_cv_,
      // which every advance, failure and close signals too.
      const absl::Time deadline = absl::Now() + timeout;
      while (!WaitOver(lsn)) {
        if (flush_cv_.WaitWithDeadline(&flush_mu_, deadline)) break;
      }
      return WaitResult(lsn, timeout);
    }
  }
  // Parks on the durable word itself: the round that covers `lsn` wakes
  // this thread with its own store, and so do a failure and Close, whose
  // flags are part of the same word (a waiter parked on the LSN alone would
  // sleep through them).
  SpinThenPark(durable_word_, [lsn](uint64_t v) {
    return (v & kLsnMask) >= lsn || (v & (kFailedBit | kClosedBit)) != 0;
  });
  MutexLock l(&flush_mu_);
  return WaitResult(lsn, timeout);
}

void GroupCommitFlusher::OnDurable(uint64_t lsn,
                                   absl::AnyInvocable<void(absl::Status)> done) {
  absl::Status error;
  {
    MutexLock l(&flush_mu_);
    if (!flush_error_.ok()) {
      error = flush_error_;
    } else if (flush_stop_) {
      error = ClosedError();
    } else {
      // Always through the queue, even when already durable: running it
      // inline could overtake earlier callbacks that the flusher has
      // taken out of the queue but not yet run.
      callbacks_.emplace(lsn, std::move(done));
      if (durable_lsn() < lsn) {
        flush_wanted_ = std::max(flush_wanted_, lsn);
        flush_cv_.SignalAll();
        return;
      }
      if (callbacks_running_) return;  // the runner collects it
    }
  }
  if (!error.ok()) {
    done(error);
    return;
  }
  RunDueCallbacks();
}

absl::Status GroupCommitFlusher::Close(uint64_t target) {
  absl::Status status = SyncUpTo(target);
  {
    MutexLock l(&flush_mu_);
    flush_stop_ = true;
    SetFlags(kClosedBit);
    flush_cv_.SignalAll();
  }
  if (thread_.joinable()) thread_.join();
  RunDueCallbacks();
  // A runner on another thread may still be calling callbacks.
  MutexLock l(&flush_mu_);
  while (callbacks_running_) flush_cv_.Wait(&flush_mu_);
  return status;
}

}  // namespace engram::internal
