// Epoch records: who wrote a journal, tenure by tenure.
//
// Every writer's tenure (one Journal::Open with JournalOptions::
// record_epochs) starts with an epoch record in stream 0, appended and
// synced before the writer accepts its first record: epoch number, journal
// id, the previous epoch, the epoch's first LSN (base LSN), node, pid and
// start time. Later work fences a former writer by its epoch (same-host
// takeover, JetStream message ids); see DESIGN.md, "Replication".
//
// The type ids kReservedTypeIdFirst..kReservedTypeIdLast of stream 0 are
// the journal's own records (segment format version 2, journal/FORMAT.md);
// kEpochTypeId is the only one this build knows. The payload layout is
// fixed, little-endian and documented in journal/FORMAT.md ("Epoch
// records"); DecodeEpochRecord is the single parser.
//
// Thread-safety: plain values and pure functions.
#ifndef ENGRAM_JOURNAL_EPOCH_H_
#define ENGRAM_JOURNAL_EPOCH_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engram/journal/record.h"

namespace engram {

// Stream 0 type ids reserved for the journal's own records.
inline constexpr uint32_t kReservedTypeIdFirst = 0xFFFFFF00u;
inline constexpr uint32_t kReservedTypeIdLast = 0xFFFFFFFFu;
// The epoch record's type id (stream 0) and payload schema version.
inline constexpr uint32_t kEpochTypeId = 0xFFFFFFFFu;
inline constexpr uint16_t kEpochSchemaVersion = 1;
// The stream the journal's own records go to.
inline constexpr uint64_t kJournalStreamId = 0;
// Longest node name an epoch record holds, in bytes.
inline constexpr size_t kMaxEpochNodeBytes = 255;
// Payload bytes before the node name.
inline constexpr size_t kEpochFixedBytes = 48;

struct EpochRecord {
  uint64_t epoch = 0;           // >= 1, greater than every earlier epoch
  uint64_t journal_id = 0;      // the segment headers' journal id
  uint64_t previous_epoch = 0;  // the epoch before (0: the first)
  uint64_t base_lsn = 0;        // LSN of this record: the tenure's first LSN
  std::string node;             // the writer's host (or JournalOptions::node_name)
  uint32_t pid = 0;             // the writer's process id
  int64_t start_unix_ns = 0;    // when the tenure started (wall clock)

  friend bool operator==(const EpochRecord&, const EpochRecord&) = default;
};

// True for a type id in the reserved range (meaningful in stream 0).
constexpr bool IsReservedTypeId(uint32_t type_id) noexcept {
  return type_id >= kReservedTypeIdFirst;
}

// True for a record that is an epoch record (stream 0, kEpochTypeId).
inline bool IsEpochRecord(const RecordView& v) noexcept {
  return v.stream_id == kJournalStreamId && v.type_id == kEpochTypeId;
}

// The payload of `e` (kEpochFixedBytes + node bytes). The node name must
// be at most kMaxEpochNodeBytes long (Journal::Open checks it).
std::string EncodeEpochRecord(const EpochRecord& e);

// Parses an epoch record's payload. kDataLoss, naming what is wrong, for a
// payload that is short, long, has a node name longer than
// kMaxEpochNodeBytes, or an epoch of 0 or not above previous_epoch, or a
// base LSN of 0. Never reads outside `payload`.
absl::StatusOr<EpochRecord> DecodeEpochRecord(absl::string_view payload);

// One line for people: "epoch 2 (previous 1) from LSN 17, node host pid 42,
// started 2026-12-02T04:40:30.123456Z".
std::string DescribeEpochRecord(const EpochRecord& e);

}  // namespace engram

#endif  // ENGRAM_JOURNAL_EPOCH_H_
