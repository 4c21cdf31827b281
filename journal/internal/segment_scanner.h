// Validation of segment bytes: the single place that decides whether bytes
// are a segment header, a whole record, a batch, the end of the data, or
// damage. Used by recovery, Reader, JournalScanner, the CLI and the fuzzer.
//
// Thread-safety: pure functions over caller-owned bytes. The size (commit)
// word of a record is read with acquire order, so a live reader that sees a
// non-zero size word also sees the record body (and, for a batch head, the
// whole batch) that the writer stored before its release store.
#ifndef ENGRAM_JOURNAL_INTERNAL_SEGMENT_SCANNER_H_
#define ENGRAM_JOURNAL_INTERNAL_SEGMENT_SCANNER_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "journal/internal/format.h"
#include "engram/journal/record.h"

namespace engram::internal {

enum class RecordState {
  kValid,      // a whole record (or a whole batch) with good checksums
  kEmpty,      // size word is zero: nothing written here (yet)
  kEndMarker,  // the writer sealed the segment here
  kFull,       // no room left for another size word in this segment
  kBad,        // a size word was published but the bytes do not check out
};

struct RecordCheck {
  RecordState state = RecordState::kEmpty;
  size_t bytes = 0;       // kValid: aligned bytes of the record or batch
  uint32_t records = 0;   // kValid: records in the batch (1 if single)
  std::string reason;     // kBad: what is wrong
};

// Checks the record or batch starting at `offset` of `data[0, size)`, which
// must carry LSN `lsn`. `segment_size` is the size the header declares: an
// offset past the end of a shorter (truncated) buffer reads as kEmpty.
RecordCheck CheckRecordAt(const uint8_t* data, size_t size,
                          uint64_t segment_size, size_t offset,
                          uint64_t lsn) noexcept;

// Decodes the (already checked) record at `offset`.
RecordView DecodeRecord(const uint8_t* data, size_t offset) noexcept;

// Parses and checks the segment header. `file` names the segment in errors.
// A newer format version gives kFailedPrecondition; anything else that is
// not a segment header gives kDataLoss.
absl::StatusOr<SegmentHeader> ParseSegmentHeader(const uint8_t* data,
                                                 size_t size,
                                                 const std::string& file);

// The outcome of scanning every record of one segment.
struct SegmentScan {
  uint64_t next_lsn = 0;     // LSN after the last valid record
  size_t end_offset = 0;     // offset after the last valid record
  uint64_t records = 0;      // valid records
  RecordState stop = RecordState::kEmpty;  // why the scan stopped
  std::string bad_reason;    // stop == kBad
  // When the scan stopped at kEmpty or kBad: one past the last non-zero byte
  // at or after end_offset (== end_offset when the rest is all zero)...
  size_t trailing_end = 0;
  // ...and whether a record with a valid checksum lies after end_offset
  // (evidence that the stop is damage in the middle, not a torn tail).
  bool valid_after = false;
  uint64_t max_lsn_after = 0;  // largest LSN among those records
  size_t first_valid_after = 0;  // offset of the first of them
  // stop == kBad: the bad record's bytes from some point on are zero up to
  // a 4 KiB page end, before any valid record after it: the signature of a
  // page that a power cut kept from the disk while a later one reached it
  // (the journal writes each byte once, into zeroed space). Such a record
  // was never durable, so neither was anything after it: a torn tail, not
  // corruption.
  bool bad_unwritten = false;
};

// Scans the records of a segment whose header is `header`, calling
// `on_record` for each valid one in order.
SegmentScan ScanSegmentRecords(
    const uint8_t* data, size_t size, const SegmentHeader& header,
    absl::FunctionRef<void(const RecordView&, size_t offset)> on_record);

}  // namespace engram::internal

#endif  // ENGRAM_JOURNAL_INTERNAL_SEGMENT_SCANNER_H_
