#include "actors/ask_future.h"

namespace engram::internal {

bool AskState::Complete(std::unique_ptr<Envelope> value, absl::Status status) {
  TimerService* timers;
  TimerId timer;
  {
    absl::MutexLock lock(&mu_);
    if (done_) return false;
    done_ = true;
    value_ = std::move(value);
    status_ = std::move(status);
    timers = timers_;
    timer = timer_;
  }
  if (timers != nullptr && timer != 0) timers->Cancel(timer);
  return true;
}

void AskState::set_timer(TimerService* timers, TimerId id) {
  {
    absl::MutexLock lock(&mu_);
    if (!done_) {
      timers_ = timers;
      timer_ = id;
      return;
    }
  }
  timers->Cancel(id);  // completed before the timer was recorded
}

bool AskState::ready() const {
  absl::MutexLock lock(&mu_);
  return done_;
}

bool AskState::WaitFor(absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  return mu_.AwaitWithTimeout(absl::Condition(&done_), timeout);
}

std::pair<std::unique_ptr<Envelope>, absl::Status> AskState::Take() {
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(&done_));
  return {std::move(value_), std::move(status_)};
}

}  // namespace engram::internal
