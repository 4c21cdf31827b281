#include "journal/internal/segment_set.h"

#include <errno.h>
#include <stdio.h>
#include <unistd.h>

#include <cstring>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "journal/internal/format.h"
#include "journal/internal/segment_preallocator.h"

namespace engram::internal {

WriterSegment::WriterSegment(uint64_t first, std::unique_ptr<MappedFile> f)
    : first_lsn(first), data(f->data()), capacity(f->size()) {
  state_.file = std::move(f);
}

SegmentSet::SegmentSet(std::string dir, uint64_t journal_id,
                       SegmentPreallocator* preallocator)
    : dir_(std::move(dir)), journal_id_(journal_id), preallocator_(preallocator) {}

SegmentSet::~SegmentSet() = default;

void SegmentSet::AdoptRecovered(RecoveredSegment rec) {
  auto seg = std::make_unique<WriterSegment>(rec.first_lsn, std::move(rec.file));
  const uint64_t count = rec.next_lsn - rec.first_lsn;
  MappedFile* file;
  {
    MutexLock l(&mu_);
    WriterSegment::State& st = StateOf(seg.get());
    file = st.file.get();
    st.dir_synced = true;
    st.marker_synced = true;
    if (rec.sealed) {
      // Full: the first append rolls (and reports a full disk then, so that
      // a journal on a full disk still opens for reading back).
      st.sealed = true;
      st.sealed_count = count;
      seg->reserve.store((count << 32) | seg->capacity, std::memory_order_relaxed);
    } else {
      seg->reserve.store((count << 32) | rec.end_offset, std::memory_order_relaxed);
    }
    WriterSegment* raw = seg.get();
    segments_.push_back(std::move(seg));
    active_.store(raw, std::memory_order_release);
  }
  preallocator_->SegmentRecovered(file, rec.sealed ? file->size() : rec.end_offset);
}

absl::Status SegmentSet::InstallFirst(uint64_t first_lsn) {
  MutexLock l(&mu_);
  return InstallLocked(first_lsn);
}

absl::Status SegmentSet::Roll(WriterSegment* seg, uint64_t offset, uint64_t index) {
  MutexLock l(&mu_);
  WriterSegment::State& st = StateOf(seg);
  if (offset <= seg->capacity && !st.sealed) {
    // The first reservation past the end: everything before it is the
    // segment's content. Mark the end for readers.
    st.sealed = true;
    st.sealed_count = index;
    if (offset + sizeof(uint32_t) <= seg->capacity) {
      __atomic_store_n(reinterpret_cast<uint32_t*>(seg->data + offset),
                       kEndOfSegment, __ATOMIC_RELEASE);
    }
  }
  roll_cv_.SignalAll();
  while (!st.sealed && active_.load(std::memory_order_relaxed) == seg) {
    roll_cv_.Wait(&mu_);
  }
  if (active_.load(std::memory_order_relaxed) != seg) return absl::OkStatus();
  return InstallLocked(seg->first_lsn + st.sealed_count);
}

absl::Status SegmentSet::InstallLocked(uint64_t first_lsn) {
  const std::string path = absl::StrCat(dir_, "/", SegmentFileName(first_lsn));
  auto file = preallocator_->Take();
  if (!file.ok()) {
    return absl::Status(file.status().code(),
                        absl::StrFormat("cannot create segment %s for LSN %u: %s",
                                        path, first_lsn, file.status().message()));
  }
  MappedFile& f = **file;
  SegmentHeader h{};
  h.magic = kSegmentMagic;
  h.format_version = kFormatVersion;
  h.header_size = kSegmentHeaderSize;
  h.first_lsn = first_lsn;
  h.segment_size = f.size();
  h.created_unix_ns = absl::GetCurrentTimeNanos();
  h.creator_pid = static_cast<uint32_t>(getpid());
  h.creator_epoch = creator_epoch_.load(std::memory_order_relaxed);
  h.journal_id = journal_id_;
  h.checksum = SegmentHeaderChecksum(h);
  std::memcpy(f.data(), &h, sizeof h);
  if (rename(f.path().c_str(), path.c_str()) != 0) {
    return ErrnoStatus(errno, absl::StrCat("rename ", f.path(), " to ", path));
  }
  f.set_path(path);
  auto seg = std::make_unique<WriterSegment>(first_lsn, std::move(*file));
  seg->reserve.store(kSegmentHeaderSize, std::memory_order_relaxed);
  WriterSegment* raw = seg.get();
  MappedFile* raw_file = StateOf(raw).file.get();
  segments_.push_back(std::move(seg));
  active_.store(raw, std::memory_order_release);
  preallocator_->SegmentInstalled(raw_file, segments_.size() == 1);
  roll_cv_.SignalAll();
  return absl::OkStatus();
}

void SegmentSet::StopAppends() {
  MutexLock l(&mu_);
  active_.store(nullptr, std::memory_order_release);
  roll_cv_.SignalAll();
}

absl::Status SegmentSet::SyncThrough(uint64_t target, uint64_t durable) {
  MutexLock io(&io_mu_);
  std::vector<MappedFile*> files;
  std::vector<WriterSegment*> new_dirs;
  std::vector<WriterSegment*> new_markers;
  {
    MutexLock l(&mu_);
    for (auto& seg : segments_) {
      WriterSegment::State& st = StateOf(seg.get());
      if (st.file == nullptr || seg->first_lsn > target) continue;
      // A sealed segment is done only once its end marker is synced too:
      // the marker is stored after its last record (which an earlier round
      // may have synced already), and without it recovery would take the
      // zeros after that record for the end of the journal and cut every
      // later segment. The seal happens before the next segment exists, so
      // any target in a later segment sees the seal here.
      if (st.sealed && st.last_lsn(seg->first_lsn) <= durable && st.marker_synced) continue;
      files.push_back(st.file.get());
      if (!st.dir_synced) new_dirs.push_back(seg.get());
      if (st.sealed && !st.marker_synced) new_markers.push_back(seg.get());
    }
  }
  // The files stay mapped outside mu_: io_mu_ keeps ReleaseRetired away.
  for (MappedFile* f : files) {
    if (absl::Status st = f->Sync(); !st.ok()) return st;
  }
  if (!new_dirs.empty()) {
    if (absl::Status st = SyncDirectory(dir_); !st.ok()) return st;
  }
  if (!new_dirs.empty() || !new_markers.empty()) {
    MutexLock l(&mu_);
    for (WriterSegment* seg : new_dirs) StateOf(seg).dir_synced = true;
    for (WriterSegment* seg : new_markers) StateOf(seg).marker_synced = true;
  }
  return absl::OkStatus();
}

void SegmentSet::ReleaseRetired(uint64_t committed, uint64_t durable, bool sync_level) {
  MutexLock io(&io_mu_);
  std::vector<MappedFile*> done;
  std::vector<WriterSegment*> segs;
  {
    MutexLock l(&mu_);
    WriterSegment* active = active_.load(std::memory_order_relaxed);
    for (auto& seg : segments_) {
      const WriterSegment::State& st = StateOf(seg.get());
      if (seg.get() == active || st.file == nullptr || !st.sealed) continue;
      const uint64_t last = st.last_lsn(seg->first_lsn);
      if (last + 1 > committed + 1) continue;
      if (sync_level && (last > durable || !st.marker_synced)) continue;
      done.push_back(st.file.get());
      segs.push_back(seg.get());
    }
  }
  // Only the preallocator thread (through retention) and Close release
  // files, and both hold io_mu_, so they stay valid outside mu_.
  if (!sync_level) {
    for (MappedFile* f : done) f->Sync().IgnoreError();
  }
  MutexLock l(&mu_);
  for (WriterSegment* seg : segs) StateOf(seg).file.reset();
}

void SegmentSet::ReleaseAll() {
  MutexLock io(&io_mu_);
  MutexLock l(&mu_);
  for (auto& seg : segments_) StateOf(seg.get()).file.reset();
}

uint64_t SegmentSet::ActiveFirstLsnLocked() const {
  WriterSegment* active = active_.load(std::memory_order_relaxed);
  return active == nullptr ? UINT64_MAX : active->first_lsn;
}

}  // namespace engram::internal
