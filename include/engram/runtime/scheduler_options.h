#ifndef ENGRAM_RUNTIME_SCHEDULER_OPTIONS_H_
#define ENGRAM_RUNTIME_SCHEDULER_OPTIONS_H_

namespace engram {

// How an ActorSystem's work-stealing worker pool is shaped. Plain data,
// copied into the pool when it starts.
struct SchedulerOptions {
  // Worker threads; 0 means std::thread::hardware_concurrency().
  int threads = 0;
  // Messages an actor may process in one turn before it yields.
  int budget = 256;
  // Hand-offs run in a row before the worker looks at its deque.
  int max_handoff_chain = 64;
  // Rounds of looking for work before a worker parks.
  int spin_rounds = 64;
};

}  // namespace engram

#endif  // ENGRAM_RUNTIME_SCHEDULER_OPTIONS_H_
