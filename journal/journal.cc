#include "engram/journal/journal.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <random>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "journal/internal/format.h"
#include "journal/internal/lock_file.h"
#include "journal/internal/mapped_file.h"
#include "journal/internal/segment_scanner.h"
#include "engram/journal/journal_scan.h"

namespace engram {
namespace internal {

// Writer-side state of one segment. Owned by Journal::segments_; never freed
// before the journal closes (an appender may still hold a pointer to a
// segment it loaded from active_ just before a roll), though its mapping is
// released ("retired") once every record in it is published and durable.
struct WriterSegment {
  WriterSegment(uint64_t first, std::unique_ptr<MappedFile> f)
      : first_lsn(first),
        data(f->data()),
        capacity(f->size()),
        file(std::move(f)) {}

  const uint64_t first_lsn;
  uint8_t* const data;
  const uint64_t capacity;

  // (records reserved << 32) | next free byte offset. fetch_add by
  // appenders with relaxed order: it only hands out disjoint byte ranges
  // and LSNs; the bytes are published by each record's size word (release)
  // and by Journal::committed_lsn_ (release).
  alignas(64) std::atomic<uint64_t> reserve{0};

  // The rest is guarded by Journal::roll_mu_.
  std::unique_ptr<MappedFile> file;  // null once retired
  bool sealed = false;        // a reservation ran past the end
  uint64_t sealed_count = 0;  // records in the segment once sealed
  bool dir_synced = false;    // the directory entry has been fsync'ed
  // The end marker (written by the roll after the segment's last record,
  // which may already be durable) has been covered by an fdatasync.
  bool marker_synced = false;

  uint64_t last_lsn() const { return first_lsn + sealed_count - 1; }
};

}  // namespace internal

using internal::AlignRecord;
using internal::kRecordHeaderSize;
using internal::kSegmentHeaderSize;
using internal::MappedFile;
using internal::WriterSegment;

std::string RecoveryReport::ToString() const {
  std::string out;
  if (torn_bytes > 0) {
    absl::StrAppendFormat(&out,
                          "cut a torn tail of %u bytes at %s offset %u (%s)",
                          torn_bytes, torn_file, torn_offset, torn_reason);
  }
  if (repaired) {
    if (!out.empty()) out += "; ";
    absl::StrAppendFormat(
        &out, "repaired corruption at %s offset %u (%s): dropped LSNs %u..%u",
        repaired_file, repaired_offset, repair_reason, dropped_first_lsn,
        dropped_last_lsn);
  }
  if (!removed_files.empty()) {
    if (!out.empty()) out += "; ";
    absl::StrAppend(&out, "removed ", removed_files.size(),
                    " segment file(s) after the cut (",
                    absl::StrJoin(removed_files, ", "), ")");
  }
  if (lost_markers > 0) {
    if (!out.empty()) out += "; ";
    absl::StrAppend(&out, "restored ", lost_markers,
                    " end-of-segment marker(s) lost to a power cut");
  }
  return out;
}

Journal::Journal(std::string dir, const JournalOptions& options)
    : dir_(std::move(dir)), options_(options) {}

Journal::~Journal() { Close().IgnoreError(); }

namespace {

// The directory that holds `dir`'s own entry.
std::string ParentDir(const std::string& dir) {
  std::string d = dir;
  while (d.size() > 1 && d.back() == '/') d.pop_back();
  const size_t slash = d.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return d.substr(0, slash);
}

// Fails with kFailedPrecondition if any segment of `dir` has a newer format
// version. Reads only: runs before the lock file or anything else in the
// directory is touched.
absl::Status CheckFormatVersions(const std::string& dir) {
  auto listed = ListSegments(dir);
  if (!listed.ok()) return listed.status();
  for (const auto& [lsn, path] : *listed) {
    // pread, not a mapping: a read error is a status, not a SIGBUS.
    const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return internal::ErrnoStatus(errno, "open segment " + path);
    uint8_t header[kSegmentHeaderSize];
    const ssize_t n = pread(fd, header, sizeof header, 0);
    const int e = errno;
    close(fd);
    if (n < 0) {
      return internal::ErrnoStatus(e, absl::StrCat("read segment ", path,
                                                   " at byte offset 0 (nothing was changed)"));
    }
    auto h = internal::ParseSegmentHeader(header, static_cast<size_t>(n), path);
    if (!h.ok() && h.status().code() == absl::StatusCode::kFailedPrecondition) {
      return h.status();
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Journal>> Journal::Open(
    const std::string& dir, const JournalOptions& options) {
  if (options.segment_size < internal::kMinSegmentSize ||
      options.segment_size > internal::kMaxSegmentSize) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "segment_size %u is outside [%u, %u]", options.segment_size,
        internal::kMinSegmentSize, internal::kMaxSegmentSize));
  }
  const bool sync = options.durability == Durability::kSync;
  struct stat st;
  bool created_dir = false;
  if (stat(dir.c_str(), &st) != 0) {
    if (errno != ENOENT) return internal::ErrnoStatus(errno, "stat " + dir);
    if (!options.create_if_missing) {
      return absl::NotFoundError(
          absl::StrCat("journal directory ", dir, " does not exist"));
    }
    const mode_t dir_mode = options.file_mode | ((options.file_mode & 0444) >> 2);
    if (mkdir(dir.c_str(), dir_mode) != 0 && errno != EEXIST) {
      return internal::ErrnoStatus(errno, "create journal directory " + dir);
    }
    created_dir = true;
  } else if (!S_ISDIR(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat(dir, " is not a directory"));
  } else if (absl::Status s = CheckFormatVersions(dir); !s.ok()) {
    // Before the lock file is rewritten or anything is deleted: a journal of
    // a newer format is left exactly as it was.
    return s;
  }
  // The journal directory's own entry: after mkdir it is only in the page
  // cache, and a power cut would take the whole journal with it. At kSync
  // the parent is synced on every open, since a writer that died between
  // its mkdir and this sync leaves a directory that looks settled.
  if (created_dir || sync) {
    if (absl::Status s = internal::SyncDirectory(ParentDir(dir)); !s.ok()) return s;
  }

  std::unique_ptr<Journal> j(new Journal(dir, options));
  j->capacity_ = (options.segment_size + 4095) & ~uint64_t{4095};
  j->max_record_ = j->capacity_ - kSegmentHeaderSize;
  if (options.max_record_size != 0 && options.max_record_size < j->max_record_) {
    j->max_record_ = options.max_record_size;
  }
  auto lock = internal::LockFile::Acquire(dir, options.file_mode);
  if (!lock.ok()) return lock.status();
  j->lock_ = std::move(*lock);

  auto listed = ListSegments(dir);
  if (!listed.ok()) return listed.status();
  uint64_t next_lsn = 1;
  std::unique_ptr<WriterSegment> active;
  std::optional<JournalScanReport> rep;
  if (!listed->empty()) {
    // Read everything before changing anything: a read error or corruption
    // leaves the directory as it was.
    auto scanned = ScanJournal(dir);
    if (!scanned.ok()) return scanned.status();
    if (scanned->corrupt && !options.repair) return scanned->CorruptionStatus();
    rep = std::move(*scanned);
  }
  // A preallocated next segment that was never renamed holds nothing.
  unlink(absl::StrCat(dir, "/", internal::kNextSegmentTempName).c_str());
  if (rep.has_value()) {
    RecoveryReport& rr = j->recovery_;
    rr.records = rep->records;
    rr.last_lsn = rep->last_lsn;
    rr.lost_markers = rep->lost_markers;
    next_lsn = rep->next_lsn;
    j->journal_id_ = rep->journal_id;
    if (rep->corrupt) {
      rr.repaired = true;
      rr.repaired_file = rep->corrupt_file;
      rr.repaired_offset = rep->corrupt_offset;
      rr.repair_reason = rep->corrupt_reason;
      rr.dropped_first_lsn = rep->corrupt_lsn;
      rr.dropped_last_lsn = std::max(rep->corrupt_lsn, rep->dropped_last_lsn);
    } else if (rep->torn) {
      rr.torn_bytes = rep->torn_bytes;
      rr.torn_file = rep->torn_file;
      rr.torn_offset = rep->torn_offset;
      rr.torn_reason = rep->torn_reason;
    }
    // Segments kept, in order, that must be synced before recovery's
    // result is called durable.
    std::vector<std::string> kept;
    for (size_t i = 0; i < rep->end_segment; ++i) {
      const SegmentInfo& seg = rep->segments[i];
      kept.push_back(seg.path);
      if (!seg.lost_marker) continue;
      // Put the end marker back so that readers walk on to the next
      // segment, and make it durable before anything relies on it.
      auto f = MappedFile::OpenWritable(seg.path, seg.file_size);
      if (!f.ok()) return f.status();
      if (seg.end_offset + sizeof(uint32_t) <= (*f)->size()) {
        __atomic_store_n(reinterpret_cast<uint32_t*>((*f)->data() + seg.end_offset),
                         internal::kEndOfSegment, __ATOMIC_RELEASE);
      }
      if (absl::Status s = (*f)->Sync(); !s.ok()) return s;
    }
    for (size_t i = rep->end_segment + 1; i < rep->segments.size(); ++i) {
      const std::string& path = rep->segments[i].path;
      if (unlink(path.c_str()) != 0) {
        return internal::ErrnoStatus(errno, "remove segment after the cut " + path);
      }
      rr.removed_files.push_back(path);
    }
    const SegmentInfo& end = rep->segments[rep->end_segment];
    if (rep->end_header_torn) {
      if (unlink(end.path.c_str()) != 0) {
        return internal::ErrnoStatus(errno, "remove torn segment " + end.path);
      }
      rr.removed_files.push_back(end.path);
    } else {
      auto ro = MappedFile::OpenReadOnly(end.path);
      if (!ro.ok()) return ro.status();
      auto h = internal::ParseSegmentHeader((*ro)->data(), (*ro)->size(), end.path);
      if (!h.ok()) return h.status();
      ro->reset();
      auto f = MappedFile::OpenWritable(end.path, h->segment_size);
      if (!f.ok()) return f.status();
      const uint64_t cut_from =
          rep->end_sealed ? std::min<uint64_t>(end.end_offset + 4, h->segment_size)
                          : end.end_offset;
      if (rep->end_trailing > cut_from) {
        // Zero the cut bytes durably at every level: new records will be
        // written over them, and a power cut must not mix the two.
        std::memset((*f)->data() + cut_from, 0, rep->end_trailing - cut_from);
        absl::Status s = (*f)->Sync();
        if (!s.ok()) return s;
      }
      active = std::make_unique<WriterSegment>(h->first_lsn, std::move(*f));
      active->dir_synced = true;
      active->marker_synced = true;
      if (rep->end_sealed) {
        // Full: the first append rolls (and reports a full disk then, so
        // that a journal on a full disk still opens for reading back).
        active->sealed = true;
        active->sealed_count = next_lsn - h->first_lsn;
        active->reserve.store(((next_lsn - h->first_lsn) << 32) | active->capacity,
                              std::memory_order_relaxed);
      } else {
        active->reserve.store(((next_lsn - h->first_lsn) << 32) | end.end_offset,
                              std::memory_order_relaxed);
      }
    }
    if (sync) {
      // Recovered records may be only in the page cache (the last writer
      // died before its flusher synced them): sync them before they are
      // called durable, or a restarted writer would release replies for
      // records a power cut can still take. fdatasync of a clean file is
      // cheap.
      for (const std::string& path : kept) {
        if (absl::Status s = internal::SyncFile(path); !s.ok()) return s;
      }
      if (active != nullptr) {
        if (absl::Status s = active->file->Sync(); !s.ok()) return s;
      }
    }
    if (sync || !rr.removed_files.empty()) {
      // Makes removals durable (a power cut must not bring back segments
      // recovery cut, which would contradict the records appended next) and,
      // at kSync, every kept segment's name.
      if (absl::Status s = internal::SyncDirectory(dir); !s.ok()) return s;
    }
  }
  if (j->journal_id_ == 0) {
    std::random_device rd;
    j->journal_id_ = (uint64_t{rd()} << 32) | rd();
  }
  j->committed_lsn_.store(next_lsn - 1, std::memory_order_relaxed);
  j->durable_lsn_.store(next_lsn - 1, std::memory_order_relaxed);
  {
    std::unique_lock<std::mutex> l(j->roll_mu_);
    if (active != nullptr) {
      WriterSegment* a = active.get();
      j->segments_.push_back(std::move(active));
      j->active_.store(a, std::memory_order_release);
      std::unique_lock<std::mutex> p(j->prep_mu_);
      if (options.prefault) {
        j->prefault_active_ = a->file.get();
        j->prefault_from_ = a->reserve.load(std::memory_order_relaxed) & 0xffffffffu;
      }
      j->prep_wanted_ = true;
      j->prep_cv_.notify_all();
    } else {
      absl::Status s = j->InstallSegmentLocked(next_lsn);
      if (!s.ok()) return s;
    }
  }
  j->preallocator_ = std::thread([p = j.get()] { p->PreallocatorLoop(); });
  if (sync) {
    j->flusher_ = std::thread([p = j.get()] { p->FlusherLoop(); });
  }
  return j;
}

absl::StatusOr<uint64_t> Journal::Append(const RecordInput& record) noexcept {
  return AppendRecords(&record, 1);
}

absl::StatusOr<uint64_t> Journal::AppendBatch(
    absl::Span<const RecordInput> records) noexcept {
  return AppendRecords(records.data(), records.size());
}

namespace {

inline void CpuRelax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

// Writes `n` records at `p` with LSNs from `lsn`, publishing them all with
// the release store of the first record's size word.
inline void WriteRecords(uint8_t* p, const RecordInput* recs, size_t n,
                         uint64_t lsn, int64_t now) noexcept {
  uint8_t* head = p;
  uint32_t head_size = 0;
  for (size_t i = 0; i < n; ++i) {
    const RecordInput& r = recs[i];
    internal::RecordHeader h;
    h.size = static_cast<uint32_t>(kRecordHeaderSize + r.payload.size());
    h.batch_count = i == 0 ? static_cast<uint32_t>(n) : 0;
    h.lsn = lsn + i;
    h.stream_id = r.stream_id;
    h.stream_version = r.stream_version;
    h.type_id = r.type_id;
    h.schema_version = r.schema_version;
    h.flags = r.flags;
    h.timestamp_ns = r.timestamp_ns != 0 ? r.timestamp_ns : now;
    h.checksum = internal::RecordChecksum(&h, r.payload.data(), r.payload.size());
    // Everything but the size word; the bytes after the record (padding)
    // are already zero.
    std::memcpy(p + 4, reinterpret_cast<const uint8_t*>(&h) + 4,
                kRecordHeaderSize - 4);
    if (!r.payload.empty()) {
      std::memcpy(p + kRecordHeaderSize, r.payload.data(), r.payload.size());
    }
    if (i == 0) {
      head_size = h.size;
    } else {
      // Ordered before the head's release store below; readers only look at
      // members after acquiring the head's size word.
      __atomic_store_n(reinterpret_cast<uint32_t*>(p), h.size, __ATOMIC_RELAXED);
    }
    p += AlignRecord(h.size);
  }
  // Commit: readers that acquire this word see the whole batch.
  __atomic_store_n(reinterpret_cast<uint32_t*>(head), head_size, __ATOMIC_RELEASE);
}

}  // namespace

void Journal::WaitForPredecessors(uint64_t lsn) const noexcept {
  // Publication is in LSN order so that an acknowledged record never lies
  // after a hole that a crash could leave: recovery cuts at the first hole.
  // Spin briefly (the predecessor is usually mid-memcpy on the other core),
  // then yield, then block: with more writers than cores the predecessor may
  // be preempted, and spinning would only delay it.
  int rounds = 0;
  for (uint64_t v = committed_lsn_.load(std::memory_order_acquire); v != lsn - 1;
       v = committed_lsn_.load(std::memory_order_acquire)) {
    ++rounds;
    if (rounds < 256) {
      CpuRelax();
    } else if (rounds < 272) {
      sched_yield();
    } else {
      committed_lsn_.wait(v, std::memory_order_acquire);
    }
  }
}

absl::StatusOr<uint64_t> Journal::AppendRecords(const RecordInput* recs,
                                                size_t n) noexcept {
  if (n == 0) return absl::InvalidArgumentError("AppendBatch of zero records");
  uint64_t total = 0;
  bool need_time = false;
  for (size_t i = 0; i < n; ++i) {
    const uint64_t size = kRecordHeaderSize + recs[i].payload.size();
    if (size > max_record_) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "record of %u bytes (%u-byte header + %u-byte payload) exceeds the "
          "limit of %u bytes",
          size, kRecordHeaderSize, recs[i].payload.size(), max_record_));
    }
    total += AlignRecord(size);
    need_time |= recs[i].timestamp_ns == 0;
  }
  if (total > capacity_ - kSegmentHeaderSize || n > 0x7fffffff) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "batch of %u records (%u bytes) exceeds the segment capacity of %u "
        "bytes",
        n, total, capacity_ - kSegmentHeaderSize));
  }
  const int64_t now = need_time ? absl::GetCurrentTimeNanos() : 0;
  for (;;) {
    WriterSegment* seg = active_.load(std::memory_order_acquire);
    if (seg == nullptr) {
      return absl::FailedPreconditionError(
          absl::StrCat("journal ", dir_, " is closed"));
    }
    const uint64_t old = seg->reserve.fetch_add((uint64_t{n} << 32) | total,
                                                std::memory_order_relaxed);
    const uint64_t offset = old & 0xffffffffu;
    const uint64_t index = old >> 32;
    if (offset + total <= seg->capacity) {
      const uint64_t lsn = seg->first_lsn + index;
      WriteRecords(seg->data + offset, recs, n, lsn, now);
      WaitForPredecessors(lsn);
      committed_lsn_.store(lsn + n - 1, std::memory_order_release);
      // Cheap when nobody blocks (libstdc++ checks a waiter count first).
      committed_lsn_.notify_all();
      return lsn;
    }
    absl::Status s = Roll(seg, offset, index);
    if (!s.ok()) return s;
  }
}

absl::Status Journal::Roll(WriterSegment* seg, uint64_t offset,
                           uint64_t index) {
  std::unique_lock<std::mutex> l(roll_mu_);
  if (offset <= seg->capacity && !seg->sealed) {
    // The first reservation past the end: everything before it is the
    // segment's content. Mark the end for readers.
    seg->sealed = true;
    seg->sealed_count = index;
    if (offset + sizeof(uint32_t) <= seg->capacity) {
      __atomic_store_n(reinterpret_cast<uint32_t*>(seg->data + offset),
                       internal::kEndOfSegment, __ATOMIC_RELEASE);
    }
  }
  roll_cv_.notify_all();
  roll_cv_.wait(l, [&] {
    return seg->sealed || active_.load(std::memory_order_relaxed) != seg;
  });
  if (active_.load(std::memory_order_relaxed) != seg) return absl::OkStatus();
  return InstallSegmentLocked(seg->first_lsn + seg->sealed_count);
}

absl::StatusOr<std::unique_ptr<MappedFile>> Journal::TakePreparedFile() {
  std::unique_lock<std::mutex> l(prep_mu_);
  prep_cv_.wait(l, [&] { return !prep_busy_; });
  if (prepared_ != nullptr) return std::move(prepared_);
  // Created here instead: the preallocator must not start on (and unlink)
  // the same temporary file until this one has been renamed.
  prep_wanted_ = false;
  const std::string tmp = absl::StrCat(dir_, "/", internal::kNextSegmentTempName);
  unlink(tmp.c_str());
  return MappedFile::Create(tmp, capacity_, options_.file_mode);
}

absl::Status Journal::InstallSegmentLocked(uint64_t first_lsn) {
  const std::string path =
      absl::StrCat(dir_, "/", internal::SegmentFileName(first_lsn));
  auto file = TakePreparedFile();
  if (!file.ok()) {
    return absl::Status(file.status().code(),
                        absl::StrFormat("cannot create segment %s for LSN %u: %s",
                                        path, first_lsn, file.status().message()));
  }
  MappedFile& f = **file;
  internal::SegmentHeader h{};
  h.magic = internal::kSegmentMagic;
  h.format_version = internal::kFormatVersion;
  h.header_size = kSegmentHeaderSize;
  h.first_lsn = first_lsn;
  h.segment_size = f.size();
  h.created_unix_ns = absl::GetCurrentTimeNanos();
  h.creator_pid = static_cast<uint32_t>(getpid());
  h.journal_id = journal_id_;
  h.checksum = internal::SegmentHeaderChecksum(h);
  std::memcpy(f.data(), &h, sizeof h);
  if (rename(f.path().c_str(), path.c_str()) != 0) {
    return internal::ErrnoStatus(errno, absl::StrCat("rename ", f.path(), " to ", path));
  }
  f.set_path(path);
  auto seg = std::make_unique<WriterSegment>(first_lsn, std::move(*file));
  seg->reserve.store(kSegmentHeaderSize, std::memory_order_relaxed);
  WriterSegment* raw = seg.get();
  segments_.push_back(std::move(seg));
  active_.store(raw, std::memory_order_release);
  std::unique_lock<std::mutex> p(prep_mu_);
  prep_wanted_ = true;
  retire_wanted_ = true;
  if (options_.prefault && segments_.size() == 1) {
    prefault_active_ = raw->file.get();
    prefault_from_ = 0;
  }
  prep_cv_.notify_all();
  roll_cv_.notify_all();
  return absl::OkStatus();
}

void Journal::PreallocatorLoop() {
  const std::string tmp = absl::StrCat(dir_, "/", internal::kNextSegmentTempName);
  for (;;) {
    MappedFile* prefault = nullptr;
    uint64_t prefault_from = 0;
    bool make = false;
    bool retire = false;
    {
      std::unique_lock<std::mutex> l(prep_mu_);
      prep_cv_.wait(l, [&] {
        return prep_stop_ || prefault_active_ != nullptr ||
               (prep_wanted_ && prepared_ == nullptr) || retire_wanted_;
      });
      if (prep_stop_) return;
      prefault = std::exchange(prefault_active_, nullptr);
      prefault_from = prefault_from_;
      make = prep_wanted_ && prepared_ == nullptr;
      if (make) {
        prep_wanted_ = false;
        prep_busy_ = true;
      }
      retire = std::exchange(retire_wanted_, false);
    }
    // The active segment's mapping stays alive here: only this thread
    // retires mappings.
    if (prefault != nullptr) prefault->PrefaultWrite(prefault_from, prefault->size());
    if (make) {
      unlink(tmp.c_str());
      auto f = MappedFile::Create(tmp, capacity_, options_.file_mode);
      if (f.ok() && options_.prefault) (*f)->PrefaultWrite(0, (*f)->size());
      std::unique_lock<std::mutex> l(prep_mu_);
      prep_busy_ = false;
      // On failure the roll retries synchronously and reports the error.
      if (f.ok()) prepared_ = std::move(*f);
      prep_cv_.notify_all();
    }
    // Not while prep_busy_: a roll holding roll_mu_ may be waiting for it.
    if (retire) RetireSegments();
  }
}

void Journal::RetireSegments() {
  std::unique_lock<std::mutex> s(sync_mu_);
  std::vector<WriterSegment*> done;
  {
    std::unique_lock<std::mutex> l(roll_mu_);
    WriterSegment* active = active_.load(std::memory_order_relaxed);
    const uint64_t committed = committed_lsn_.load(std::memory_order_acquire);
    const uint64_t durable = durable_lsn_.load(std::memory_order_acquire);
    for (auto& seg : segments_) {
      if (seg.get() == active || seg->file == nullptr || !seg->sealed) continue;
      if (seg->last_lsn() + 1 > committed + 1) continue;
      if (options_.durability == Durability::kSync &&
          (seg->last_lsn() > durable || !seg->marker_synced)) {
        continue;
      }
      done.push_back(seg.get());
    }
  }
  // Only this thread resets files, so they stay valid outside roll_mu_;
  // sync_mu_ keeps SyncUpTo away from them.
  if (options_.durability == Durability::kProcess) {
    for (WriterSegment* seg : done) seg->file->Sync().IgnoreError();
  }
  std::unique_lock<std::mutex> l(roll_mu_);
  for (WriterSegment* seg : done) seg->file.reset();
}

uint64_t Journal::last_lsn() const noexcept {
  return committed_lsn_.load(std::memory_order_acquire);
}

uint64_t Journal::durable_lsn() const noexcept {
  if (options_.durability == Durability::kProcess) {
    return committed_lsn_.load(std::memory_order_acquire);
  }
  return durable_lsn_.load(std::memory_order_acquire);
}

absl::Status Journal::SyncUpTo(uint64_t target) {
  std::unique_lock<std::mutex> s(sync_mu_);
  // After a failed fdatasync the kernel may have dropped the dirty pages it
  // could not write (and cleared the error): a later sync that succeeds
  // proves nothing about them. The failure is final for this journal.
  if (!sync_error_.ok()) return sync_error_;
  const uint64_t durable = durable_lsn_.load(std::memory_order_acquire);
  if (target <= durable) return absl::OkStatus();
  std::vector<MappedFile*> files;
  std::vector<WriterSegment*> new_dirs;
  std::vector<WriterSegment*> new_markers;
  {
    std::unique_lock<std::mutex> l(roll_mu_);
    for (auto& seg : segments_) {
      if (seg->file == nullptr || seg->first_lsn > target) continue;
      // A sealed segment is done only once its end marker is synced too:
      // the marker is stored after its last record (which an earlier round
      // may have synced already), and without it recovery would take the
      // zeros after that record for the end of the journal and cut every
      // later segment. The seal happens before the next segment exists, so
      // any target in a later segment sees the seal here.
      if (seg->sealed && seg->last_lsn() <= durable && seg->marker_synced) continue;
      files.push_back(seg->file.get());
      if (!seg->dir_synced) new_dirs.push_back(seg.get());
      if (seg->sealed && !seg->marker_synced) new_markers.push_back(seg.get());
    }
  }
  for (MappedFile* f : files) {
    absl::Status st = f->Sync();
    if (!st.ok()) return FailSync(st);
  }
  if (!new_dirs.empty()) {
    absl::Status st = internal::SyncDirectory(dir_);
    if (!st.ok()) return FailSync(st);
  }
  if (!new_dirs.empty() || !new_markers.empty()) {
    std::unique_lock<std::mutex> l(roll_mu_);
    for (WriterSegment* seg : new_dirs) seg->dir_synced = true;
    for (WriterSegment* seg : new_markers) seg->marker_synced = true;
  }
  durable_lsn_.store(target, std::memory_order_release);
  sync_count_.fetch_add(1, std::memory_order_relaxed);
  return absl::OkStatus();
}

absl::Status Journal::FailSync(const absl::Status& cause) {
  sync_error_ = absl::Status(
      cause.code(),
      absl::StrCat(cause.message(), "; journal ", dir_,
                   " acknowledges nothing more (records after durable LSN ",
                   durable_lsn_.load(std::memory_order_acquire),
                   " may be lost); reopen it to recover"));
  return sync_error_;
}

void Journal::RunDueCallbacks() {
  std::unique_lock<std::mutex> l(flush_mu_);
  flush_cv_.notify_all();  // WaitDurable callers re-check durable_lsn_
  // One runner at a time, so that callbacks run in LSN order (and, for one
  // LSN, in registration order) whichever thread finds them due: the
  // flusher, Sync(), or OnDurable for an LSN already durable. A second
  // caller leaves its work to the runner, which collects again after each
  // batch.
  if (callbacks_running_) return;
  callbacks_running_ = true;
  for (;;) {
    std::vector<absl::AnyInvocable<void(absl::Status)>> due, failed;
    absl::Status error;
    const uint64_t durable = durable_lsn_.load(std::memory_order_acquire);
    auto end = callbacks_.upper_bound(durable);
    for (auto it = callbacks_.begin(); it != end; ++it) {
      due.push_back(std::move(it->second));
    }
    callbacks_.erase(callbacks_.begin(), end);
    if (!flush_error_.ok() || flush_stop_) {
      error = !flush_error_.ok()
                  ? flush_error_
                  : absl::CancelledError(absl::StrCat(
                        "journal ", dir_, " closed before the LSN became durable"));
      for (auto& entry : callbacks_) failed.push_back(std::move(entry.second));
      callbacks_.clear();
    }
    if (due.empty() && failed.empty()) break;
    // Outside the lock: callbacks may call back into the journal.
    l.unlock();
    for (auto& cb : due) cb(absl::OkStatus());
    for (auto& cb : failed) cb(error);
    l.lock();
  }
  callbacks_running_ = false;
  flush_cv_.notify_all();  // Close waits for the runner to finish
}

void Journal::FlusherLoop() {
  for (;;) {
    {
      std::unique_lock<std::mutex> l(flush_mu_);
      flush_cv_.wait_for(
          l, absl::ToChronoNanoseconds(options_.sync_interval), [&] {
            const uint64_t d = durable_lsn_.load(std::memory_order_acquire);
            return flush_stop_ ||
                   (flush_error_.ok() && flush_wanted_ > d &&
                    committed_lsn_.load(std::memory_order_acquire) > d);
          });
      if (flush_stop_) return;
      if (!flush_error_.ok()) continue;
    }
    const uint64_t target = committed_lsn_.load(std::memory_order_acquire);
    if (target > durable_lsn_.load(std::memory_order_acquire)) {
      absl::Status s = SyncUpTo(target);
      if (!s.ok()) {
        std::unique_lock<std::mutex> l(flush_mu_);
        flush_error_ = s;
        flush_cv_.notify_all();
      }
    }
    RunDueCallbacks();
  }
}

absl::Status Journal::WaitDurable(uint64_t lsn, absl::Duration timeout) {
  if (durable_lsn() >= lsn) return absl::OkStatus();
  const absl::Time deadline = absl::Now() + timeout;
  if (options_.durability == Durability::kProcess) {
    while (committed_lsn_.load(std::memory_order_acquire) < lsn) {
      if (closed_.load(std::memory_order_acquire)) {
        return absl::FailedPreconditionError(absl::StrCat("journal ", dir_, " is closed"));
      }
      if (absl::Now() >= deadline) {
        return absl::DeadlineExceededError(absl::StrFormat(
            "LSN %u not published within %s", lsn, absl::FormatDuration(timeout)));
      }
      absl::SleepFor(absl::Microseconds(20));
    }
    return absl::OkStatus();
  }
  std::unique_lock<std::mutex> l(flush_mu_);
  flush_wanted_ = std::max(flush_wanted_, lsn);
  flush_cv_.notify_all();
  auto done = [&] {
    return durable_lsn_.load(std::memory_order_acquire) >= lsn ||
           !flush_error_.ok() || flush_stop_;
  };
  if (timeout == absl::InfiniteDuration()) {
    flush_cv_.wait(l, done);
  } else {
    flush_cv_.wait_for(l, absl::ToChronoNanoseconds(timeout), done);
  }
  if (durable_lsn_.load(std::memory_order_acquire) >= lsn) return absl::OkStatus();
  if (!flush_error_.ok()) return flush_error_;
  if (flush_stop_) {
    return absl::FailedPreconditionError(absl::StrCat("journal ", dir_, " is closed"));
  }
  return absl::DeadlineExceededError(absl::StrFormat(
      "LSN %u not durable within %s (durable LSN %u)", lsn,
      absl::FormatDuration(timeout), durable_lsn_.load(std::memory_order_acquire)));
}

void Journal::OnDurable(uint64_t lsn, absl::AnyInvocable<void(absl::Status)> done) {
  if (options_.durability == Durability::kProcess) {
    // Appends return in LSN order and publish as they return, so callers
    // that register in LSN order are called in LSN order.
    done(WaitDurable(lsn));
    return;
  }
  absl::Status error;
  {
    std::unique_lock<std::mutex> l(flush_mu_);
    if (!flush_error_.ok()) {
      error = flush_error_;
    } else if (flush_stop_) {
      error = absl::FailedPreconditionError(absl::StrCat("journal ", dir_, " is closed"));
    } else {
      // Always through the queue, even when already durable: running it
      // inline could overtake earlier callbacks that the flusher has
      // taken out of the queue but not yet run.
      callbacks_.emplace(lsn, std::move(done));
      if (durable_lsn_.load(std::memory_order_acquire) < lsn) {
        flush_wanted_ = std::max(flush_wanted_, lsn);
        flush_cv_.notify_all();
        return;
      }
      if (callbacks_running_) return;  // the runner collects it
    }
  }
  if (!error.ok()) {
    done(error);
    return;
  }
  RunDueCallbacks();
}

absl::Status Journal::Sync() {
  absl::Status s = SyncUpTo(committed_lsn_.load(std::memory_order_acquire));
  if (options_.durability == Durability::kSync) {
    if (!s.ok()) {
      // Waiters and callbacks fail as if the flusher had hit it.
      std::unique_lock<std::mutex> l(flush_mu_);
      if (flush_error_.ok()) flush_error_ = s;
    }
    RunDueCallbacks();
  }
  return s;
}

absl::StatusOr<int> Journal::DeleteSegmentsBelow(uint64_t lsn) {
  auto listed = ListSegments(dir_);
  if (!listed.ok()) return listed.status();
  std::unique_lock<std::mutex> l(roll_mu_);
  WriterSegment* active = active_.load(std::memory_order_relaxed);
  const uint64_t limit =
      std::min(lsn, committed_lsn_.load(std::memory_order_acquire) + 1);
  int deleted = 0;
  for (size_t i = 0; i + 1 < listed->size(); ++i) {
    const auto& [first, path] = (*listed)[i];
    if ((*listed)[i + 1].first > limit) break;
    if (active != nullptr && first >= active->first_lsn) break;
    if (unlink(path.c_str()) != 0) {
      return internal::ErrnoStatus(errno, "delete segment " + path);
    }
    ++deleted;
  }
  return deleted;
}

absl::Status Journal::Close() {
  if (closed_.exchange(true, std::memory_order_acq_rel)) return absl::OkStatus();
  {
    std::unique_lock<std::mutex> l(roll_mu_);
    active_.store(nullptr, std::memory_order_release);
  }
  {
    std::unique_lock<std::mutex> l(prep_mu_);
    prep_stop_ = true;
    prep_cv_.notify_all();
  }
  if (preallocator_.joinable()) preallocator_.join();
  absl::Status status;
  if (options_.durability == Durability::kSync) {
    status = SyncUpTo(committed_lsn_.load(std::memory_order_acquire));
    {
      std::unique_lock<std::mutex> l(flush_mu_);
      flush_stop_ = true;
      flush_cv_.notify_all();
    }
    if (flusher_.joinable()) flusher_.join();
    RunDueCallbacks();
    // A runner on another thread may still be calling callbacks.
    std::unique_lock<std::mutex> l(flush_mu_);
    flush_cv_.wait(l, [&] { return !callbacks_running_; });
  }
  {
    std::unique_lock<std::mutex> l(prep_mu_);
    if (prepared_ != nullptr) {
      unlink(prepared_->path().c_str());
      prepared_.reset();
    }
  }
  {
    std::unique_lock<std::mutex> l(roll_mu_);
    for (auto& seg : segments_) seg->file.reset();
  }
  lock_.reset();
  return status;
}

}  // namespace engram
