#include "engram/journal/journal_scan.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "journal/internal/format.h"
#include "journal/internal/mapped_file.h"
#include "journal/internal/segment_scanner.h"

namespace engram {

using internal::MappedFile;
using internal::RecordState;

namespace {

bool AllZero(const uint8_t* p, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    if (p[i] != 0) return false;
  }
  return true;
}

// One past the last non-zero byte of p[0, n) (0 when all zero).
uint64_t NonZeroEnd(const uint8_t* p, size_t n) {
  while (n > 0 && p[n - 1] == 0) --n;
  return n;
}

// The bytes of one segment file, read with pread rather than mapped: a
// read error (EIO from a failing disk) is then a status naming file and
// offset, not a SIGBUS. The buffer is reused from file to file.
class SegmentBytes {
 public:
  absl::Status Read(const std::string& path) {
    const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return internal::ErrnoStatus(errno, absl::StrCat("open segment ", path));
    struct stat st;
    if (fstat(fd, &st) != 0) {
      const int e = errno;
      close(fd);
      return internal::ErrnoStatus(e, absl::StrCat("stat segment ", path));
    }
    size_ = static_cast<size_t>(st.st_size);
    if (size_ > capacity_) {
      buf_.reset(new uint8_t[size_]);
      capacity_ = size_;
    }
    size_t done = 0;
    while (done < size_) {
      const ssize_t n = pread(fd, buf_.get() + done, size_ - done, static_cast<off_t>(done));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        const int e = errno;
        close(fd);
        return internal::ErrnoStatus(
            e, absl::StrFormat("read segment %s at byte offset %u (nothing was changed)", path,
                               done));
      }
      if (n == 0) break;  // shrank while being read: scan what is there
      done += static_cast<size_t>(n);
    }
    close(fd);
    size_ = done;
    return absl::OkStatus();
  }
  const uint8_t* data() const { return buf_.get(); }
  size_t size() const { return size_; }

 private:
  std::unique_ptr<uint8_t[]> buf_;
  size_t capacity_ = 0;
  size_t size_ = 0;
};

// True if the segment at `path` is a segment of journal `journal_id` that
// starts at `lsn` with a whole, verified record.
bool NextSegmentContinues(const std::string& path, uint64_t lsn, uint64_t journal_id) {
  SegmentBytes f;
  if (!f.Read(path).ok()) return false;
  auto h = internal::ParseSegmentHeader(f.data(), f.size(), path);
  if (!h.ok() || h->first_lsn != lsn || h->journal_id != journal_id) return false;
  return internal::CheckRecordAt(f.data(), f.size(), h->segment_size,
                                 internal::kSegmentHeaderSize, lsn)
             .state == RecordState::kValid;
}

}  // namespace

absl::Status JournalScanReport::CorruptionStatus() const {
  if (!corrupt) return absl::OkStatus();
  return absl::DataLossError(absl::StrFormat(
      "corrupt journal: %s at byte offset %u (LSN %u): %s; valid records "
      "follow up to LSN %u. Open with repair to truncate there, dropping LSNs "
      "%u..%u",
      corrupt_file, corrupt_offset, corrupt_lsn, corrupt_reason,
      dropped_last_lsn, corrupt_lsn, std::max(dropped_last_lsn, corrupt_lsn)));
}

std::string JournalScanReport::TornDescription() const {
  if (!torn) return "";
  return absl::StrFormat("torn tail: %u bytes at %s offset %u (%s)", torn_bytes,
                         torn_file, torn_offset, torn_reason);
}

absl::StatusOr<std::vector<std::pair<uint64_t, std::string>>> ListSegments(
    const std::string& dir) {
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) {
    int e = errno;
    if (e == ENOENT) {
      return absl::NotFoundError(
          absl::StrCat("journal directory ", dir, " does not exist"));
    }
    if (e == ENOTDIR) {
      return absl::NotFoundError(absl::StrCat(dir, " is not a directory"));
    }
    return internal::ErrnoStatus(e, absl::StrCat("open directory ", dir));
  }
  std::vector<std::pair<uint64_t, std::string>> out;
  while (struct dirent* ent = readdir(d)) {
    uint64_t lsn;
    if (internal::ParseSegmentFileName(ent->d_name, &lsn)) {
      out.emplace_back(lsn, absl::StrCat(dir, "/", ent->d_name));
    }
  }
  closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

absl::StatusOr<JournalScanReport> ScanJournal(const std::string& dir) {
  return ScanJournal(
      dir, [](const RecordView&) {}, [](uint64_t, uint64_t) {});
}

absl::StatusOr<JournalScanReport> ScanJournal(
    const std::string& dir,
    absl::FunctionRef<void(const RecordView&)> on_record,
    absl::FunctionRef<void(uint64_t done, uint64_t total)> on_progress) {
  auto listed = ListSegments(dir);
  if (!listed.ok()) return listed.status();
  if (listed->empty()) {
    return absl::NotFoundError(absl::StrCat(
        dir, " is not a journal (no segment files named <LSN>.seg)"));
  }
  JournalScanReport rep;
  uint64_t total = 0, done = 0;
  for (auto& [lsn, path] : *listed) {
    struct stat st;
    if (stat(path.c_str(), &st) == 0) total += static_cast<uint64_t>(st.st_size);
  }
  SegmentBytes f;
  bool ended = false;     // the end of valid data has been found
  bool end_bad = false;   // ...and it was a bad record
  uint64_t expected = 0;  // LSN the next segment must start with
  for (size_t i = 0; i < listed->size(); ++i) {
    const auto& [name_lsn, path] = (*listed)[i];
    if (absl::Status read = f.Read(path); !read.ok()) return read;
    SegmentInfo info;
    info.path = path;
    info.first_lsn = name_lsn;
    info.file_size = f.size();
    const bool last = i + 1 == listed->size();
    if (ended) {
      // Past the end of valid data: everything here is either a torn tail
      // or, if it holds valid records after a bad one, proof of corruption.
      auto h = internal::ParseSegmentHeader(f.data(), f.size(), path);
      uint64_t bytes = f.size();
      if (h.ok()) {
        auto s = internal::ScanSegmentRecords(f.data(), f.size(), *h,
                                              [](const RecordView&, size_t) {});
        bytes = s.trailing_end;
        if (s.records > 0 && end_bad) {
          rep.corrupt = true;
          rep.dropped_last_lsn =
              std::max(rep.dropped_last_lsn, s.next_lsn - 1);
        }
      }
      rep.torn_bytes += bytes;
      info.records = 0;
      info.end_offset = 0;
      rep.segments.push_back(info);
      done += f.size();
      on_progress(done, total);
      continue;
    }
    auto h = internal::ParseSegmentHeader(f.data(), f.size(), path);
    if (!h.ok()) {
      if (h.status().code() == absl::StatusCode::kFailedPrecondition) {
        return h.status();
      }
      const bool short_file = f.size() < internal::kSegmentHeaderSize;
      if (short_file || AllZero(f.data(), internal::kSegmentHeaderSize)) {
        // Cut inside its header, or created and preallocated but its header
        // never reached the disk (a power cut before the first sync that
        // covered it): nothing in it was ever durable. An unwritten segment,
        // not corruption; everything from here on is a torn tail.
        info.header_ok = false;
        rep.segments.push_back(info);
        rep.end_segment = i;
        rep.end_offset = 0;
        rep.end_trailing = 0;
        rep.end_sealed = false;
        rep.end_header_torn = true;
        rep.torn_bytes = short_file ? f.size() : NonZeroEnd(f.data(), f.size());
        rep.torn_file = path;
        rep.torn_offset = 0;
        rep.torn_reason = short_file ? "segment header cut short"
                                     : "segment header never written (all zero)";
        if (expected == 0) expected = name_lsn;
        ended = true;
        done += f.size();
        on_progress(done, total);
        continue;
      }
      return h.status();
    }
    if (rep.journal_id == 0) rep.journal_id = h->journal_id;
    if (h->first_lsn != name_lsn) {
      return absl::DataLossError(absl::StrFormat(
          "%s: header says first LSN %u but the file name says %u", path,
          h->first_lsn, name_lsn));
    }
    if (expected != 0 && h->first_lsn != expected) {
      return absl::DataLossError(absl::StrFormat(
          "%s: segment starts at LSN %u but the previous segment ends before "
          "LSN %u (a segment is missing or misplaced)",
          path, h->first_lsn, expected));
    }
    auto scan = internal::ScanSegmentRecords(
        f.data(), f.size(), *h, [&](const RecordView& v, size_t) {
          ++rep.records;
          rep.record_bytes += v.payload.size() + internal::kRecordHeaderSize;
          rep.payload_bytes += v.payload.size();
          on_record(v);
        });
    info.records = scan.records;
    info.end_offset = scan.end_offset;
    rep.segments.push_back(info);
    if (scan.records > 0 && rep.first_lsn == 0) rep.first_lsn = h->first_lsn;
    expected = scan.next_lsn;
    rep.end_segment = i;
    rep.end_offset = scan.end_offset;
    rep.end_trailing = scan.trailing_end;
    rep.end_sealed = scan.stop == RecordState::kEndMarker ||
                     scan.stop == RecordState::kFull;
    done += f.size();
    on_progress(done, total);
    if (scan.stop == RecordState::kEndMarker ||
        scan.stop == RecordState::kFull) {
      if (scan.trailing_end > scan.end_offset + sizeof(uint32_t)) {
        rep.corrupt = true;
        rep.corrupt_file = path;
        rep.corrupt_offset = scan.end_offset;
        rep.corrupt_lsn = scan.next_lsn;
        rep.corrupt_reason = "non-zero bytes after the end-of-segment marker";
        rep.dropped_last_lsn = std::max(scan.next_lsn, scan.max_lsn_after);
        ended = true;
        end_bad = true;
      }
      continue;
    }
    if (scan.stop == RecordState::kEmpty && scan.trailing_end == scan.end_offset &&
        !last && (*listed)[i + 1].first == scan.next_lsn &&
        NextSegmentContinues((*listed)[i + 1].second, scan.next_lsn, h->journal_id)) {
      // Zeros to the end, and the next segment starts exactly at the next
      // LSN with a record that verifies: the writer sealed this segment,
      // but its end marker never reached the disk (it is written after the
      // segment's last record). A lost marker, not a torn tail.
      rep.segments.back().lost_marker = true;
      ++rep.lost_markers;
      continue;
    }
    // kEmpty or kBad: the end of valid data.
    ended = true;
    // A record torn by a power cut (bad_unwritten) ends the data like a
    // hole does: nothing after it was durable.
    end_bad = scan.stop == RecordState::kBad && !scan.bad_unwritten;
    rep.torn_file = path;
    rep.torn_offset = scan.end_offset;
    rep.torn_bytes = scan.trailing_end - scan.end_offset;
    if (end_bad) {
      rep.torn_reason = scan.bad_reason;
    } else if (scan.stop == RecordState::kBad) {
      rep.torn_reason = absl::StrCat(
          "a record torn by a power cut (part of it never reached the disk: ",
          scan.bad_reason, ")");
    } else {
      rep.torn_reason = "unpublished bytes after the last whole record";
    }
    if (end_bad && scan.valid_after) {
      rep.corrupt = true;
      rep.dropped_last_lsn = scan.max_lsn_after;
    }
    if (end_bad) {
      rep.corrupt_file = path;
      rep.corrupt_offset = scan.end_offset;
      rep.corrupt_lsn = scan.next_lsn;
      rep.corrupt_reason = scan.bad_reason;
    }
  }
  if (rep.corrupt) {
    rep.torn = false;
    rep.torn_bytes = 0;
  } else {
    rep.torn = rep.torn_bytes > 0;
    if (!rep.torn) rep.torn_reason.clear();
  }
  rep.next_lsn = expected;
  rep.last_lsn = rep.records > 0 ? expected - 1 : 0;
  return rep;
}

}  // namespace engram
