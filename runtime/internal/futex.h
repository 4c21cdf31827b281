#ifndef ENGRAM_RUNTIME_INTERNAL_FUTEX_H_
#define ENGRAM_RUNTIME_INTERNAL_FUTEX_H_

// The one timed wait on an atomic word. Untimed waits use the library's wait
// strategy, internal::SpinThenPark (base/spin_wait.h), which builds on
// std::atomic::wait; that has no deadline, so a wait that must give up after
// a timeout (a sender blocked on a full bounded mailbox) sleeps here, on the
// Linux futex of the same word.
//
// Thread-safety: any number of threads may wait on and wake one word.

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <ctime>

namespace engram::internal {

// Sleeps while `*word == expected`, at most `timeout` (relative; nullptr: no
// limit). Spurious wake-ups are possible: callers loop on their condition.
inline void FutexWait(std::atomic<uint32_t>* word, uint32_t expected,
                      const timespec* timeout = nullptr) noexcept {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAIT_PRIVATE,
          expected, timeout, nullptr, 0);
}

// Wakes up to `count` threads sleeping in FutexWait() on `word`.
inline void FutexWake(std::atomic<uint32_t>* word, int count) noexcept {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAKE_PRIVATE,
          count, nullptr, nullptr, 0);
}

}  // namespace engram::internal

#endif  // ENGRAM_RUNTIME_INTERNAL_FUTEX_H_
