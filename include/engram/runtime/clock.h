#ifndef ENGRAM_RUNTIME_CLOCK_H_
#define ENGRAM_RUNTIME_CLOCK_H_

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace engram {

// The source of "now" for timers and actors. Production code uses
// RealClock; tests use the DeterministicScheduler's fake time, which only
// moves when the test advances it.
//
// Thread-safety: Now() may be called from any thread.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() const noexcept = 0;
};

// Wall-clock time from absl::Now().
class RealClock final : public Clock {
 public:
  absl::Time Now() const noexcept override { return absl::Now(); }

  // A process-wide instance; never destroyed.
  static const RealClock& Instance() {
    static const RealClock* clock = new RealClock();
    return *clock;
  }
};

}  // namespace engram

#endif  // ENGRAM_RUNTIME_CLOCK_H_
