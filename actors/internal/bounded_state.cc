#include "actors/internal/bounded_state.h"

#include <climits>
#include <ctime>

#include "absl/time/clock.h"
#include "runtime/internal/futex.h"

namespace engram::internal {

bool BoundedState::TryTake() noexcept {
  uint32_t s = size_.load(std::memory_order_seq_cst);
  while (s < capacity_) {
    if (size_.compare_exchange_weak(s, s + 1, std::memory_order_seq_cst)) {
      return true;
    }
  }
  return false;
}

SendResult BoundedState::Admit() noexcept {
  if (TryTake()) return SendResult::kDelivered;
  switch (policy_) {
    case OverflowPolicy::kDropNewest: return SendResult::kDropped;
    case OverflowPolicy::kFail: return SendResult::kRejected;
    case OverflowPolicy::kBlock: break;
  }
  const absl::Time deadline = block_timeout_ == absl::InfiniteDuration()
                                  ? absl::InfiniteFuture()
                                  : absl::Now() + block_timeout_;
  waiters_.fetch_add(1, std::memory_order_seq_cst);
  SendResult result = SendResult::kTimedOut;
  for (;;) {
    if (TryTake()) {
      result = SendResult::kDelivered;
      break;
    }
    const uint32_t seen = size_.load(std::memory_order_seq_cst);
    if (seen < capacity_) continue;
    const absl::Time now = absl::Now();
    if (now >= deadline) break;
    timespec ts;
    timespec* tsp = nullptr;
    if (deadline != absl::InfiniteFuture()) {
      ts = absl::ToTimespec(deadline - now);
      tsp = &ts;
    }
    // A timed sleep: SpinThenPark (std::atomic::wait) has no deadline.
    FutexWait(&size_, seen, tsp);
  }
  waiters_.fetch_sub(1, std::memory_order_seq_cst);
  return result;
}

void BoundedState::Release() noexcept {
  size_.fetch_sub(1, std::memory_order_seq_cst);
  if (waiters_.load(std::memory_order_seq_cst) > 0) {
    FutexWake(&size_, INT_MAX);
  }
}

}  // namespace engram::internal
