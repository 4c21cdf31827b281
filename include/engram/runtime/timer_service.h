#ifndef ENGRAM_RUNTIME_TIMER_SERVICE_H_
#define ENGRAM_RUNTIME_TIMER_SERVICE_H_

#include <cstdint>

#include "absl/functional/any_invocable.h"
#include "absl/time/time.h"
#include "engram/runtime/clock.h"

namespace engram {

// Identifies a scheduled timer; 0 is never a valid id.
using TimerId = uint64_t;

// Runs callbacks after a delay, once or periodically, and lets them be
// cancelled. Callbacks run on the service's own thread (TimerThread) or on
// the thread that advances fake time (DeterministicScheduler); they must be
// short: a callback typically sends a message.
//
// Thread-safety: all methods may be called from any thread, including from
// inside a callback.
class TimerService {
 public:
  virtual ~TimerService() = default;

  // Runs `fn` once after `delay` (period == zero) or every `period` starting
  // after `delay`. Returns an id for Cancel().
  virtual TimerId Schedule(absl::Duration delay, absl::Duration period,
                           absl::AnyInvocable<void()> fn) = 0;

  // Cancels a timer. Returns true if it was pending (for a one-shot timer:
  // it will not run; for a periodic one: it will not run again). A callback
  // that is already running is not interrupted.
  virtual bool Cancel(TimerId id) = 0;

  // The clock the delays are measured on.
  virtual const Clock& clock() const = 0;
};

}  // namespace engram

#endif  // ENGRAM_RUNTIME_TIMER_SERVICE_H_
