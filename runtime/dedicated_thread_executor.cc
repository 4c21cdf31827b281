#include "runtime/internal/dedicated_thread_executor.h"

#include "base/spin_wait.h"

namespace engram {

DedicatedThreadExecutor::DedicatedThreadExecutor(int budget)
    : budget_(budget < 1 ? 1 : budget), thread_([this] { Loop(); }) {}

DedicatedThreadExecutor::~DedicatedThreadExecutor() { Shutdown(); }

void DedicatedThreadExecutor::Schedule(Schedulable* unit) noexcept {
  unit_.store(unit, std::memory_order_release);
  // seq_cst RMW: ordered before notify_one()'s check for a sleeper (see the
  // header), so the thread either sees the new count or is woken.
  signal_.fetch_add(1, std::memory_order_seq_cst);
  signal_.notify_one();
}

void DedicatedThreadExecutor::Shutdown() {
  stop_.store(true, std::memory_order_release);
  signal_.fetch_add(1, std::memory_order_seq_cst);
  signal_.notify_one();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) {
    thread_.join();
  }
}

void DedicatedThreadExecutor::Loop() {
  for (;;) {
    const uint32_t seen = signal_.load(std::memory_order_acquire);
    if (stop_.load(std::memory_order_acquire)) break;
    Schedulable* unit = unit_.exchange(nullptr, std::memory_order_acquire);
    if (unit == nullptr) {
      // No spinning: a dedicated thread serves actors that block, and its
      // wake-up latency is small next to the work it is woken for.
      internal::SpinThenPark(
          signal_, [seen](uint32_t v) { return v != seen; },
          internal::SpinPolicy{.spins = 0, .yields = 0});
      continue;
    }
    TurnResult r;
    while ((r = unit->RunTurn(budget_)) == TurnResult::kYield) {
      if (stop_.load(std::memory_order_acquire)) break;
    }
    if (r == TurnResult::kStopped) break;
  }
  finished_.store(true, std::memory_order_release);
}

}  // namespace engram
