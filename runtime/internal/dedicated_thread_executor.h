#ifndef ENGRAM_RUNTIME_INTERNAL_DEDICATED_THREAD_EXECUTOR_H_
#define ENGRAM_RUNTIME_INTERNAL_DEDICATED_THREAD_EXECUTOR_H_

#include <atomic>
#include <cstdint>
#include <thread>

#include "engram/runtime/executor.h"

namespace engram {

// An executor with one thread of its own that runs exactly one Schedulable:
// for actors that block (file or network I/O, a blocking library call), so
// that they never hold up the work-stealing pool.
//
// The thread parks (internal::SpinThenPark) while its unit is idle. It exits when the
// unit reports kStopped or when Shutdown() is called.
//
// Thread-safety: Schedule() from any thread; Shutdown() from one thread
// that is not the executor's own (the destructor calls it).
class DedicatedThreadExecutor final : public Executor {
 public:
  explicit DedicatedThreadExecutor(int budget = 256);
  ~DedicatedThreadExecutor() override;
  DedicatedThreadExecutor(const DedicatedThreadExecutor&) = delete;
  DedicatedThreadExecutor& operator=(const DedicatedThreadExecutor&) = delete;

  void Schedule(Schedulable* unit) noexcept override;
  void Shutdown();

  // True once the unit has stopped and the thread has left its loop.
  bool finished() const noexcept {
    return finished_.load(std::memory_order_acquire);
  }

 private:
  void Loop();

  const int budget_;
  // Writer: Schedule() (release, then futex wake); cleared by the thread
  // (acquire exchange) when it takes the unit.
  std::atomic<Schedulable*> unit_{nullptr};
  // The word the thread parks on: bumped (seq_cst RMW, then notify_one) by
  // Schedule() and Shutdown() after writing unit_ or stop_, so the sleeper
  // cannot miss them; read by the thread with acquire.
  std::atomic<uint32_t> signal_{0};
  std::atomic<bool> stop_{false};
  std::atomic<bool> finished_{false};
  std::thread thread_;
};

}  // namespace engram

#endif  // ENGRAM_RUNTIME_INTERNAL_DEDICATED_THREAD_EXECUTOR_H_
