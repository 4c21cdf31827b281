#include "runtime/timer_thread.h"

#include <utility>

namespace engram {

TimerThread::TimerThread() : thread_([this] { Loop(); }) {}

TimerThread::~TimerThread() { Shutdown(); }

void TimerThread::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

TimerId TimerThread::Schedule(absl::Duration delay, absl::Duration period,
                              absl::AnyInvocable<void()> fn) {
  absl::MutexLock lock(&mu_);
  // The loop re-reads the earliest deadline whenever mu_ is released, so a
  // timer earlier than the one it sleeps for wakes it (Await's condition).
  return queue_.Add(absl::Now() + delay, period, std::move(fn));
}

bool TimerThread::Cancel(TimerId id) {
  absl::MutexLock lock(&mu_);
  return queue_.Cancel(id);
}

void TimerThread::Loop() {
  absl::MutexLock lock(&mu_);
  while (!stop_) {
    const absl::Time deadline = queue_.NextDeadline();
    // Sleep until the deadline, a new earlier timer, or shutdown. The
    // condition is re-evaluated each time mu_ is released by a writer.
    auto wake = [this, deadline]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return stop_ || queue_.NextDeadline() < deadline;
    };
    mu_.AwaitWithDeadline(absl::Condition(&wake), deadline);
    if (stop_) break;
    auto due = queue_.TakeDue(absl::Now());
    if (due.empty()) continue;
    mu_.Unlock();
    for (auto& fn : due) (*fn)();
    due.clear();  // destroy captured state outside the lock, too
    mu_.Lock();
  }
}

}  // namespace engram
