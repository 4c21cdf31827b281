#include "engram/journal/epoch.h"

#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"

namespace engram {
namespace {

// Payload layout (journal/FORMAT.md, "Epoch records"), little-endian:
//   0 epoch:u64  8 journal_id:u64  16 previous_epoch:u64  24 base_lsn:u64
//   32 start_unix_ns:i64  40 pid:u32  44 node_size:u32  48 node:u8[node_size]
template <class T>
void Put(std::string* out, T v) {
  char b[sizeof(T)];
  std::memcpy(b, &v, sizeof v);  // little-endian hosts only (FORMAT.md)
  out->append(b, sizeof b);
}

template <class T>
T Get(absl::string_view p, size_t at) {
  T v;
  std::memcpy(&v, p.data() + at, sizeof v);
  return v;
}

}  // namespace

std::string EncodeEpochRecord(const EpochRecord& e) {
  std::string out;
  out.reserve(kEpochFixedBytes + e.node.size());
  Put<uint64_t>(&out, e.epoch);
  Put<uint64_t>(&out, e.journal_id);
  Put<uint64_t>(&out, e.previous_epoch);
  Put<uint64_t>(&out, e.base_lsn);
  Put<int64_t>(&out, e.start_unix_ns);
  Put<uint32_t>(&out, e.pid);
  Put<uint32_t>(&out, static_cast<uint32_t>(e.node.size()));
  out += e.node;
  return out;
}

absl::StatusOr<EpochRecord> DecodeEpochRecord(absl::string_view p) {
  if (p.size() < kEpochFixedBytes) {
    return absl::DataLossError(absl::StrFormat(
        "epoch record payload of %u bytes is shorter than its fixed part (%u bytes)",
        p.size(), kEpochFixedBytes));
  }
  EpochRecord e;
  e.epoch = Get<uint64_t>(p, 0);
  e.journal_id = Get<uint64_t>(p, 8);
  e.previous_epoch = Get<uint64_t>(p, 16);
  e.base_lsn = Get<uint64_t>(p, 24);
  e.start_unix_ns = Get<int64_t>(p, 32);
  e.pid = Get<uint32_t>(p, 40);
  const uint32_t node_size = Get<uint32_t>(p, 44);
  if (node_size > kMaxEpochNodeBytes) {
    return absl::DataLossError(absl::StrFormat(
        "epoch record node name of %u bytes is longer than %u bytes", node_size,
        kMaxEpochNodeBytes));
  }
  if (p.size() != kEpochFixedBytes + node_size) {
    return absl::DataLossError(absl::StrFormat(
        "epoch record payload is %u bytes, expected %u (%u fixed + %u node name)", p.size(),
        kEpochFixedBytes + node_size, kEpochFixedBytes, node_size));
  }
  if (e.epoch == 0 || e.previous_epoch >= e.epoch) {
    return absl::DataLossError(absl::StrFormat(
        "epoch record has epoch %u and previous epoch %u (an epoch is >= 1 and above the "
        "previous one)",
        e.epoch, e.previous_epoch));
  }
  if (e.base_lsn == 0) return absl::DataLossError("epoch record has base LSN 0");
  e.node.assign(p.data() + kEpochFixedBytes, node_size);
  return e;
}

std::string DescribeEpochRecord(const EpochRecord& e) {
  return absl::StrFormat(
      "epoch %u (previous %u) from LSN %u, node %s pid %u, started %s", e.epoch,
      e.previous_epoch, e.base_lsn, e.node.empty() ? "?" : e.node, e.pid,
      absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", absl::FromUnixNanos(e.start_unix_ns),
                       absl::UTCTimeZone()));
}

}  // namespace engram
