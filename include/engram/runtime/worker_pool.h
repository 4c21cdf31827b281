#ifndef ENGRAM_RUNTIME_WORKER_POOL_H_
#define ENGRAM_RUNTIME_WORKER_POOL_H_

#include <cstdint>

#include "engram/runtime/executor.h"

namespace engram {

// What users may see of the thread pool that runs an ActorSystem's actors
// (ActorSystem::scheduler()): its size, its per-turn budget and its
// counters. The pool itself (the work-stealing Scheduler) is an
// implementation detail of the runtime.
//
// Thread-safety: every method from any thread. Ownership: the ActorSystem
// owns its pool; callers only borrow the pointer.
class WorkerPool : public Executor {
 public:
  // Counters for tests and benchmarks; approximate while running.
  struct Stats {
    uint64_t turns = 0;
    uint64_t steals = 0;
    uint64_t parks = 0;
    uint64_t wakes = 0;
  };

  // Worker threads.
  virtual int threads() const = 0;
  // Messages an actor may process in one turn before it yields.
  virtual int budget() const = 0;
  virtual Stats stats() const = 0;
};

}  // namespace engram

#endif  // ENGRAM_RUNTIME_WORKER_POOL_H_
