// libFuzzer target: the replication message body (a remote follower's
// input from the network). ParseReplicatedRecords must never crash or read
// outside its input; what it accepts must be whole records that tile the
// body exactly, with consecutive LSNs and whole batches; the message id
// parser must round-trip what it accepts.
#include <cstddef>
#include <cstdint>
#include <string>

#include "replication/internal/replicated_message.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<engram::internal::ReplicatedRecords> r =
      engram::internal::ParseReplicatedRecords(input, "fuzz");
  if (r.ok()) {
    if (r->records.empty()) __builtin_trap();
    size_t covered = 0;
    uint64_t lsn = r->first_lsn;
    uint32_t batch_left = 0;
    for (const engram::RecordView& v : r->records) {
      if (v.lsn != lsn++ || v.bytes.data() != input.data() + covered) __builtin_trap();
      if (v.bytes.size() != 56 + v.payload.size()) __builtin_trap();
      if (batch_left > 0) {
        if (v.batch_count != 0) __builtin_trap();
        --batch_left;
      } else {
        if (v.batch_count == 0) __builtin_trap();
        batch_left = v.batch_count - 1;
      }
      covered += v.bytes.size();
    }
    if (covered != input.size() || batch_left != 0 || lsn != r->last_lsn + 1) __builtin_trap();
  } else if (r.status().code() != absl::StatusCode::kDataLoss) {
    __builtin_trap();
  }
  absl::StatusOr<engram::internal::ReplicatedMessageId> id =
      engram::internal::ParseMessageId(input);
  if (id.ok() && engram::internal::ParseMessageId(engram::internal::FormatMessageId(*id))
                         .value()
                         .first_lsn != id->first_lsn) {
    __builtin_trap();
  }
  return 0;
}
