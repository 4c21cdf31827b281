#ifndef ENGRAM_RUNTIME_DETERMINISTIC_SCHEDULER_H_
#define ENGRAM_RUNTIME_DETERMINISTIC_SCHEDULER_H_

#include <cstddef>
#include <deque>

#include "absl/base/thread_annotations.h"
#include "engram/base/internal/mutex.h"
#include "engram/runtime/clock.h"
#include "engram/runtime/executor.h"
#include "engram/runtime/internal/timer_queue.h"
#include "engram/runtime/timer_service.h"

namespace engram {

// A single-threaded executor, clock and timer service for tests: nothing
// runs until the test asks, one message at a time, and time only moves when
// the test advances it. This lets a test script an interleaving exactly:
// "run B's next message, then fire the timer, then run A's".
//
// Runnable units are kept in FIFO order of becoming runnable; RunOne() gives
// the front unit a turn with a budget of one message, and a unit that still
// has work goes to the back.
//
// Thread-safety: Schedule(), the timer methods and Now() may be called from
// any thread (a test may send from its own thread); RunOne(), RunUntilIdle()
// and Advance() must be called by one thread at a time.
class DeterministicScheduler final : public Executor,
                                     public TimerService,
                                     public Clock {
 public:
  // Fake time starts at `start` (the Unix epoch by default).
  explicit DeterministicScheduler(absl::Time start = absl::UnixEpoch());
  ~DeterministicScheduler() override = default;

  // Executor.
  void Schedule(Schedulable* unit) noexcept override;

  // Runs one message of the front runnable unit. Returns false if nothing
  // was runnable.
  bool RunOne();

  // Runs messages until nothing is runnable (timers do not fire). Returns
  // the number of turns run. Stops after `limit` turns as a guard against a
  // test that loops forever.
  size_t RunUntilIdle(size_t limit = 10'000'000);

  // Moves fake time forward by `d`, firing due timers in deadline order,
  // each at its own deadline (Now() equals the deadline inside the
  // callback), and running until idle after each. Returns timers fired.
  size_t Advance(absl::Duration d);

  // Units waiting to run.
  size_t runnable() const;
  // Timers pending.
  size_t pending_timers() const;

  // TimerService.
  TimerId Schedule(absl::Duration delay, absl::Duration period,
                   absl::AnyInvocable<void()> fn) override;
  bool Cancel(TimerId id) override;
  const Clock& clock() const override { return *this; }

  // Clock.
  absl::Time Now() const noexcept override;

 private:
  mutable Mutex mu_;
  std::deque<Schedulable*> runnable_ ABSL_GUARDED_BY(mu_);
  internal::TimerQueue timers_ ABSL_GUARDED_BY(mu_);
  absl::Time now_ ABSL_GUARDED_BY(mu_);
};

}  // namespace engram

#endif  // ENGRAM_RUNTIME_DETERMINISTIC_SCHEDULER_H_
