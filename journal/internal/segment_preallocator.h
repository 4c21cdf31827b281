// Preallocation of the journal's next segment file, on a background thread.
//
// A roll must not wait for posix_fallocate (and, with JournalOptions::
// prefault, for the page faults of a fresh mapping): this thread creates the
// next segment ahead of time as kNextSegmentTempName, which the roll renames
// into place (SegmentSet::Roll takes it with Take()). The same thread
// prefaults the active segment once it is installed and, whenever a segment
// was installed, runs the retire callback given to Start (Retention::
// RetireMappings): it is the only thread that releases segment mappings, so
// the mapping it prefaults stays alive while it does.
//
// Thread-safety: every method is thread-safe; mu_ guards all mutable state.
// Lock order: SegmentSet::mu_ may be held while calling in (Take,
// SegmentInstalled); the thread calls the retire callback holding no lock.
// Ownership: owns the prepared file (unlinked by DiscardPrepared) and the
// thread (joined by Stop, at the latest on destruction).
#ifndef ENGRAM_JOURNAL_INTERNAL_SEGMENT_PREALLOCATOR_H_
#define ENGRAM_JOURNAL_INTERNAL_SEGMENT_PREALLOCATOR_H_

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "engram/base/internal/mutex.h"
#include "journal/internal/mapped_file.h"

namespace engram::internal {

class SegmentPreallocator {
 public:
  // Files are `capacity` bytes, created with `mode` in `dir`.
  SegmentPreallocator(std::string dir, uint64_t capacity, mode_t mode,
                      bool prefault);
  SegmentPreallocator(const SegmentPreallocator&) = delete;
  SegmentPreallocator& operator=(const SegmentPreallocator&) = delete;
  ~SegmentPreallocator();

  // Starts the thread; `retire` runs on it after each install.
  void Start(absl::AnyInvocable<void()> retire);
  // Stops and joins the thread. Idempotent.
  void Stop();

  // The next segment file (at its temporary name): the prepared one, or one
  // created now if none is ready (its error is the caller's). Waits while
  // the thread is creating one.
  absl::StatusOr<std::unique_ptr<MappedFile>> Take();
  // A new segment was installed: prepare the next one and retire old
  // mappings; `first` (the journal's first segment, not prefaulted at
  // creation) is prefaulted if the options ask for it.
  void SegmentInstalled(MappedFile* active, bool first);
  // Open adopted a recovered segment written up to `written_end`: prefault
  // the rest (if asked) and prepare the next one.
  void SegmentRecovered(MappedFile* active, uint64_t written_end);
  // Unlinks and drops the prepared file, if any (Close, after Stop).
  void DiscardPrepared();

 private:
  void Loop();
  bool HasWork() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string dir_;
  const std::string tmp_path_;
  const uint64_t capacity_;
  const mode_t mode_;
  const bool prefault_;

  Mutex mu_;
  CondVar cv_;  // any field below changed
  std::unique_ptr<MappedFile> prepared_ ABSL_GUARDED_BY(mu_);
  bool wanted_ ABSL_GUARDED_BY(mu_) = false;  // a next file is wanted
  bool busy_ ABSL_GUARDED_BY(mu_) = false;    // the thread is creating one
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  MappedFile* prefault_active_ ABSL_GUARDED_BY(mu_) = nullptr;
  uint64_t prefault_from_ ABSL_GUARDED_BY(mu_) = 0;
  bool retire_wanted_ ABSL_GUARDED_BY(mu_) = false;
  // Set by Start before the thread starts; then used only by the thread.
  absl::AnyInvocable<void()> retire_;
  std::thread thread_;  // started by Start, joined by Stop (one caller)
};

}  // namespace engram::internal

#endif  // ENGRAM_JOURNAL_INTERNAL_SEGMENT_PREALLOCATOR_H_
