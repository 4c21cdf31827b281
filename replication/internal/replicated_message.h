// The body of one replication message and its id (docs/ARCHITECTURE.md,
// "The replicator"): whole journal records back to back, each exactly as
// the journal stores it (56-byte header with its checksum, then the
// payload, no padding), with consecutive LSNs and never part of a batch.
// The message id is "<journal id, 16 hex digits>.<epoch>.<first LSN>".
//
// Thread-safety: pure functions.
#ifndef ENGRAM_REPLICATION_INTERNAL_REPLICATED_MESSAGE_H_
#define ENGRAM_REPLICATION_INTERNAL_REPLICATED_MESSAGE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engram/journal/record.h"

namespace engram::internal {

struct ReplicatedMessageId {
  uint64_t journal_id = 0;
  uint64_t epoch = 0;
  uint64_t first_lsn = 0;
};

std::string FormatMessageId(const ReplicatedMessageId& id);
// kInvalidArgument naming `text` if it is not such an id.
absl::StatusOr<ReplicatedMessageId> ParseMessageId(absl::string_view text);

// What a message body holds, once every record in it checked out.
struct ReplicatedRecords {
  uint64_t first_lsn = 0;
  uint64_t last_lsn = 0;
  // Views into the body (valid as long as it is); `bytes` of each is the
  // record as stored.
  std::vector<RecordView> records;
};

// Splits and checks a body: sizes, checksums, consecutive LSNs, batches
// whole. kDataLoss naming `what` (e.g. "stream S sequence N") and the
// offset of the first record that does not check out.
absl::StatusOr<ReplicatedRecords> ParseReplicatedRecords(absl::string_view body,
                                                         absl::string_view what);

}  // namespace engram::internal

#endif  // ENGRAM_REPLICATION_INTERNAL_REPLICATED_MESSAGE_H_
