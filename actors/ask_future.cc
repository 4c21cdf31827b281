#include "engram/actors/ask_future.h"

namespace engram::internal {

bool AskState::Complete(std::unique_ptr<Envelope> value, absl::Status status) {
  TimerService* timers;
  TimerId timer;
  {
    MutexLock lock(&mu_);
    if (done_) return false;
    done_ = true;
    value_ = std::move(value);
    status_ = std::move(status);
    cv_.SignalAll();
    timers = timers_;
    timer = timer_;
  }
  if (timers != nullptr && timer != 0) timers->Cancel(timer);
  return true;
}

void AskState::set_timer(TimerService* timers, TimerId id) {
  {
    MutexLock lock(&mu_);
    if (!done_) {
      timers_ = timers;
      timer_ = id;
      return;
    }
  }
  timers->Cancel(id);  // completed before the timer was recorded
}

bool AskState::ready() const {
  MutexLock lock(&mu_);
  return done_;
}

bool AskState::WaitFor(absl::Duration timeout) const {
  const absl::Time deadline = timeout == absl::InfiniteDuration()
                                  ? absl::InfiniteFuture()
                                  : absl::Now() + timeout;
  MutexLock lock(&mu_);
  while (!done_) {
    if (cv_.WaitWithDeadline(&mu_, deadline)) return done_;
  }
  return true;
}

std::pair<std::unique_ptr<Envelope>, absl::Status> AskState::Take() {
  MutexLock lock(&mu_);
  while (!done_) cv_.Wait(&mu_);
  return {std::move(value_), std::move(status_)};
}

}  // namespace engram::internal
