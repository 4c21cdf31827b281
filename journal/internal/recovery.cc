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

// Fails with kFailedPrecondition if any segment of `dir` has a newer format
// version. Reads only: runs before the lock file or anything else in the
// directory is touched.
absl::Status CheckFormatVersions(const std::string& dir) {
  auto listed = ListSegments(dir);
  if (!listed.ok()) return listed.status();
  for (const auto& [lsn, path] : *listed) {
    // pread, not a mapping: a read error is a status, not a SIGBUS.
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
    auto h = ParseSegmentHeader(header, static_cast<size_t>(n), path);
    if (!h.ok() && h.status().code() == absl::StatusCode::kFailedPrecondition) {
      return h.status();
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status JournalRecovery::PrepareDirectory(const std::string& dir,
                                               const JournalOptions& options) {
  const bool sync = options.durability == Durability::kSync;
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
  if (created_dir || sync) {
    if (absl::Status s = SyncDirectory(ParentDir(dir)); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<RecoveredJournal> JournalRecovery::Recover(
    const std::string& dir, const JournalOptions& options) {
  const bool sync = options.durability == Durability::kSync;
  RecoveredJournal out;
  auto listed = ListSegments(dir);
  if (!listed.ok()) return listed.status();
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
      RecoveredSegment active;
      active.file = std::move(*f);
      active.first_lsn = h->first_lsn;
      active.next_lsn = out.next_lsn;
      active.end_offset = end.end_offset;
      active.sealed = rep->end_sealed;
      out.active = std::move(active);
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
  if (out.journal_id == 0) {
    std::random_device rd;
    out.journal_id = (uint64_t{rd()} << 32) | rd();
  }
  return out;
}

}  // namespace internal
}  // namespace engram
