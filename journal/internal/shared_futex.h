// Futex calls on a word in a MAP_SHARED mapping, for waiters and wakers in
// different processes (runtime/internal/futex.h is FUTEX_PRIVATE_FLAG only,
// which keys the futex by the process's address space and so never wakes
// another process). The kernel keys a shared futex by the file's inode and
// the word's offset, so each process may map the page at any address.
//
// Thread-safety: any number of threads and processes may wait on and wake
// one word.
#ifndef ENGRAM_JOURNAL_INTERNAL_SHARED_FUTEX_H_
#define ENGRAM_JOURNAL_INTERNAL_SHARED_FUTEX_H_

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>
#include <ctime>

namespace engram::internal {

// Sleeps while `*word == expected`, at most `timeout` (relative, measured on
// CLOCK_MONOTONIC; nullptr: no limit). The kernel compares the word and
// queues the caller atomically with respect to SharedFutexWake, so a wake
// after a store that changed the word is never missed. Spurious wake-ups
// (EINTR, EAGAIN, timeouts) are possible: callers loop on their condition.
inline void SharedFutexWait(uint32_t* word, uint32_t expected,
                            const timespec* timeout) noexcept {
  syscall(SYS_futex, word, FUTEX_WAIT, expected, timeout, nullptr, 0);
}

// Wakes up to `count` threads (of any process) sleeping on `word`.
inline void SharedFutexWake(uint32_t* word, int count) noexcept {
  syscall(SYS_futex, word, FUTEX_WAKE, count, nullptr, nullptr, 0);
}

}  // namespace engram::internal

#endif  // ENGRAM_JOURNAL_INTERNAL_SHARED_FUTEX_H_
