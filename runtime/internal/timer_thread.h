#ifndef ENGRAM_RUNTIME_INTERNAL_TIMER_THREAD_H_
#define ENGRAM_RUNTIME_INTERNAL_TIMER_THREAD_H_

#include <thread>

#include "absl/base/thread_annotations.h"
#include "engram/base/internal/mutex.h"
#include "engram/runtime/internal/timer_queue.h"
#include "engram/runtime/timer_service.h"

namespace engram {

// A TimerService on wall-clock time with one background thread that sleeps
// until the earliest deadline. Callbacks run on that thread, one at a time.
//
// Thread-safety: every method may be called from any thread. The destructor
// stops the thread; pending timers never run.
class TimerThread final : public TimerService {
 public:
  TimerThread();
  ~TimerThread() override;
  TimerThread(const TimerThread&) = delete;
  TimerThread& operator=(const TimerThread&) = delete;

  TimerId Schedule(absl::Duration delay, absl::Duration period,
                   absl::AnyInvocable<void()> fn) override;
  bool Cancel(TimerId id) override;
  const Clock& clock() const override { return RealClock::Instance(); }

  // Stops the thread; later Schedule() calls are accepted but never run.
  void Shutdown();

 private:
  void Loop();

  Mutex mu_;
  CondVar cv_;  // signalled on a new earliest deadline and on shutdown
  internal::TimerQueue queue_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace engram

#endif  // ENGRAM_RUNTIME_INTERNAL_TIMER_THREAD_H_
