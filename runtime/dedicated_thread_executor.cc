#include "engram/runtime/internal/dedicated_thread_executor.h"

#include "runtime/internal/futex.h"

namespace engram {

DedicatedThreadExecutor::DedicatedThreadExecutor(int budget)
    : budget_(budget < 1 ? 1 : budget), thread_([this] { Loop(); }) {}

DedicatedThreadExecutor::~DedicatedThreadExecutor() { Shutdown(); }

void DedicatedThreadExecutor::Schedule(Schedulable* unit) noexcept {
  unit_.store(unit, std::memory_order_release);
  signal_.fetch_add(1, std::memory_order_release);
  internal::FutexWake(&signal_, 1);
}

void DedicatedThreadExecutor::Shutdown() {
  stop_.store(true, std::memory_order_release);
  signal_.fetch_add(1, std::memory_order_release);
  internal::FutexWake(&signal_, 1);
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
      internal::FutexWait(&signal_, seen);
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
