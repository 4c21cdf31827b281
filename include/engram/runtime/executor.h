#ifndef ENGRAM_RUNTIME_EXECUTOR_H_
#define ENGRAM_RUNTIME_EXECUTOR_H_

#include "engram/runtime/schedulable.h"

namespace engram {

// Something that runs Schedulables: the work-stealing Scheduler, a
// DedicatedThreadExecutor (one unit on its own thread, for blocking work) or
// the single-threaded DeterministicScheduler used by tests.
//
// Thread-safety: Schedule() may be called from any thread.
class Executor {
 public:
  virtual ~Executor() = default;

  // Makes `unit` runnable. After Shutdown() this is a no-op: the unit stays
  // where it is and its owner is responsible for it.
  virtual void Schedule(Schedulable* unit) noexcept = 0;
};

}  // namespace engram

#endif  // ENGRAM_RUNTIME_EXECUTOR_H_
