// The on-disk layout of journal segments (see journal/FORMAT.md).
//
// Everything here is little-endian, fixed-size and 8-byte aligned; the
// structs are read and written by memcpy, never through casts of unaligned
// pointers. Thread-safety: constants and pure functions only.
#ifndef ENGRAM_JOURNAL_INTERNAL_FORMAT_H_
#define ENGRAM_JOURNAL_INTERNAL_FORMAT_H_

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include <xxhash.h>

namespace engram::internal {

// "engramJL" read as a little-endian u64.
inline constexpr uint64_t kSegmentMagic = 0x4c4a6d6172676e65ULL;
// The version new segments get; readers accept 1 .. kFormatVersion.
// Version 2: stream 0 may hold the journal's own (reserved type id) records,
// e.g. epoch records (engram/journal/epoch.h); version 1: it holds none.
inline constexpr uint32_t kFormatVersion = 2;
// The oldest version in which reserved records may appear.
inline constexpr uint32_t kFirstFormatVersionWithReservedRecords = 2;
inline constexpr size_t kSegmentHeaderSize = 64;
inline constexpr size_t kRecordHeaderSize = 56;
inline constexpr size_t kRecordAlignment = 8;
// Value of a record's size word that marks "no more records in this segment".
inline constexpr uint32_t kEndOfSegment = 0xFFFFFFFFu;
// Segments are addressed with 32-bit offsets; the reservation word keeps
// headroom above this for writers that overflow a full segment.
inline constexpr uint64_t kMaxSegmentSize = 1ULL << 30;
inline constexpr uint64_t kMinSegmentSize = 4096;

// Segment header, at offset 0 of every segment file.
struct SegmentHeader {
  uint64_t magic;            // kSegmentMagic
  uint32_t format_version;   // kFormatVersion
  uint32_t header_size;      // kSegmentHeaderSize
  uint64_t first_lsn;        // LSN of the first record in this segment
  uint64_t segment_size;     // preallocated file size in bytes
  int64_t created_unix_ns;   // creation time
  uint32_t creator_pid;      // process that created the segment
  // The epoch of the writer that created the segment (version 2; zero in
  // version 1, and when the writer records no epochs). Recovery takes the
  // highest, so the next epoch is right even after retention deleted the
  // segment that held the newest epoch record.
  uint32_t creator_epoch;
  uint64_t journal_id;       // random id shared by all segments of a journal
  uint64_t checksum;         // XXH3-64 of the 56 bytes above
};
static_assert(sizeof(SegmentHeader) == kSegmentHeaderSize);

// Record header. `size` is the commit word: it is stored last, with release
// order, and a record whose size word is zero does not exist yet.
struct RecordHeader {
  uint32_t size;             // header + payload bytes (unaligned); commit word
  uint32_t batch_count;      // records in the batch this one opens; 0 = member
  uint64_t lsn;
  uint64_t stream_id;
  uint64_t stream_version;
  uint32_t type_id;
  uint16_t schema_version;
  uint16_t flags;
  int64_t timestamp_ns;
  uint64_t checksum;         // see RecordChecksum
};
static_assert(sizeof(RecordHeader) == kRecordHeaderSize);
inline constexpr size_t kRecordChecksumOffset = offsetof(RecordHeader, checksum);

inline constexpr size_t AlignRecord(size_t n) {
  return (n + kRecordAlignment - 1) & ~(kRecordAlignment - 1);
}

// XXH3-64 of the payload, seeded with XXH3-64 of the first 48 header bytes
// (everything but the checksum itself).
inline uint64_t RecordChecksum(const void* header48, const void* payload,
                               size_t payload_size) noexcept {
  const uint64_t seed = XXH3_64bits(header48, kRecordChecksumOffset);
  return XXH3_64bits_withSeed(payload, payload_size, seed);
}

inline uint64_t SegmentHeaderChecksum(const SegmentHeader& h) noexcept {
  return XXH3_64bits(&h, offsetof(SegmentHeader, checksum));
}

// File name of the segment whose first record has `first_lsn`.
std::string SegmentFileName(uint64_t first_lsn);
// Parses a segment file name; false if `name` is not one.
bool ParseSegmentFileName(const std::string& name, uint64_t* first_lsn);

inline constexpr const char* kNextSegmentTempName = "next.seg.tmp";
inline constexpr const char* kLockFileName = "LOCK";

}  // namespace engram::internal

#endif  // ENGRAM_JOURNAL_INTERNAL_FORMAT_H_
