// The journal's shared state page: the file <dir>/STATE, one 4 KiB page
// mapped MAP_SHARED by the writer and by every same-host follower. The
// writer publishes there what a follower cannot read from the segments:
// how far records are committed, durable and replicated, its epoch, its
// PID, a heartbeat and whether it closed; and it wakes followers through a
// futex word in the page instead of letting them sleep-poll.
//
// Layout (all little-endian, see journal/FORMAT.md "STATE"; offsets fixed):
//
//   line 0 (identity; written at CreateForWriter, SetEpoch, MarkClosed)
//     0   magic:u64 = "engramST"     8  version:u32 = 1   12 page_size:u32 = 4096
//     16  journal_id:u64             24 writer_pid:u32    28 closed:u32 (0/1)
//     32  epoch:u64
//   line 1 (the appender's: written on every publish)
//     64  committed_lsn:u64          72 sequence:u32 (the futex word: bit 0
//                                       "a follower sleeps", bits 1..31 a count)
//   line 2 (the followers': written around each wait)
//     128 waiters:u32 (diagnostics only)
//   line 3 (the flusher's, the replicator's and the heartbeat's)
//     192 durable_lsn:u64            200 replicated_lsn:u64
//     208 heartbeat_ns:u64 (CLOCK_MONOTONIC)
//   the rest of the page is zero (reserved).
//
// Waking. Every Publish* adds one to the count in `sequence` and clears
// its bit 0 in one CAS, and calls FUTEX_WAKE (shared futex: the kernel keys
// it by inode and offset, so it reaches other processes) only if bit 0 was
// set. A follower loads sequence() (the count), checks what it waits for,
// then calls WaitForChange(seen), which sets bit 0 and sleeps in
// FUTEX_WAIT. Without followers a publish costs a store and a CAS, no
// syscall; a follower that dies asleep costs one needless wake at most.
// The ordering argument is at Wake (journal_state_file.cc).
//
// Not durable: STATE is never synced; it describes the running writer.
// After a power cut it may be stale or torn; the next writer rewrites it.
//
// Thread-safety: writer side: PublishCommitted is called by one thread at a
// time in non-decreasing LSN order (the journal's publication window),
// PublishDurable / PublishReplicated each by one thread at a time; all
// Publish*, SetEpoch, Heartbeat and MarkClosed may run concurrently with
// each other. Follower side: every method may be called from any thread.
// Ownership: owns the descriptor, the mapping and the heartbeat thread.
#ifndef ENGRAM_JOURNAL_INTERNAL_JOURNAL_STATE_FILE_H_
#define ENGRAM_JOURNAL_INTERNAL_JOURNAL_STATE_FILE_H_

#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "engram/base/internal/mutex.h"

namespace engram::internal {

inline constexpr const char* kStateFileName = "STATE";
// "engramST" read as a little-endian u64.
inline constexpr uint64_t kStateMagic = 0x54536d6172676e65ULL;
inline constexpr uint32_t kStateVersion = 1;
inline constexpr size_t kStatePageSize = 4096;

// The page as laid out in the file. Fields are accessed only through
// std::atomic_ref (the page is shared with other processes), never as plain
// members; see the accessors of JournalStateFile for writer and order.
struct StatePage {
  // Line 0: identity.
  uint64_t magic;
  uint32_t version;
  uint32_t page_size;
  uint64_t journal_id;
  uint32_t writer_pid;
  uint32_t closed;
  uint64_t epoch;
  // Line 1: the appender's.
  alignas(64) uint64_t committed_lsn;
  uint32_t sequence;
  // Line 2: the followers'.
  alignas(64) uint32_t waiters;
  // Line 3: durable, replicated, heartbeat.
  alignas(64) uint64_t durable_lsn;
  uint64_t replicated_lsn;
  uint64_t heartbeat_ns;
  uint8_t reserved[kStatePageSize - 216];
};
static_assert(sizeof(StatePage) == kStatePageSize);
static_assert(offsetof(StatePage, journal_id) == 16);
static_assert(offsetof(StatePage, writer_pid) == 24);
static_assert(offsetof(StatePage, closed) == 28);
static_assert(offsetof(StatePage, epoch) == 32);
static_assert(offsetof(StatePage, committed_lsn) == 64);
static_assert(offsetof(StatePage, sequence) == 72);
static_assert(offsetof(StatePage, waiters) == 128);
static_assert(offsetof(StatePage, durable_lsn) == 192);
static_assert(offsetof(StatePage, replicated_lsn) == 200);
static_assert(offsetof(StatePage, heartbeat_ns) == 208);
static_assert(std::atomic_ref<uint64_t>::is_always_lock_free);
static_assert(std::atomic_ref<uint32_t>::is_always_lock_free);
static_assert(std::atomic_ref<uint64_t>::required_alignment <= alignof(uint64_t));
static_assert(std::atomic_ref<uint32_t>::required_alignment <= alignof(uint32_t));

// CLOCK_MONOTONIC in nanoseconds: one clock for every process of a host.
uint64_t MonotonicNanos() noexcept;

class JournalStateFile {
 public:
  // The writer's page: reuses <dir>/STATE in place if it is a valid page of
  // this layout (so followers that have it mapped keep seeing the writer),
  // otherwise creates a fresh one under a temporary name and renames it
  // over (followers never see a partial page). Resets every field but
  // `sequence` (bumped, so that waiters re-check) and `waiters` (counts
  // followers sleeping right now); writes journal_id, the PID, a heartbeat.
  // The caller holds the journal's LOCK, so there is one writer at a time.
  static absl::StatusOr<std::unique_ptr<JournalStateFile>> CreateForWriter(
      const std::string& dir, uint64_t journal_id, mode_t mode = 0600);
  // A follower's page. kNotFound if <dir>/STATE does not exist (a writer
  // that predates it); kDataLoss naming the file for a wrong size or magic,
  // kFailedPrecondition for an unknown version or page size. Mapped
  // read-write (see the .cc): followers write only bit 0 of the wake word and
  // the diagnostic `waiters`.
  static absl::StatusOr<std::unique_ptr<JournalStateFile>> OpenForReader(
      const std::string& dir);

  JournalStateFile(const JournalStateFile&) = delete;
  JournalStateFile& operator=(const JournalStateFile&) = delete;
  // Stops the heartbeat thread (writer: without marking the page closed;
  // call MarkClosed first on a clean close), unmaps, closes.
  ~JournalStateFile();

  // ---- Writer side ----

  // Every LSN <= lsn is committed (published in the segments), and with
  // `also_durable` durable too (Durability::kProcess, where the two are the
  // same). Called in non-decreasing LSN order by one thread at a time.
  // Costs a store (two with also_durable) and a CAS when no follower
  // sleeps.
  void PublishCommitted(uint64_t lsn, bool also_durable = false) noexcept;
  // Every LSN <= lsn is durable at the journal's level; wakes waiters.
  void PublishDurable(uint64_t lsn) noexcept;
  // Every LSN <= lsn is acknowledged by the replica set; wakes waiters.
  void PublishReplicated(uint64_t lsn) noexcept;
  // The writer's epoch (term); wakes waiters.
  void SetEpoch(uint64_t epoch) noexcept;
  // Stores now (CLOCK_MONOTONIC) as the heartbeat; wakes nobody.
  void Heartbeat() noexcept;
  // Beats every `period` from a background thread until MarkClosed or
  // destruction. Calling it again changes nothing.
  void StartHeartbeat(absl::Duration period) ABSL_LOCKS_EXCLUDED(hb_mu_);
  // Stops the heartbeat, sets the closed flag and wakes every waiter. The
  // values stay readable. Idempotent.
  void MarkClosed() ABSL_LOCKS_EXCLUDED(hb_mu_);

  // ---- Follower side (and the writer's own view) ----

  // All acquire loads.
  uint64_t journal_id() const noexcept;
  uint32_t writer_pid() const noexcept;
  uint64_t epoch() const noexcept;
  uint64_t committed_lsn() const noexcept;
  uint64_t durable_lsn() const noexcept;
  uint64_t replicated_lsn() const noexcept;
  uint64_t heartbeat_ns() const noexcept;
  bool closed() const noexcept;
  // Now minus the last heartbeat (zero if the heartbeat is in the future).
  absl::Duration heartbeat_age() const noexcept;
  // The publish count of the wake word (31 bits). Load it before checking
  // a condition, then pass it to WaitForChange: a change published after
  // the load is never missed.
  uint32_t sequence() const noexcept;
  // Number of threads (of all processes) inside WaitForChange right now, or
  // more if a follower died inside it; for diagnostics, nothing decides on it.
  uint32_t waiters() const noexcept;
  // Bit 0 of the wake word: a follower announced a sleep that no publish
  // has answered yet (the next publish makes a wake syscall and clears it).
  bool follower_may_sleep() const noexcept;
  // Sleeps until sequence() != seen_sequence or `deadline`; returns true if
  // it changed. Spurious returns are not possible: false means the deadline
  // passed with the word unchanged.
  [[nodiscard]] bool WaitForChange(uint32_t seen_sequence, absl::Time deadline) noexcept;

  const std::string& path() const { return path_; }

 private:
  JournalStateFile(std::string path, int fd, StatePage* page, bool writer);

  // Bumps `sequence` and wakes every waiter if there is one.
  void Wake() noexcept;
  void HeartbeatLoop(absl::Duration period) ABSL_LOCKS_EXCLUDED(hb_mu_);
  void StopHeartbeat() ABSL_LOCKS_EXCLUDED(hb_mu_);

  const std::string path_;
  const int fd_;
  StatePage* const page_;
  const bool writer_;

  Mutex hb_mu_;
  CondVar hb_cv_;
  bool hb_stop_ ABSL_GUARDED_BY(hb_mu_) = false;
  // Started by StartHeartbeat, joined by StopHeartbeat (MarkClosed or the
  // destructor); touched only under hb_mu_ or once the thread stopped.
  std::thread hb_thread_ ABSL_GUARDED_BY(hb_mu_);
};

}  // namespace engram::internal

#endif  // ENGRAM_JOURNAL_INTERNAL_JOURNAL_STATE_FILE_H_
