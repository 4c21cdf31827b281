#include "engram/image/standby.h"

#include <errno.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "engram/journal/journal.h"
#include "engram/journal/writer_lock.h"

namespace engram {

namespace {

// The following thread sleeps at most this long between looks at its stop
// flag (the takeover's own state-page reset wakes it sooner).
constexpr absl::Duration kFollowSlice = absl::Milliseconds(20);
// Records applied per wake before the batches go to the actors.
constexpr uint64_t kFollowBatch = 4096;
// The lock thread looks at its stop flag this often.
constexpr absl::Duration kLockSlice = absl::Milliseconds(100);
// How often the following thread reads the leader's state page.
constexpr absl::Duration kLeaderCheckPeriod = absl::Milliseconds(100);
// How long Start waits for a leader that holds the lock to create the
// journal's first segment.
constexpr absl::Duration kFirstSegmentWait = absl::Seconds(10);

}  // namespace

Standby::Standby(MemoryImage& image) : image_(image) {}

Standby::~Standby() { Stop(); }

absl::Status Standby::Start(const std::string& dir, const Options& options) {
  if (options.image.read_only || options.image.replay_to_lsn != 0) {
    return absl::InvalidArgumentError(
        "a standby's image options must not set read_only or replay_to_lsn");
  }
  dir_ = dir;
  options_ = options;
  const auto start = std::chrono::steady_clock::now();
  MemoryImage::Options follow = options.image;
  follow.read_only = true;
  // A leader may hold the lock a moment before its journal has a first
  // segment, and may die in that moment: look at both again until one
  // answers.
  const absl::Time give_up = absl::Now() + kFirstSegmentWait;
  for (;;) {
    absl::StatusOr<std::unique_ptr<WriterLock>> lock =
        WriterLock::TryAcquire(dir, options.image.journal.file_mode);
    const bool no_journal = lock.status().code() == absl::StatusCode::kNotFound &&
                            options.image.journal.create_if_missing;
    if (lock.ok() || no_journal) {
      // Nobody writes the journal (or it does not exist yet): this process
      // is the writer from the start.
      if (!options.take_over) {
        return absl::FailedPreconditionError(absl::StrCat(
            "journal ", dir, " has no writer to follow (and take_over is off)"));
      }
      // Without the lock, Journal::Open creates the directory and races any
      // other new writer for it; losing the race means following it.
      absl::Status s = image_.OpenImpl(dir, options.image,
                                       lock.ok() ? std::move(*lock) : nullptr, std::nullopt);
      if (no_journal && s.code() == absl::StatusCode::kFailedPrecondition) continue;
      if (!s.ok()) return s;
      Promotion p;
      p.takeover = absl::FromChrono(std::chrono::steady_clock::now() - start);
      Promoted(p);
      return absl::OkStatus();
    }
    if (lock.status().code() != absl::StatusCode::kFailedPrecondition) return lock.status();
    // A leader holds the lock: follow it.
    absl::Status s = image_.OpenImpl(dir, follow, nullptr, options.horizon);
    if (s.ok()) break;
    if (s.code() != absl::StatusCode::kNotFound) return s;
    if (absl::Now() > give_up) {
      return absl::DeadlineExceededError(absl::StrCat(
          "journal ", dir, " is locked by a writer that created no segment within ",
          absl::FormatDuration(kFirstSegmentWait), ": ", s.message()));
    }
    absl::SleepFor(absl::Milliseconds(5));
  }
  applied_lsn_.store(image_.replayed_lsn(), std::memory_order_release);
  CheckLeader();
  follow_thread_ = std::thread([this] { FollowLoop(); });
  if (options.take_over) lock_thread_ = std::thread([this] { LockLoop(); });
  return absl::OkStatus();
}

void Standby::Stop() {
  stop_.store(true, std::memory_order_relaxed);
  stop_following_.store(true, std::memory_order_relaxed);
  // The lock thread first: a takeover in progress joins the following
  // thread itself.
  if (lock_thread_.joinable()) lock_thread_.join();
  if (follow_thread_.joinable()) follow_thread_.join();
}

void Standby::FollowLoop() {
  while (!stop_following_.load(std::memory_order_relaxed)) {
    absl::StatusOr<uint64_t> n = image_.FollowSome(kFollowSlice, kFollowBatch);
    if (!n.ok()) {
      Fail(absl::Status(n.status().code(),
                        absl::StrCat("standby of ", dir_, ": ", n.status().message())));
      return;
    }
    if (*n > 0) Publish(image_.replayed_lsn());
    if (absl::Now() - last_leader_check_ >= kLeaderCheckPeriod) CheckLeader();
  }
}

void Standby::LockLoop() {
  while (!stop_.load(std::memory_order_relaxed)) {
    absl::StatusOr<std::unique_ptr<WriterLock>> lock =
        WriterLock::Await(dir_, kLockSlice, options_.image.journal.file_mode);
    if (lock.ok()) {
      TakeOver(std::move(*lock));
      return;
    }
    if (lock.status().code() != absl::StatusCode::kDeadlineExceeded) {
      Fail(lock.status());
      return;
    }
    MutexLock l(&mu_);
    if (!error_.ok()) return;  // following failed: nothing to take over with
  }
}

void Standby::TakeOver(std::unique_ptr<WriterLock> lock) {
  const auto start = std::chrono::steady_clock::now();
  JournalOptions journal_options = options_.image.journal;
  journal_options.record_epochs = true;
  // Recovery runs while the following thread still applies: both only read
  // what the old leader committed. The new writer's state page resets the
  // wake word, which wakes the following thread to see its stop flag.
  Promotion p;
  p.applied_lsn = applied_lsn();
  stop_following_.store(true, std::memory_order_relaxed);
  absl::StatusOr<std::unique_ptr<Journal>> journal =
      Journal::Open(dir_, journal_options, std::move(lock));
  p.recovery = absl::FromChrono(std::chrono::steady_clock::now() - start);
  if (follow_thread_.joinable()) follow_thread_.join();
  if (!journal.ok()) {
    Fail(absl::Status(journal.status().code(),
                      absl::StrCat("standby of ", dir_, ": taking over: ",
                                   journal.status().message())));
    return;
  }
  if (absl::Status s = image_.Promote(std::move(*journal)); !s.ok()) {
    Fail(absl::Status(s.code(), absl::StrCat("standby of ", dir_, ": taking over: ",
                                             s.message())));
    return;
  }
  p.takeover = absl::FromChrono(std::chrono::steady_clock::now() - start);
  Promoted(p);
}

void Standby::Promoted(Promotion p) {
  p.epoch = image_.journal()->epoch();
  p.last_lsn = image_.journal()->last_lsn();
  applied_lsn_.store(image_.replayed_lsn(), std::memory_order_release);
  // The application's resumption first: AwaitPromoted returns after it.
  if (options_.on_promoted) options_.on_promoted(p);
  MutexLock l(&mu_);
  promotion_ = p;
  leader_stale_ = false;
  promoted_.store(true, std::memory_order_release);
  cv_.SignalAll();
}

void Standby::Fail(absl::Status s) {
  MutexLock l(&mu_);
  if (error_.ok()) error_ = std::move(s);
  stop_following_.store(true, std::memory_order_relaxed);
  cv_.SignalAll();
}

void Standby::Publish(uint64_t applied) {
  applied_lsn_.store(applied, std::memory_order_release);
  MutexLock l(&mu_);
  cv_.SignalAll();
}

void Standby::CheckLeader() {
  last_leader_check_ = absl::Now();
  absl::StatusOr<WriterState> ws = image_.FollowedWriterState();
  if (!ws.ok()) return;  // no usable page: nothing to report on
  // Stale: the page has not beaten for stale_after, and its writer is
  // alive (a dead one's lock is free, and the lock thread takes over).
  const bool stale = ws->present && !ws->closed && ws->heartbeat_age > options_.stale_after &&
                     (kill(static_cast<pid_t>(ws->pid), 0) == 0 || errno == EPERM);
  bool report = false;
  {
    MutexLock l(&mu_);
    report = stale && !leader_stale_;
    leader_ = *ws;
    leader_stale_ = stale;
  }
  if (report && options_.on_stale_leader) options_.on_stale_leader(*ws);
}

Standby::State Standby::state() const {
  State s;
  s.promoted = promoted();
  s.applied_lsn = applied_lsn();
  MutexLock l(&mu_);
  s.leader = leader_;
  s.leader_stale = leader_stale_;
  s.error = error_;
  s.promotion = promotion_;
  return s;
}

absl::Status Standby::AwaitApplied(uint64_t lsn, absl::Duration timeout) const {
  const absl::Time deadline = absl::Now() + timeout;
  MutexLock l(&mu_);
  for (;;) {
    if (applied_lsn() >= lsn) return absl::OkStatus();
    if (!error_.ok()) return error_;
    if (cv_.WaitWithDeadline(&mu_, deadline) && applied_lsn() < lsn) {
      return absl::DeadlineExceededError(
          absl::StrFormat("standby of %s: applied LSN %u, not %u, after %s", dir_,
                          applied_lsn(), lsn, absl::FormatDuration(timeout)));
    }
  }
}

absl::Status Standby::AwaitPromoted(absl::Duration timeout) const {
  const absl::Time deadline = absl::Now() + timeout;
  MutexLock l(&mu_);
  for (;;) {
    if (promoted()) return absl::OkStatus();
    if (!error_.ok()) return error_;
    if (cv_.WaitWithDeadline(&mu_, deadline) && !promoted()) {
      return absl::DeadlineExceededError(absl::StrCat(
          "standby of ", dir_, ": not the writer after ", absl::FormatDuration(timeout)));
    }
  }
}

}  // namespace engram
