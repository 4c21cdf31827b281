// The journal's committed-LSN word (Journal::committed_lsn_): every LSN <= its
// LSN bits is published. Appenders store it in LSN order; Close sets
// kCommittedClosedBit (fetch_or), so that threads parked on the word
// (Journal::WaitPublished) wake: a parked thread only wakes when the word's
// value changes. Appenders carry the bit over when they see it; everyone
// else reads the LSN through CommittedLsn.
//
// Thread-safety: a constant and a function over an atomic.
#ifndef ENGRAM_JOURNAL_INTERNAL_COMMITTED_LSN_H_
#define ENGRAM_JOURNAL_INTERNAL_COMMITTED_LSN_H_

#include <atomic>
#include <cstdint>

namespace engram::internal {

inline constexpr uint64_t kCommittedClosedBit = uint64_t{1} << 63;
inline constexpr uint64_t kCommittedLsnMask = kCommittedClosedBit - 1;

// The published LSN (acquire).
inline uint64_t CommittedLsn(const std::atomic<uint64_t>& word) noexcept {
  return word.load(std::memory_order_acquire) & kCommittedLsnMask;
}

}  // namespace engram::internal

#endif  // ENGRAM_JOURNAL_INTERNAL_COMMITTED_LSN_H_
