#ifndef ENGRAM_ACTORS_ASK_FUTURE_H_
#define ENGRAM_ACTORS_ASK_FUTURE_H_

#include <memory>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engram/base/internal/mutex.h"
#include "absl/time/time.h"
#include "engram/actors/envelope.h"
#include "engram/runtime/timer_service.h"

namespace engram {

namespace internal {

// The shared state of one ask from outside the actor world: completed
// exactly once, by the reply, an error, or the timeout timer, whichever
// comes first; the others find it done and are ignored.
//
// Thread-safety: all methods from any thread.
class AskState {
 public:
  // Returns false if it was already complete (the result is dropped).
  bool Complete(std::unique_ptr<Envelope> value, absl::Status status);
  bool ready() const;
  // Waits until complete or `timeout` passed; true if complete.
  bool WaitFor(absl::Duration timeout) const;
  // Waits until complete, then hands out the result (once).
  std::pair<std::unique_ptr<Envelope>, absl::Status> Take();

  void set_timer(TimerService* timers, TimerId id);

 private:
  mutable Mutex mu_;
  mutable CondVar cv_;  // signalled on completion
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  std::unique_ptr<Envelope> value_ ABSL_GUARDED_BY(mu_);
  absl::Status status_ ABSL_GUARDED_BY(mu_);
  TimerService* timers_ ABSL_GUARDED_BY(mu_) = nullptr;
  TimerId timer_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace internal

// The pending answer to ActorSystem::AskAsync(): a reply of type R or an
// error (the receiver's, DEADLINE_EXCEEDED, UNAVAILABLE). Under the
// DeterministicScheduler, run the scheduler (and advance time) before
// reading it; Get() would otherwise wait forever.
//
// Thread-safety: one thread calls Get(); ready() from any.
template <class R>
class AskFuture {
 public:
  explicit AskFuture(std::shared_ptr<internal::AskState> state)
      : state_(std::move(state)) {}

  bool ready() const { return state_->ready(); }
  bool WaitFor(absl::Duration timeout) const { return state_->WaitFor(timeout); }

  // Waits for the outcome and returns it; call once.
  absl::StatusOr<R> Get() {
    auto [value, status] = state_->Take();
    if (!status.ok()) return status;
    return std::move(PayloadOf<R>(*value));
  }

 private:
  std::shared_ptr<internal::AskState> state_;
};

}  // namespace engram

#endif  // ENGRAM_ACTORS_ASK_FUTURE_H_
