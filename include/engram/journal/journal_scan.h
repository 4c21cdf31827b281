// Read-only verification of a whole journal directory: every segment header
// and every record checksum, and where the valid data ends.
//
// JournalScan is what recovery (Journal::Open), `engram journal verify` and
// `engram journal stats` are built on. It never modifies the directory and
// takes no lock, so it may run beside a live writer (records appended while
// it runs may or may not be seen).
#ifndef ENGRAM_JOURNAL_JOURNAL_SCAN_H_
#define ENGRAM_JOURNAL_JOURNAL_SCAN_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engram/journal/record.h"

namespace engram {

struct SegmentInfo {
  std::string path;
  uint64_t first_lsn = 0;
  uint64_t records = 0;      // valid records kept
  uint64_t file_size = 0;
  uint64_t end_offset = 0;   // offset after the last valid record
  bool header_ok = true;     // false: header torn or never written
  // The segment's end marker never reached the disk (a power cut after the
  // roll): its records end in zeros, and the next segment starts exactly at
  // the LSN after its last record. Recovery writes the marker back.
  bool lost_marker = false;
};

struct JournalScanReport {
  std::vector<SegmentInfo> segments;
  uint64_t first_lsn = 0;    // 0 when the journal holds no records
  uint64_t last_lsn = 0;     // 0 when the journal holds no records
  uint64_t next_lsn = 1;     // LSN the next append gets
  uint64_t records = 0;
  uint64_t record_bytes = 0;   // headers + payloads, unaligned
  uint64_t payload_bytes = 0;
  // Journal id from the first segment header that parsed (0: none did).
  uint64_t journal_id = 0;

  // Where valid data ends: segment index and byte offset.
  size_t end_segment = 0;
  uint64_t end_offset = 0;
  // One past the last non-zero byte of the end segment (>= end_offset).
  uint64_t end_trailing = 0;
  // The end segment is sealed (end marker or full): appends go to a new one.
  bool end_sealed = false;
  // The end segment's header is torn or was never written: the file holds
  // nothing valid (recovery removes it).
  bool end_header_torn = false;
  // Segments whose end marker was lost (SegmentInfo::lost_marker).
  uint64_t lost_markers = 0;

  // A torn tail: bytes after the end of valid data that recovery cuts.
  bool torn = false;
  uint64_t torn_bytes = 0;
  std::string torn_file;
  uint64_t torn_offset = 0;
  std::string torn_reason;

  // Corruption: a bad record followed by valid data. Recovery refuses to
  // open unless repair is requested, which cuts at the bad record and drops
  // LSNs corrupt_lsn .. dropped_last_lsn.
  bool corrupt = false;
  std::string corrupt_file;
  uint64_t corrupt_offset = 0;
  uint64_t corrupt_lsn = 0;
  std::string corrupt_reason;
  uint64_t dropped_last_lsn = 0;

  // kDataLoss naming file, offset and LSN when corrupt; OK otherwise.
  absl::Status CorruptionStatus() const;
  // One line describing the torn tail ("" when there is none).
  std::string TornDescription() const;
};

// Scans `dir`. `on_record` sees every valid record before the end of valid
// data, in LSN order; `on_progress(done, total)` sees bytes of segment files
// scanned so far. Errors: kNotFound (no such directory, or no segment files:
// not a journal), kFailedPrecondition (a newer format version), kDataLoss (a
// damaged segment header that is not a torn tail).
absl::StatusOr<JournalScanReport> ScanJournal(
    const std::string& dir,
    absl::FunctionRef<void(const RecordView&)> on_record,
    absl::FunctionRef<void(uint64_t done, uint64_t total)> on_progress);
absl::StatusOr<JournalScanReport> ScanJournal(const std::string& dir);

// Segment files of `dir` sorted by first LSN: (first_lsn, path).
absl::StatusOr<std::vector<std::pair<uint64_t, std::string>>> ListSegments(
    const std::string& dir);

}  // namespace engram

#endif  // ENGRAM_JOURNAL_JOURNAL_SCAN_H_
