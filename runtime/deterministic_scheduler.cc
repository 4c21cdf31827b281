#include "engram/runtime/deterministic_scheduler.h"

#include <algorithm>
#include <utility>

namespace engram {

DeterministicScheduler::DeterministicScheduler(absl::Time start) : now_(start) {}

void DeterministicScheduler::Schedule(Schedulable* unit) noexcept {
  MutexLock lock(&mu_);
  runnable_.push_back(unit);
}

bool DeterministicScheduler::RunOne() {
  Schedulable* unit;
  {
    MutexLock lock(&mu_);
    if (runnable_.empty()) return false;
    unit = runnable_.front();
    runnable_.pop_front();
  }
  if (unit->RunTurn(1) == TurnResult::kYield) {
    MutexLock lock(&mu_);
    runnable_.push_back(unit);
  }
  return true;
}

size_t DeterministicScheduler::RunUntilIdle(size_t limit) {
  size_t turns = 0;
  while (turns < limit && RunOne()) ++turns;
  return turns;
}

size_t DeterministicScheduler::Advance(absl::Duration d) {
  absl::Time target;
  {
    MutexLock lock(&mu_);
    target = now_ + d;
  }
  size_t fired = 0;
  for (;;) {
    internal::TimerQueue::Callback fn;
    {
      MutexLock lock(&mu_);
      const absl::Time next = timers_.NextDeadline();
      if (next > target) break;
      now_ = std::max(now_, next);
      // One timer at a time, so that a callback that schedules or cancels a
      // timer due at the same instant is honoured.
      fn = std::move(timers_.TakeDue(next, 1).front());
    }
    (*fn)();
    ++fired;
    RunUntilIdle();
  }
  MutexLock lock(&mu_);
  now_ = std::max(now_, target);
  return fired;
}

size_t DeterministicScheduler::runnable() const {
  MutexLock lock(&mu_);
  return runnable_.size();
}

size_t DeterministicScheduler::pending_timers() const {
  MutexLock lock(&mu_);
  return timers_.size();
}

TimerId DeterministicScheduler::Schedule(absl::Duration delay,
                                         absl::Duration period,
                                         absl::AnyInvocable<void()> fn) {
  MutexLock lock(&mu_);
  return timers_.Add(now_ + delay, period, std::move(fn));
}

bool DeterministicScheduler::Cancel(TimerId id) {
  MutexLock lock(&mu_);
  return timers_.Cancel(id);
}

absl::Time DeterministicScheduler::Now() const noexcept {
  MutexLock lock(&mu_);
  return now_;
}

}  // namespace engram
