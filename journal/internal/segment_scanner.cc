#include "journal/internal/segment_scanner.h"

#include <algorithm>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"

namespace engram::internal {
namespace {

uint32_t LoadSizeWord(const uint8_t* p) noexcept {
  // Pairs with the writer's release store of the size word.
  return __atomic_load_n(reinterpret_cast<const uint32_t*>(p), __ATOMIC_ACQUIRE);
}

// Checks one record at `offset` (not the batch it may open).
RecordCheck CheckOne(const uint8_t* data, size_t size, uint64_t segment_size,
                     size_t offset, uint64_t lsn) noexcept {
  RecordCheck r;
  if (offset + sizeof(uint32_t) > size) {
    r.state = size >= segment_size ? RecordState::kFull : RecordState::kEmpty;
    return r;
  }
  const uint32_t word = LoadSizeWord(data + offset);
  if (word == 0) return r;  // kEmpty
  if (word == kEndOfSegment) {
    r.state = RecordState::kEndMarker;
    return r;
  }
  r.state = RecordState::kBad;
  if (word < kRecordHeaderSize || word > size - offset) {
    r.reason = absl::StrFormat(
        "record size %u out of range (header %u, %u bytes left in file)",
        word, kRecordHeaderSize, size - offset);
    return r;
  }
  const size_t aligned = AlignRecord(word);
  if (aligned > size - offset) {
    r.reason = absl::StrFormat("record padding of %u bytes runs past the end",
                               aligned - word);
    return r;
  }
  RecordHeader h;
  std::memcpy(&h, data + offset, sizeof h);
  const uint64_t sum =
      RecordChecksum(data + offset, data + offset + kRecordHeaderSize,
                     word - kRecordHeaderSize);
  if (sum != h.checksum) {
    r.reason = absl::StrFormat("checksum mismatch (stored %016x, computed %016x)",
                               h.checksum, sum);
    return r;
  }
  if (h.lsn != lsn) {
    r.reason = absl::StrFormat("LSN %u where %u was expected", h.lsn, lsn);
    return r;
  }
  for (size_t i = word; i < aligned; ++i) {
    if (data[offset + i] != 0) {
      r.reason = absl::StrFormat("non-zero padding byte at offset %u", offset + i);
      return r;
    }
  }
  r.state = RecordState::kValid;
  r.bytes = aligned;
  r.records = h.batch_count;
  return r;
}

}  // namespace

RecordCheck CheckRecordAt(const uint8_t* data, size_t size,
                          uint64_t segment_size, size_t offset,
                          uint64_t lsn) noexcept {
  RecordCheck head = CheckOne(data, size, segment_size, offset, lsn);
  if (head.state != RecordState::kValid) return head;
  const uint32_t n = head.records;
  if (n == 0) {
    head.state = RecordState::kBad;
    head.reason = "batch member without a batch head";
    return head;
  }
  size_t off = offset + head.bytes;
  for (uint32_t i = 1; i < n; ++i) {
    RecordCheck m = CheckOne(data, size, segment_size, off, lsn + i);
    if (m.state != RecordState::kValid || m.records != 0) {
      RecordCheck bad;
      bad.state = RecordState::kBad;
      bad.records = n;  // lets the caller tell the batch's own members apart
      bad.reason = absl::StrFormat(
          "incomplete batch of %u records: record %u at offset %u is %s", n,
          i + 1, off,
          m.state == RecordState::kValid ? "not a batch member"
          : m.state == RecordState::kBad ? m.reason
                                         : "missing");
      return bad;
    }
    off += m.bytes;
  }
  head.bytes = off - offset;
  head.records = n;
  return head;
}

RecordView DecodeRecord(const uint8_t* data, size_t offset) noexcept {
  RecordHeader h;
  std::memcpy(&h, data + offset, sizeof h);
  RecordView v;
  v.lsn = h.lsn;
  v.stream_id = h.stream_id;
  v.stream_version = h.stream_version;
  v.type_id = h.type_id;
  v.schema_version = h.schema_version;
  v.flags = h.flags;
  v.timestamp_ns = h.timestamp_ns;
  v.batch_count = h.batch_count;
  v.payload = absl::string_view(
      reinterpret_cast<const char*>(data + offset + kRecordHeaderSize),
      h.size - kRecordHeaderSize);
  v.bytes = absl::string_view(reinterpret_cast<const char*>(data + offset), h.size);
  return v;
}

absl::StatusOr<SegmentHeader> ParseSegmentHeader(const uint8_t* data,
                                                 size_t size,
                                                 const std::string& file) {
  SegmentHeader h;
  if (size < kSegmentHeaderSize) {
    return absl::DataLossError(absl::StrFormat(
        "%s: file is %u bytes, shorter than a segment header (%u bytes)", file,
        size, kSegmentHeaderSize));
  }
  std::memcpy(&h, data, sizeof h);
  if (h.magic != kSegmentMagic) {
    return absl::DataLossError(absl::StrFormat(
        "%s: not a journal segment (bad magic %016x at offset 0)", file,
        h.magic));
  }
  if (h.format_version > kFormatVersion) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "%s: journal format version %u is newer than this build supports "
        "(%u); upgrade engram to read it",
        file, h.format_version, kFormatVersion));
  }
  if (SegmentHeaderChecksum(h) != h.checksum) {
    return absl::DataLossError(absl::StrFormat(
        "%s: segment header checksum mismatch at offset 0", file));
  }
  if (h.format_version == 0 || h.header_size != kSegmentHeaderSize ||
      h.segment_size < kMinSegmentSize || h.segment_size > kMaxSegmentSize ||
      h.first_lsn == 0) {
    return absl::DataLossError(absl::StrFormat(
        "%s: segment header has invalid fields (version %u, header size %u, "
        "segment size %u, first LSN %u)",
        file, h.format_version, h.header_size, h.segment_size, h.first_lsn));
  }
  return h;
}

namespace {

// Looks at the bytes from `from` on for anything written: sets
// trailing_end, valid_after and max_lsn_after of `scan`.
void ScanAfterStop(const uint8_t* data, size_t size, size_t from,
                   uint64_t min_lsn, SegmentScan* scan) {
  scan->trailing_end = from;
  size_t i = size;
  // Word at a time over the (usually long) zero tail.
  while (i >= from + 8 && (i & 7) == 0) {
    uint64_t w;
    std::memcpy(&w, data + i - 8, sizeof w);
    if (w != 0) break;
    i -= 8;
  }
  for (; i > from; --i) {
    if (data[i - 1] != 0) {
      scan->trailing_end = i;
      break;
    }
  }
  if (scan->trailing_end == from) return;
  // No record after `from` can have an LSN beyond this.
  const uint64_t max_lsn = min_lsn + (size - from) / kRecordHeaderSize + 1;
  for (size_t off = AlignRecord(from + 1); off + kRecordHeaderSize <= size;
       off += kRecordAlignment) {
    uint32_t word;
    std::memcpy(&word, data + off, sizeof word);
    if (word < kRecordHeaderSize || word == kEndOfSegment ||
        word > size - off) {
      continue;
    }
    RecordHeader h;
    std::memcpy(&h, data + off, sizeof h);
    // Cheap plausibility first, so random bytes are rarely hashed.
    if (h.lsn < min_lsn || h.lsn > max_lsn) continue;  // < min_lsn: a whole
                                                      // member of a torn batch
    if (RecordChecksum(data + off, data + off + kRecordHeaderSize,
                       word - kRecordHeaderSize) != h.checksum) {
      continue;
    }
    if (!scan->valid_after) scan->first_valid_after = off;
    scan->valid_after = true;
    if (h.lsn > scan->max_lsn_after) scan->max_lsn_after = h.lsn;
    // Walk on from the end of this record.
    off += AlignRecord(word) - kRecordAlignment;
  }
}

// True if for some 4 KiB page ending at or before `end`, the bytes from
// max(from, page start) to the page end are all zero.
bool ZeroToPageEnd(const uint8_t* data, size_t from, size_t end) {
  constexpr size_t kPage = 4096;
  for (size_t page_end = (from / kPage + 1) * kPage; page_end <= end; page_end += kPage) {
    size_t i = std::max(from, page_end - kPage);
    while (i < page_end && data[i] == 0) ++i;
    if (i == page_end) return true;
  }
  return false;
}

}  // namespace

SegmentScan ScanSegmentRecords(
    const uint8_t* data, size_t size, const SegmentHeader& header,
    absl::FunctionRef<void(const RecordView&, size_t offset)> on_record) {
  SegmentScan scan;
  scan.next_lsn = header.first_lsn;
  size_t off = kSegmentHeaderSize;
  uint32_t batch_members = 0;
  if (size > header.segment_size) size = header.segment_size;
  for (;;) {
    RecordCheck c =
        CheckRecordAt(data, size, header.segment_size, off, scan.next_lsn);
    if (c.state != RecordState::kValid) {
      if (c.state == RecordState::kBad) batch_members = c.records;
      scan.stop = c.state;
      scan.bad_reason = std::move(c.reason);
      break;
    }
    size_t roff = off;
    for (uint32_t i = 0; i < c.records; ++i) {
      RecordView v = DecodeRecord(data, roff);
      on_record(v, roff);
      roff += AlignRecord(v.payload.size() + kRecordHeaderSize);
    }
    off += c.bytes;
    scan.next_lsn += c.records;
    scan.records += c.records;
  }
  scan.end_offset = off;
  scan.trailing_end = off;
  if (scan.stop == RecordState::kEmpty || scan.stop == RecordState::kBad) {
    ScanAfterStop(data, size, off, scan.next_lsn + batch_members, &scan);
  }
  if (scan.stop == RecordState::kBad) {
    scan.bad_unwritten =
        ZeroToPageEnd(data, off, scan.valid_after ? scan.first_valid_after : size);
  } else if (scan.stop == RecordState::kEndMarker) {
    // Nothing may follow the end marker.
    ScanAfterStop(data, size, off + sizeof(uint32_t), scan.next_lsn, &scan);
  }
  return scan;
}

}  // namespace engram::internal
