// The journal's writable segments and the roll from one to the next.
//
// SegmentSet owns every segment opened for writing since Open, oldest
// first, and publishes the active one to appenders through an atomic
// pointer. Appenders reserve bytes of the active segment without a lock
// (WriterSegment::reserve); the first reservation that runs past the end
// seals the segment, and Roll installs the next one, taking its file from
// the SegmentPreallocator. The group-commit flusher syncs segments through
// SyncThrough, retention releases mappings through ReleaseRetired.
//
// Thread-safety: every method is thread-safe. mu_ guards the list and each
// segment's mutable state (WriterSegment::State, reached only through
// StateOf, which requires mu_). io_mu_ is held while mapped files are used
// outside mu_ (fdatasync) and while they are released, so that a file is
// never synced after it was unmapped.
// Lock order: GroupCommitFlusher::sync_mu_ -> io_mu_ -> mu_ ->
// SegmentPreallocator::mu_.
// Ownership: owns the segments and their mappings. A WriterSegment is never
// freed before the set is destroyed (an appender may still hold a pointer it
// loaded from active() just before a roll); only its mapping is released
// ("retired") once every record in it is published and durable.
#ifndef ENGRAM_JOURNAL_INTERNAL_SEGMENT_SET_H_
#define ENGRAM_JOURNAL_INTERNAL_SEGMENT_SET_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "engram/base/internal/mutex.h"
#include "engram/journal/journal_options.h"
#include "journal/internal/mapped_file.h"

namespace engram::internal {

class SegmentPreallocator;

// Writer-side state of one segment.
struct WriterSegment {
  WriterSegment(uint64_t first, std::unique_ptr<MappedFile> f);

  const uint64_t first_lsn;
  uint8_t* const data;
  const uint64_t capacity;

  // (records reserved << 32) | next free byte offset. fetch_add by
  // appenders with relaxed order: it only hands out disjoint byte ranges
  // and LSNs; the bytes are published by each record's size word (release)
  // and by Journal::committed_lsn_ (release).
  alignas(64) std::atomic<uint64_t> reserve{0};

 private:
  friend class SegmentSet;
  // Guarded by the owning SegmentSet's mu_ (see SegmentSet::StateOf).
  struct State {
    std::unique_ptr<MappedFile> file;  // null once retired
    bool sealed = false;               // a reservation ran past the end
    uint64_t sealed_count = 0;         // records in the segment once sealed
    bool dir_synced = false;           // the directory entry was fsync'ed
    // The end marker (written by the roll after the segment's last record,
    // which may already be durable) has been covered by an fdatasync.
    bool marker_synced = false;

    uint64_t last_lsn(uint64_t first_lsn) const { return first_lsn + sealed_count - 1; }
  };
  State state_;
};

// What recovery hands over for the segment appends continue in.
struct RecoveredSegment {
  std::unique_ptr<MappedFile> file;
  uint64_t first_lsn = 0;
  uint64_t next_lsn = 0;     // the LSN the next record gets
  uint64_t end_offset = 0;   // where the next record goes
  bool sealed = false;       // full: the first append rolls
};

class SegmentSet {
 public:
  // Segments are created in `dir` with header field `journal_id`;
  // `preallocator` must outlive the set.
  SegmentSet(std::string dir, uint64_t journal_id, SegmentPreallocator* preallocator);
  SegmentSet(const SegmentSet&) = delete;
  SegmentSet& operator=(const SegmentSet&) = delete;
  ~SegmentSet();

  // The segment appends go to; null once StopAppends ran. Stored (release)
  // under mu_ after the segment is fully set up; loaded (acquire) here.
  WriterSegment* active() const noexcept { return active_.load(std::memory_order_acquire); }

  // Open: continue in a recovered segment, or create the first one.
  // The epoch (header field creator_epoch) of segments created from now
  // on; set by Open before any append.
  void set_creator_epoch(uint32_t epoch) noexcept {
    creator_epoch_.store(epoch, std::memory_order_relaxed);
  }
  void AdoptRecovered(RecoveredSegment seg);
  absl::Status InstallFirst(uint64_t first_lsn);

  // Called by an appender whose reservation (at `offset`, as record `index`
  // of `seg`) ran past the end of `seg`. Returns once another segment is
  // active (or appends stopped); the appender then reserves again.
  absl::Status Roll(WriterSegment* seg, uint64_t offset, uint64_t index);

  // Close: appends fail from now on.
  void StopAppends();

  // fdatasyncs every mapped segment holding LSNs <= target that is not yet
  // known durable (given `durable`, the durable LSN), the directory if a
  // segment's entry is new, and records which end markers are now durable.
  // Call with GroupCommitFlusher::sync_mu_ held (one sync round at a time).
  absl::Status SyncThrough(uint64_t target, uint64_t durable);

  // Releases the mappings of sealed segments other than the active one
  // whose records are all published (<= committed) and, if `sync_level`,
  // durable (<= durable, end marker synced); at kProcess they are
  // fdatasync'ed first (best effort) so the page cache can drop them.
  void ReleaseRetired(uint64_t committed, uint64_t durable, bool sync_level);
  // Close: releases every mapping.
  void ReleaseAll();

  // For retention: the lock that keeps the active segment from changing,
  // and the first LSN of the active segment (UINT64_MAX once stopped).
  Mutex* roll_mutex() ABSL_LOCK_RETURNED(mu_) { return &mu_; }
  uint64_t ActiveFirstLsnLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

 private:
  WriterSegment::State& StateOf(WriterSegment* seg) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return seg->state_;
  }
  // Makes the segment starting at `first_lsn` the active one.
  absl::Status InstallLocked(uint64_t first_lsn) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string dir_;
  const uint64_t journal_id_;
  SegmentPreallocator* const preallocator_;
  // The writer's epoch, written into the header of every segment created
  // from now on. Stored (relaxed) by set_creator_epoch before the first
  // append; loaded (relaxed) under mu_ by InstallLocked, which the roll
  // reaches only after that store (Open's thread hands the journal over).
  std::atomic<uint32_t> creator_epoch_{0};

  Mutex io_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  mutable Mutex mu_;
  CondVar roll_cv_;  // a segment was sealed or installed
  std::deque<std::unique_ptr<WriterSegment>> segments_ ABSL_GUARDED_BY(mu_);
  std::atomic<WriterSegment*> active_{nullptr};
};

}  // namespace engram::internal

#endif  // ENGRAM_JOURNAL_INTERNAL_SEGMENT_SET_H_
