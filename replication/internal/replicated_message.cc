#include "replication/internal/replicated_message.h"

#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "journal/internal/format.h"
#include "journal/internal/segment_scanner.h"

namespace engram::internal {

std::string FormatMessageId(const ReplicatedMessageId& id) {
  return absl::StrFormat("%016x.%u.%u", id.journal_id, id.epoch, id.first_lsn);
}

absl::StatusOr<ReplicatedMessageId> ParseMessageId(absl::string_view text) {
  std::vector<absl::string_view> parts = absl::StrSplit(text, '.');
  ReplicatedMessageId id;
  if (parts.size() != 3 || parts[0].size() != 16 ||
      !absl::SimpleHexAtoi(parts[0], &id.journal_id) ||
      !absl::SimpleAtoi(parts[1], &id.epoch) || !absl::SimpleAtoi(parts[2], &id.first_lsn) ||
      id.first_lsn == 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "message id \"%s\" is not <journal id>.<epoch>.<first LSN>", text));
  }
  return id;
}

absl::StatusOr<ReplicatedRecords> ParseReplicatedRecords(absl::string_view body,
                                                         absl::string_view what) {
  ReplicatedRecords out;
  const auto* data = reinterpret_cast<const uint8_t*>(body.data());
  size_t offset = 0;
  uint32_t batch_left = 0;  // members still due after a batch head
  auto bad = [&](const std::string& why) {
    return absl::DataLossError(
        absl::StrFormat("%s: record at offset %u of %u: %s", what, offset, body.size(), why));
  };
  if (body.empty()) return bad("the message holds no record");
  while (offset < body.size()) {
    if (body.size() - offset < kRecordHeaderSize) return bad("truncated header");
    RecordHeader h;
    std::memcpy(&h, data + offset, sizeof h);
    if (h.size < kRecordHeaderSize || h.size > body.size() - offset) {
      return bad(absl::StrFormat("size %u does not fit", h.size));
    }
    const uint8_t* payload = data + offset + kRecordHeaderSize;
    if (RecordChecksum(data + offset, payload, h.size - kRecordHeaderSize) != h.checksum) {
      return bad(absl::StrFormat("checksum mismatch (LSN %u)", h.lsn));
    }
    if (!out.records.empty() && h.lsn != out.last_lsn + 1) {
      return bad(absl::StrFormat("LSN %u after LSN %u", h.lsn, out.last_lsn));
    }
    if (h.lsn == 0) return bad("LSN 0");
    if (batch_left > 0) {
      if (h.batch_count != 0) return bad("a batch ends early");
      --batch_left;
    } else {
      if (h.batch_count == 0) return bad("a batch member without its head");
      batch_left = h.batch_count - 1;
    }
    // Checked above: the record lies whole inside the body.
    out.records.push_back(DecodeRecord(data, offset));
    if (out.records.size() == 1) out.first_lsn = h.lsn;
    out.last_lsn = h.lsn;
    offset += h.size;
  }
  if (batch_left > 0) return bad(absl::StrFormat("a batch lacks its last %u records", batch_left));
  return out;
}

}  // namespace engram::internal
