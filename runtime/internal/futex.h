#ifndef ENGRAM_RUNTIME_INTERNAL_FUTEX_H_
#define ENGRAM_RUNTIME_INTERNAL_FUTEX_H_

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>

namespace engram::internal {

// Thin wrappers over the Linux futex syscall on a 32-bit atomic word
// (process-private). Spurious wake-ups are possible: callers loop on their
// condition.
inline void FutexWait(std::atomic<uint32_t>* word, uint32_t expected) noexcept {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAIT_PRIVATE,
          expected, nullptr, nullptr, 0);
}

inline void FutexWake(std::atomic<uint32_t>* word, int count) noexcept {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAKE_PRIVATE,
          count, nullptr, nullptr, 0);
}

// A pause instruction for spin loops.
inline void CpuRelax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

}  // namespace engram::internal

#endif  // ENGRAM_RUNTIME_INTERNAL_FUTEX_H_
