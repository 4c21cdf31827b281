#ifndef ENGRAM_ACTORS_INTERNAL_DEAD_LETTER_OFFICE_H_
#define ENGRAM_ACTORS_INTERNAL_DEAD_LETTER_OFFICE_H_

#include <atomic>
#include <cstdint>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "engram/actors/dead_letter.h"
#include "engram/base/internal/mutex.h"

namespace engram::internal {

// Counts undelivered messages by outcome and hands each to an optional
// hook. Shared by an ActorSystem and all its actor cells, so that a send
// through an ActorRef that outlived its system is still counted somewhere
// instead of touching a destroyed system.
//
// Ownership: intrusively reference counted; the system and every cell hold
// one reference. Thread-safety: all methods from any thread.
class DeadLetterOffice {
 public:
  void Ref() noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }
  void Unref() noexcept {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

  void Record(DeadLetter letter);

  void SetHook(absl::AnyInvocable<void(const DeadLetter&)> hook);

  uint64_t dead_letters() const { return dead_letters_.load(std::memory_order_relaxed); }
  uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }
  uint64_t rejected() const { return rejected_.load(std::memory_order_relaxed); }

 private:
  // Writers: every Ref()/Unref() (see ActorCell::Unref for the orders).
  std::atomic<int32_t> refs_{1};
  // Counters; relaxed: they order nothing.
  std::atomic<uint64_t> dead_letters_{0};
  std::atomic<uint64_t> dropped_{0};
  std::atomic<uint64_t> rejected_{0};
  // Writer: SetHook() (release); lets the no-hook path skip the lock.
  std::atomic<bool> has_hook_{false};
  Mutex mu_;
  absl::AnyInvocable<void(const DeadLetter&)> hook_ ABSL_GUARDED_BY(mu_);
};

}  // namespace engram::internal

#endif  // ENGRAM_ACTORS_INTERNAL_DEAD_LETTER_OFFICE_H_
