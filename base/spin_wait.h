#ifndef ENGRAM_BASE_SPIN_WAIT_H_
#define ENGRAM_BASE_SPIN_WAIT_H_

// The one wait strategy of engram: spin briefly, then yield, then park on
// the atomic word itself (std::atomic<T>::wait, a futex on Linux). Every
// blocking wait in the library that waits for a word to change uses it, so
// the trade-off between latency and burnt CPU is tuned in one place (as the
// Disruptor's WaitStrategy family is).
//
// Waiters call SpinThenPark(word, done); wakers store a new value and then
// call word.notify_all() (or notify_one when exactly one thread can wait).
// Parking never misses a wake-up: atomic::wait re-checks the word against
// the value the waiter last saw before sleeping, and a notify after the
// store wakes every thread that saw the old value.
//
// Thread-safety: stateless; any number of threads may wait on one word.

#include <sched.h>

#include <atomic>
#include <cstdint>
#include <optional>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace engram::internal {

// A pause instruction for spin loops (lets the sibling hyperthread run and
// saves power); a no-op where the architecture has none.
inline void CpuRelax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

// How long to stay on the CPU before parking. The defaults suit a waiter
// whose wake-up is usually a few hundred nanoseconds away (the other core is
// mid-memcpy); with more runnable threads than cores spinning only delays
// the thread being waited for, hence the yields and then the park.
struct SpinPolicy {
  int spins = 256;  // CpuRelax rounds
  int yields = 16;  // sched_yield rounds after the spins
};

// Returns the first value v of `word` (loaded with acquire) for which
// done(v) holds. Blocks the calling thread until then.
template <typename T, typename Done>
T SpinThenPark(const std::atomic<T>& word, Done done,
               SpinPolicy policy = {}) noexcept {
  T v = word.load(std::memory_order_acquire);
  for (int i = 0; !done(v); ++i) {
    if (i < policy.spins) {
      CpuRelax();
    } else if (i < policy.spins + policy.yields) {
      sched_yield();
    } else {
      word.wait(v, std::memory_order_acquire);
    }
    v = word.load(std::memory_order_acquire);
  }
  return v;
}

// Wake-ups at deadlines, for bounded waits. std::atomic::wait has no
// timeout and returns only once the word's value differs from the one the
// waiter saw, so a bounded waiter registers its deadline here and parks
// untimed; one process-wide thread (started on first use) calls the
// waiter's `nudge` at the deadline, which must change the word's value in
// a way its readers ignore (a spare bit) and notify it. Wakers of the word
// pay nothing for this.
//
// Thread-safety: both functions may be called from any thread. After
// Cancel(token) returns, the nudge of `token` is not running and will not
// run, so the word may be destroyed.
class DeadlineWaker {
 public:
  static uint64_t Arm(absl::Time deadline, void (*nudge)(void*), void* word);
  static void Cancel(uint64_t token);
};

// Like SpinThenPark, but gives up at `deadline`: returns the value that
// satisfied `done`, or nullopt once the deadline has passed. `nudge`
// changes the word without changing what `done` sees (see DeadlineWaker).
template <typename T, typename Done>
std::optional<T> SpinThenParkUntil(std::atomic<T>& word, Done done, absl::Time deadline,
                                   void (*nudge)(void*), SpinPolicy policy = {}) {
  std::optional<T> result;
  uint64_t token = 0;
  T v = word.load(std::memory_order_acquire);
  for (int i = 0;; ++i) {
    if (done(v)) {
      result = v;
      break;
    }
    if (i < policy.spins) {
      CpuRelax();
    } else if (i < policy.spins + policy.yields) {
      sched_yield();
    } else if (absl::Now() >= deadline) {
      break;
    } else if (token == 0) {
      // Armed before parking; the nudge may come before the wait below,
      // which then returns at once because the value changed.
      token = DeadlineWaker::Arm(deadline, nudge, &word);
    } else {
      word.wait(v, std::memory_order_acquire);
    }
    v = word.load(std::memory_order_acquire);
  }
  if (token != 0) DeadlineWaker::Cancel(token);
  return result;
}

}  // namespace engram::internal

#endif  // ENGRAM_BASE_SPIN_WAIT_H_
