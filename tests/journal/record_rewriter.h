// Test helper: rewrites one record of a segment file in place with a
// verifying checksum, to build journals that recovery and replay must
// refuse (a record of another type, a payload that does not decode).
#ifndef ENGRAM_TESTS_JOURNAL_RECORD_REWRITER_H_
#define ENGRAM_TESTS_JOURNAL_RECORD_REWRITER_H_

#include <cstring>
#include <functional>
#include <string>

#include <catch2/catch.hpp>

#include "engram/journal/record.h"
#include "journal/internal/format.h"
#include "journal/internal/segment_scanner.h"
#include "tests/journal/test_util.h"

namespace engram::testing {

// Rewrites the record with LSN `lsn` in segment `path`: `edit` changes its
// header (type id, stream, ...) and payload bytes in place (same length);
// the checksum is recomputed so that the record verifies.
inline void RewriteRecord(
    const std::string& path, uint64_t lsn,
    const std::function<void(internal::RecordHeader*, char* payload, size_t size)>& edit) {
  std::string bytes = testing::ReadFile(path);
  internal::SegmentHeader h;
  std::memcpy(&h, bytes.data(), sizeof h);
  size_t at = 0;
  internal::ScanSegmentRecords(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), h,
                               [&](const RecordView& v, size_t offset) {
                                 if (v.lsn == lsn) at = offset;
                               });
  REQUIRE(at != 0);
  internal::RecordHeader rh;
  std::memcpy(&rh, bytes.data() + at, sizeof rh);
  char* payload = bytes.data() + at + internal::kRecordHeaderSize;
  const size_t size = rh.size - internal::kRecordHeaderSize;
  edit(&rh, payload, size);
  rh.checksum = internal::RecordChecksum(&rh, payload, size);
  std::memcpy(bytes.data() + at, &rh, sizeof rh);
  testing::WriteFile(path, bytes);
}

// Rewrites the record with LSN `lsn` of `path` to type `type_id` (same
// stream, same payload).
inline void RetypeRecord(const std::string& path, uint64_t lsn, uint32_t type_id) {
  RewriteRecord(path, lsn,
                [type_id](internal::RecordHeader* h, char*, size_t) { h->type_id = type_id; });
}

}  // namespace engram::testing

#endif  // ENGRAM_TESTS_JOURNAL_RECORD_REWRITER_H_
