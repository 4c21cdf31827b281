#include "runtime/internal/timer_thread.h"

#include <utility>

namespace engram {

TimerThread::TimerThread() : thread_([this] { Loop(); }) {}

TimerThread::~TimerThread() { Shutdown(); }

void TimerThread::Shutdown() {
  {
    MutexLock lock(&mu_);
    stop_ = true;
    cv_.Signal();
  }
  if (thread_.joinable()) thread_.join();
}

TimerId TimerThread::Schedule(absl::Duration delay, absl::Duration period,
                              absl::AnyInvocable<void()> fn) {
  MutexLock lock(&mu_);
  const absl::Time deadline = absl::Now() + delay;
  // Wake the loop if this timer is due before the one it sleeps for.
  if (deadline < queue_.NextDeadline()) cv_.Signal();
  return queue_.Add(deadline, period, std::move(fn));
}

bool TimerThread::Cancel(TimerId id) {
  MutexLock lock(&mu_);
  return queue_.Cancel(id);
}

void TimerThread::Loop() {
  mu_.Lock();
  while (!stop_) {
    // Sleep until the earliest deadline, a new earlier timer, or shutdown
    // (both signal cv_); spurious wake-ups just go round again.
    const absl::Time deadline = queue_.NextDeadline();
    if (absl::Now() < deadline) {
      cv_.WaitWithDeadline(&mu_, deadline);
      continue;
    }
    auto due = queue_.TakeDue(absl::Now());
    if (due.empty()) continue;
    mu_.Unlock();
    for (auto& fn : due) (*fn)();
    due.clear();  // destroy captured state outside the lock, too
    mu_.Lock();
  }
  mu_.Unlock();
}

}  // namespace engram
