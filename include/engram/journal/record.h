// Records as callers hand them to the journal and as readers see them.
#ifndef ENGRAM_JOURNAL_RECORD_H_
#define ENGRAM_JOURNAL_RECORD_H_

#include <cstdint>

#include "absl/strings/string_view.h"

namespace engram {

// One record to append. The payload is copied into the journal; the caller
// keeps ownership of the bytes. A zero `timestamp_ns` is replaced by the wall
// clock at append time (replay then reads the time from the record).
struct RecordInput {
  uint64_t stream_id = 0;
  uint64_t stream_version = 0;
  uint32_t type_id = 0;
  uint16_t schema_version = 0;
  uint16_t flags = 0;
  int64_t timestamp_ns = 0;
  absl::string_view payload;
};

// One record as read back. `payload` points into the mapped segment and is
// valid until the reader that produced it moves to the next record.
struct RecordView {
  uint64_t lsn = 0;
  uint64_t stream_id = 0;
  uint64_t stream_version = 0;
  uint32_t type_id = 0;
  uint16_t schema_version = 0;
  uint16_t flags = 0;
  int64_t timestamp_ns = 0;
  // Records in the batch this record opens (1 for a single record); 0 when
  // the record is a later member of a batch.
  uint32_t batch_count = 0;
  absl::string_view payload;
  // The whole record as stored (its 56-byte header, checksum included, and
  // the payload; without the alignment padding), valid as long as
  // `payload`. Replication ships these bytes verbatim, so the checksum
  // travels with the record (journal/FORMAT.md).
  absl::string_view bytes;
};

}  // namespace engram

#endif  // ENGRAM_JOURNAL_RECORD_H_
