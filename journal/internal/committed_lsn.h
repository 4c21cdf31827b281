// The journal's committed-LSN word (Journal::committed_lsn_): every LSN <= its
// LSN bits is published. Appenders store it in LSN order; Close sets
// kCommittedClosedBit (fetch_or), so that threads parked on the word
// (Journal::WaitPublished) wake: a parked thread only wakes when the word's
// value changes. A bounded waiter's deadline flips kCommittedNudgeBit
// (fetch_xor, from the DeadlineWaker thread) for the same reason. Appenders
// carry both bits over; everyone else reads the LSN through CommittedLsn.
//
// Thread-safety: a constant and a function over an atomic.
#ifndef ENGRAM_JOURNAL_INTERNAL_COMMITTED_LSN_H_
#define ENGRAM_JOURNAL_INTERNAL_COMMITTED_LSN_H_

#include <atomic>
#include <cstdint>

namespace engram::internal {

inline constexpr uint64_t kCommittedClosedBit = uint64_t{1} << 63;
inline constexpr uint64_t kCommittedNudgeBit = uint64_t{1} << 62;
inline constexpr uint64_t kCommittedFlagBits = kCommittedClosedBit | kCommittedNudgeBit;
inline constexpr uint64_t kCommittedLsnMask = kCommittedNudgeBit - 1;

// The DeadlineWaker's nudge for a bounded wait on the committed word.
inline void NudgeCommittedLsn(void* word) {
  auto* w = static_cast<std::atomic<uint64_t>*>(word);
  w->fetch_xor(kCommittedNudgeBit, std::memory_order_relaxed);
  w->notify_all();
}

// The published LSN (acquire).
inline uint64_t CommittedLsn(const std::atomic<uint64_t>& word) noexcept {
  return word.load(std::memory_order_acquire) & kCommittedLsnMask;
}

}  // namespace engram::internal

#endif  // ENGRAM_JOURNAL_INTERNAL_COMMITTED_LSN_H_
