#ifndef ENGRAM_RUNTIME_INTERNAL_SCHEDULER_H_
#define ENGRAM_RUNTIME_INTERNAL_SCHEDULER_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "concurrentqueue/concurrentqueue.h"
#include "engram/base/internal/mutex.h"
#include "engram/runtime/executor.h"
#include "engram/runtime/scheduler_options.h"
#include "engram/runtime/worker_pool.h"
#include "runtime/internal/work_stealing_deque.h"

namespace engram {

// The work-stealing scheduler: a fixed pool of worker threads that run
// Schedulables in turns.
//
// Where work goes:
//  - A unit made runnable by a thread of this pool goes to that worker's
//    hand-off slot, which the worker runs next; the unit it displaces moves
//    to the worker's deque, where idle workers can steal it. So a ping-pong
//    pair stays on one core (a cache line between the two cores here costs
//    about 410 ns round trip) while independent work spreads out.
//  - A unit made runnable from outside the pool goes to the global
//    injection queue (moodycamel ConcurrentQueue: many producers, order
//    across producers does not matter).
//  - A unit that used up its budget with work left goes to the global queue,
//    behind everything already waiting (fairness).
// A worker looks for work in this order: every 61st time the global queue
// first (so it cannot starve), then the hand-off slot (at most
// `max_handoff_chain` times in a row), its own deque (bottom, LIFO), the
// global queue, then steals from the top of the other workers' deques.
//
// Idle workers spin briefly (looking for work), then park on their wake word
// through the library's one wait strategy (base/spin_wait.h). Waking is targeted: new
// stealable work wakes exactly one parked worker, and only when no worker is
// already searching. The Dekker pair that prevents lost wake-ups is: a
// producer publishes work, issues a seq_cst fence, reads `parked_` (and
// `searching_`); a parking worker bumps `parked_` (seq_cst RMW), issues a
// seq_cst fence, then re-checks every queue before it sleeps. Both fences
// are needed; docs/ARCHITECTURE.md ("Parking and waking") has the argument.
//
// Private to the library: users see it as a WorkerPool
// (ActorSystem::scheduler()) and shape it with SchedulerOptions.
//
// Thread-safety: Schedule() from any thread. Shutdown() once, from a thread
// outside the pool (the destructor calls it).
class Scheduler final : public WorkerPool {
 public:
  using Options = SchedulerOptions;
  using Stats = WorkerPool::Stats;

  explicit Scheduler(Options options);
  Scheduler() : Scheduler(Options{}) {}
  ~Scheduler() override;
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  void Schedule(Schedulable* unit) noexcept override;

  // Stops and joins the workers. Units still queued are not run; their
  // owner (the ActorSystem) releases them.
  void Shutdown();

  int threads() const override { return static_cast<int>(workers_.size()); }
  int budget() const override { return options_.budget; }
  Stats stats() const override;

  // Index of the calling thread's worker in the pool it belongs to, or -1
  // on a thread that is not a worker of any Scheduler.
  static int CurrentWorkerIndex() noexcept;

 // Per-thread state of one worker; opaque outside scheduler.cc.
  struct Worker;

 private:

  void WorkerLoop(Worker& w);
  Schedulable* FindWork(Worker& w) noexcept;
  Schedulable* FindOtherWork(Worker& w) noexcept;
  Schedulable* StealFromOthers(Worker& w) noexcept;
  bool AnyQueuedWork() const noexcept;
  // Wakes one parked worker if there is one and nobody is searching.
  void NotifyWork() noexcept;
  void WakeOne() noexcept;
  // Parks `w` until woken or shut down. Returns work found by the final
  // re-check, or nullptr after a wake-up.
  Schedulable* Park(Worker& w);

  const Options options_;
  std::vector<std::unique_ptr<Worker>> workers_;
  moodycamel::ConcurrentQueue<Schedulable*> global_;

  // Writers: workers entering/leaving the search, WakeOne() on behalf of the
  // worker it wakes. seq_cst: part of the Dekker pair described above.
  alignas(64) std::atomic<int> searching_{0};
  // Writers: Park() and WakeOne() under park_mu_, Shutdown(); read
  // lock-free by NotifyWork(). seq_cst RMWs, each followed (Park) or preceded
  // (NotifyWork) by a seq_cst fence: the Dekker pair described above.
  alignas(64) std::atomic<int> parked_{0};
  // Writer: Shutdown(). Read by workers each round; release/acquire.
  std::atomic<bool> stopping_{false};

  Mutex park_mu_;
  std::vector<Worker*> parked_list_ ABSL_GUARDED_BY(park_mu_);
};

}  // namespace engram

#endif  // ENGRAM_RUNTIME_INTERNAL_SCHEDULER_H_
