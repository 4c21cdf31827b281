#include "replication/internal/stream_search.h"

#include "absl/strings/str_format.h"
#include "replication/internal/replicated_message.h"

namespace engram::internal {

absl::StatusOr<JetStreamMessage> FindMessageHolding(JetStream& js, const std::string& stream,
                                                    uint64_t lsn) {
  absl::StatusOr<JetStreamInfo> info = js.StreamInfo(stream);
  if (!info.ok()) return info.status();
  uint64_t lo = info->first_sequence, hi = info->last_sequence;
  while (lo != 0 && lo <= hi) {
    const uint64_t mid = lo + (hi - lo) / 2;
    absl::StatusOr<JetStreamMessage> m = js.GetMessage(stream, mid);
    if (!m.ok()) return m.status();
    absl::StatusOr<ReplicatedRecords> records = ParseReplicatedRecords(
        m->data, absl::StrFormat("stream %s sequence %u", stream, mid));
    if (!records.ok()) return records.status();
    if (records->last_lsn < lsn) {
      lo = mid + 1;
    } else if (records->first_lsn > lsn) {
      hi = mid - 1;
    } else {
      return *std::move(m);
    }
  }
  return absl::NotFoundError(
      absl::StrFormat("stream %s holds no message with LSN %u", stream, lsn));
}

}  // namespace engram::internal
