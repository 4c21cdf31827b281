#include "journal/internal/recovery.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "engram/journal/epoch.h"
#include "engram/journal/journal_scan.h"
#include "journal/internal/format.h"
#include "journal/internal/mapped_file.h"
#include "journal/internal/segment_scanner.h"

namespace engram {

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

namespace internal {
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

// Reads and parses the header of the segment at `path`: the outer status is
// a read error, the inner one the parse result. pread, not a mapping: a read
// error is a status, not a SIGBUS.
absl::StatusOr<absl::StatusOr<SegmentHeader>> ReadSegmentHeader(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, "open segment " + path);
  uint8_t header[kSegmentHeaderSize];
  const ssize_t n = pread(fd, header, sizeof header, 0);
  const int e = errno;
  close(fd);
  if (n < 0) {
    return ErrnoStatus(e, absl::StrCat("read segment ", path,
                                       " at byte offset 0 (nothing was changed)"));
  }
  return ParseSegmentHeader(header, static_cast<size_t>(n), path);
}

// Fails with kFailedPrecondition if any segment of `dir` has a newer format
// version. Reads only: runs before the lock file or anything else in the
// directory is touched.
absl::Status CheckFormatVersions(const std::string& dir) {
  auto listed = ListSegments(dir);
  if (!listed.ok()) return listed.status();
  for (const auto& [lsn, path] : *listed) {
    auto h = ReadSegmentHeader(path);
    if (!h.ok()) return h.status();
    if (!h->ok() && h->status().code() == absl::StatusCode::kFailedPrecondition) {
      return h->status();
    }
  }
  return absl::OkStatus();
}

// What one segment header says that the epoch check needs.
struct SegmentFacts {
  uint64_t first_lsn = 0;
  std::string path;
  bool header_ok = false;  // false: torn or damaged (the scan handles it)
  uint32_t format_version = 0;
  uint64_t journal_id = 0;
  uint32_t creator_epoch = 0;
};

// Checks the epoch records of a journal as the scan walks its records in
// LSN order. Only version-2 segments hold the journal's own records: in a
// version-1 segment a stream 0 record with a reserved type id is a user's.
class EpochChecker {
 public:
  explicit EpochChecker(std::vector<SegmentFacts> segments) : segments_(std::move(segments)) {}

  void OnRecord(const RecordView& v) {
    if (!error_.ok() || !IsEpochRecord(v)) return;
    const SegmentFacts* seg = SegmentOf(v.lsn);
    if (seg == nullptr || !seg->header_ok ||
        seg->format_version < kFirstFormatVersionWithReservedRecords) {
      return;
    }
    auto fail = [&](absl::StatusCode code, const std::string& why) {
      error_ = absl::Status(code, absl::StrFormat("bad epoch record: %s, LSN %u: %s",
                                                  seg->path, v.lsn, why));
    };
    if (v.schema_version != kEpochSchemaVersion) {
      fail(v.schema_version > kEpochSchemaVersion ? absl::StatusCode::kFailedPrecondition
                                                  : absl::StatusCode::kDataLoss,
           absl::StrFormat("schema version %u (this build reads version %u; written by "
                           "a newer engram?)",
                           v.schema_version, kEpochSchemaVersion));
      return;
    }
    absl::StatusOr<EpochRecord> e = DecodeEpochRecord(v.payload);
    if (!e.ok()) {
      fail(absl::StatusCode::kDataLoss, std::string(e.status().message()));
      return;
    }
    if (e->journal_id != seg->journal_id) {
      fail(absl::StatusCode::kDataLoss,
           absl::StrFormat("journal id %016x, but the segment header says %016x (a record "
                           "of another journal)",
                           e->journal_id, seg->journal_id));
      return;
    }
    if (e->base_lsn != v.lsn) {
      fail(absl::StatusCode::kDataLoss,
           absl::StrFormat("base LSN %u is not the record's own LSN", e->base_lsn));
      return;
    }
    if (last_.has_value() && e->epoch <= last_->epoch) {
      fail(absl::StatusCode::kDataLoss,
           absl::StrFormat("epoch %u is not greater than epoch %u at LSN %u", e->epoch,
                           last_->epoch, last_->base_lsn));
      return;
    }
    last_ = std::move(*e);
    ++count_;
  }

  const absl::Status& error() const { return error_; }
  const std::optional<EpochRecord>& last() const { return last_; }
  uint64_t count() const { return count_; }

 private:
  // The segment holding `lsn`: the last one starting at or before it.
  const SegmentFacts* SegmentOf(uint64_t lsn) {
    while (at_ + 1 < segments_.size() && segments_[at_ + 1].first_lsn <= lsn) ++at_;
    if (at_ >= segments_.size() || segments_[at_].first_lsn > lsn) return nullptr;
    return &segments_[at_];
  }

  std::vector<SegmentFacts> segments_;
  size_t at_ = 0;  // records come in LSN order
  absl::Status error_;
  std::optional<EpochRecord> last_;
  uint64_t count_ = 0;
};

// The facts of every segment of `dir` (before the scan, read-only).
absl::StatusOr<std::vector<SegmentFacts>> ReadSegmentFacts(
    const std::vector<std::pair<uint64_t, std::string>>& listed) {
  std::vector<SegmentFacts> out;
  for (const auto& [lsn, path] : listed) {
    SegmentFacts f;
    f.first_lsn = lsn;
    f.path = path;
    auto h = ReadSegmentHeader(path);
    if (!h.ok()) return h.status();
    if (h->ok()) {
      f.header_ok = true;
      f.format_version = (*h)->format_version;
      f.journal_id = (*h)->journal_id;
      if (f.format_version >= kFirstFormatVersionWithReservedRecords) {
        f.creator_epoch = (*h)->creator_epoch;
      }
    }
    out.push_back(std::move(f));
  }
  return out;
}

}  // namespace

absl::Status JournalRecovery::PrepareDirectory(const std::string& dir,
                                               const JournalOptions& options) {
  const bool sync = options.durability != Durability::kProcess;
  struct stat st;
  bool created_dir = false;
  if (stat(dir.c_str(), &st) != 0) {
    if (errno != ENOENT) return ErrnoStatus(errno, "stat " + dir);
    if (!options.create_if_missing) {
      return absl::NotFoundError(
          absl::StrCat("journal directory ", dir, " does not exist"));
    }
    const mode_t dir_mode = options.file_mode | ((options.file_mode & 0444) >> 2);
    if (mkdir(dir.c_str(), dir_mode) != 0 && errno != EEXIST) {
      return ErrnoStatus(errno, "create journal directory " + dir);
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
  if (created_dir || sync || options.record_epochs) {
    if (absl::Status s = SyncDirectory(ParentDir(dir)); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<RecoveredJournal> JournalRecovery::Recover(
    const std::string& dir, const JournalOptions& options) {
  // With epochs, what recovery keeps must be durable before the epoch
  // record after it is: the same syncs as at kSync.
  const bool sync = options.durability != Durability::kProcess || options.record_epochs;
  RecoveredJournal out;
  auto listed = ListSegments(dir);
  if (!listed.ok()) return listed.status();
  std::optional<JournalScanReport> rep;
  if (!listed->empty()) {
    // Read everything before changing anything: a read error, corruption
    // or a bad epoch record leaves the directory as it was.
    auto facts = ReadSegmentFacts(*listed);
    if (!facts.ok()) return facts.status();
    for (const SegmentFacts& f : *facts) {
      out.highest_segment_epoch = std::max<uint64_t>(out.highest_segment_epoch, f.creator_epoch);
    }
    EpochChecker epochs(std::move(*facts));
    auto scanned = ScanJournal(
        dir, [&](const RecordView& v) { epochs.OnRecord(v); }, [](uint64_t, uint64_t) {});
    if (!scanned.ok()) return scanned.status();
    if (scanned->corrupt && !options.repair) return scanned->CorruptionStatus();
    // Only records before the cut reach the checker: a bad epoch record is
    // among the records kept.
    if (!epochs.error().ok()) return epochs.error();
    out.report.epochs = epochs.count();
    out.report.last_epoch = epochs.last();
    rep = std::move(*scanned);
  }
  // A preallocated next segment that was never renamed holds nothing.
  unlink(absl::StrCat(dir, "/", kNextSegmentTempName).c_str());
  if (rep.has_value()) {
    RecoveryReport& rr = out.report;
    rr.records = rep->records;
    rr.last_lsn = rep->last_lsn;
    rr.lost_markers = rep->lost_markers;
    out.next_lsn = rep->next_lsn;
    out.journal_id = rep->journal_id;
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
                         kEndOfSegment, __ATOMIC_RELEASE);
      }
      if (absl::Status s = (*f)->Sync(); !s.ok()) return s;
    }
    for (size_t i = rep->end_segment + 1; i < rep->segments.size(); ++i) {
      const std::string& path = rep->segments[i].path;
      if (unlink(path.c_str()) != 0) {
        return ErrnoStatus(errno, "remove segment after the cut " + path);
      }
      rr.removed_files.push_back(path);
    }
    const SegmentInfo& end = rep->segments[rep->end_segment];
    if (rep->end_header_torn) {
      if (unlink(end.path.c_str()) != 0) {
        return ErrnoStatus(errno, "remove torn segment " + end.path);
      }
      rr.removed_files.push_back(end.path);
    } else {
      auto ro = MappedFile::OpenReadOnly(end.path);
      if (!ro.ok()) return ro.status();
      auto h = ParseSegmentHeader((*ro)->data(), (*ro)->size(), end.path);
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
      bool sealed = rep->end_sealed;
      bool keep = true;
      if (options.record_epochs && !sealed &&
          h->format_version < kFirstFormatVersionWithReservedRecords &&
          out.next_lsn == h->first_lsn) {
        // A version-1 segment without a record (its writer rolled and died):
        // sealed, it and the new segment after it would share a name.
        // Removed instead (it holds nothing); the epoch record starts a new
        // segment by that name.
        f->reset();
        if (unlink(end.path.c_str()) != 0) {
          return ErrnoStatus(errno, "remove empty version-1 segment " + end.path);
        }
        rr.removed_files.push_back(end.path);
        rr.sealed_for_epoch = true;
        keep = false;
      } else if (options.record_epochs && !sealed &&
                 h->format_version < kFirstFormatVersionWithReservedRecords) {
        // The epoch record must not go into a version-1 segment (a reader
        // of version 1 would take it for a user's record): seal this one
        // here, durably (the marker after records that may already be
        // durable, see FORMAT.md), so that the first append (the epoch
        // record) rolls to a new segment of the current version.
        if (end.end_offset + sizeof(uint32_t) <= (*f)->size()) {
          __atomic_store_n(reinterpret_cast<uint32_t*>((*f)->data() + end.end_offset),
                           kEndOfSegment, __ATOMIC_RELEASE);
        }
        if (absl::Status s = (*f)->Sync(); !s.ok()) return s;
        sealed = true;
        rr.sealed_for_epoch = true;
      }
      if (keep) {
        RecoveredSegment active;
        active.file = std::move(*f);
        active.first_lsn = h->first_lsn;
        active.next_lsn = out.next_lsn;
        active.end_offset = end.end_offset;
        active.sealed = sealed;
        out.active = std::move(active);
      }
    }
    if (sync) {
      // Recovered records may be only in the page cache (the last writer
      // died before its flusher synced them): sync them before they are
      // called durable, or a restarted writer would release replies for
      // records a power cut can still take. fdatasync of a clean file is
      // cheap.
      for (const std::string& path : kept) {
        if (absl::Status s = SyncFile(path); !s.ok()) return s;
      }
      if (out.active.has_value()) {
        if (absl::Status s = out.active->file->Sync(); !s.ok()) return s;
      }
    }
    if (sync || !rr.removed_files.empty()) {
      // Makes removals durable (a power cut must not bring back segments
      // recovery cut, which would contradict the records appended next) and,
      // at kSync, every kept segment's name.
      if (absl::Status s = SyncDirectory(dir); !s.ok()) return s;
    }
  }
  if (out.journal_id != 0 && options.journal_id != 0 && out.journal_id != options.journal_id) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "journal %s has id %016x, not the %016x asked for (JournalOptions::journal_id)", dir,
        out.journal_id, options.journal_id));
  }
  if (out.journal_id == 0) out.journal_id = options.journal_id;
  if (out.journal_id == 0) {
    std::random_device rd;
    out.journal_id = (uint64_t{rd()} << 32) | rd();
  }
  return out;
}

}  // namespace internal
}  // namespace engram
