#include "journal/internal/format.h"

#include "absl/strings/str_format.h"

namespace engram::internal {

std::string SegmentFileName(uint64_t first_lsn) {
  return absl::StrFormat("%020u.seg", first_lsn);
}

bool ParseSegmentFileName(const std::string& name, uint64_t* first_lsn) {
  if (name.size() != 24 || name.compare(20, 4, ".seg") != 0) return false;
  uint64_t v = 0;
  for (int i = 0; i < 20; ++i) {
    const char c = name[i];
    if (c < '0' || c > '9') return false;
    const uint64_t next = v * 10 + static_cast<uint64_t>(c - '0');
    if (next / 10 != v) return false;  // overflow
    v = next;
  }
  *first_lsn = v;
  return true;
}

}  // namespace engram::internal
