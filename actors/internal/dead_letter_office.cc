#include "actors/internal/dead_letter_office.h"

#include <utility>

namespace engram::internal {

void DeadLetterOffice::Record(DeadLetter letter) {
  switch (letter.outcome) {
    case SendResult::kDropped:
      dropped_.fetch_add(1, std::memory_order_relaxed);
      break;
    case SendResult::kRejected:
    case SendResult::kTimedOut:
      rejected_.fetch_add(1, std::memory_order_relaxed);
      break;
    default:
      dead_letters_.fetch_add(1, std::memory_order_relaxed);
      break;
  }
  if (!has_hook_.load(std::memory_order_acquire)) return;
  MutexLock lock(&mu_);
  if (hook_) hook_(letter);
}

void DeadLetterOffice::SetHook(absl::AnyInvocable<void(const DeadLetter&)> hook) {
  MutexLock lock(&mu_);
  hook_ = std::move(hook);
  has_hook_.store(static_cast<bool>(hook_), std::memory_order_release);
}

}  // namespace engram::internal
