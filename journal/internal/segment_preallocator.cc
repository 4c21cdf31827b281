#include "journal/internal/segment_preallocator.h"

#include <unistd.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "journal/internal/format.h"

namespace engram::internal {

SegmentPreallocator::SegmentPreallocator(std::string dir, uint64_t capacity,
                                         mode_t mode, bool prefault)
    : dir_(std::move(dir)),
      tmp_path_(absl::StrCat(dir_, "/", kNextSegmentTempName)),
      capacity_(capacity),
      mode_(mode),
      prefault_(prefault) {}

SegmentPreallocator::~SegmentPreallocator() { Stop(); }

void SegmentPreallocator::Start(absl::AnyInvocable<void()> retire) {
  retire_ = std::move(retire);
  thread_ = std::thread([this] { Loop(); });
}

void SegmentPreallocator::Stop() {
  {
    MutexLock l(&mu_);
    stop_ = true;
    cv_.SignalAll();
  }
  if (thread_.joinable()) thread_.join();
}

absl::StatusOr<std::unique_ptr<MappedFile>> SegmentPreallocator::Take() {
  MutexLock l(&mu_);
  while (busy_) cv_.Wait(&mu_);
  if (prepared_ != nullptr) return std::move(prepared_);
  // Created here instead: the thread must not start on (and unlink) the
  // same temporary file until this one has been renamed.
  wanted_ = false;
  unlink(tmp_path_.c_str());
  return MappedFile::Create(tmp_path_, capacity_, mode_);
}

void SegmentPreallocator::SegmentInstalled(MappedFile* active, bool first) {
  MutexLock l(&mu_);
  wanted_ = true;
  retire_wanted_ = true;
  if (prefault_ && first) {
    prefault_active_ = active;
    prefault_from_ = 0;
  }
  cv_.SignalAll();
}

void SegmentPreallocator::SegmentRecovered(MappedFile* active,
                                           uint64_t written_end) {
  MutexLock l(&mu_);
  if (prefault_) {
    prefault_active_ = active;
    prefault_from_ = written_end;
  }
  wanted_ = true;
  cv_.SignalAll();
}

void SegmentPreallocator::DiscardPrepared() {
  MutexLock l(&mu_);
  if (prepared_ != nullptr) {
    unlink(prepared_->path().c_str());
    prepared_.reset();
  }
}

bool SegmentPreallocator::HasWork() const {
  return stop_ || prefault_active_ != nullptr ||
         (wanted_ && prepared_ == nullptr) || retire_wanted_;
}

void SegmentPreallocator::Loop() {
  for (;;) {
    MappedFile* prefault = nullptr;
    uint64_t prefault_from = 0;
    bool make = false;
    bool retire = false;
    {
      MutexLock l(&mu_);
      while (!HasWork()) cv_.Wait(&mu_);
      if (stop_) return;
      prefault = std::exchange(prefault_active_, nullptr);
      prefault_from = prefault_from_;
      make = wanted_ && prepared_ == nullptr;
      if (make) {
        wanted_ = false;
        busy_ = true;
      }
      retire = std::exchange(retire_wanted_, false);
    }
    // The active segment's mapping stays alive here: only this thread
    // retires mappings (through retire_).
    if (prefault != nullptr) prefault->PrefaultWrite(prefault_from, prefault->size());
    if (make) {
      unlink(tmp_path_.c_str());
      auto f = MappedFile::Create(tmp_path_, capacity_, mode_);
      if (f.ok() && prefault_) (*f)->PrefaultWrite(0, (*f)->size());
      MutexLock l(&mu_);
      busy_ = false;
      // On failure the roll retries synchronously and reports the error.
      if (f.ok()) prepared_ = std::move(*f);
      cv_.SignalAll();
    }
    // Not while busy_: a roll holding SegmentSet::mu_ may be waiting for it.
    if (retire && retire_) retire_();
  }
}

}  // namespace engram::internal
