#ifndef ENGRAM_IMAGE_INTERNAL_CATALOG_ENTRY_H_
#define ENGRAM_IMAGE_INTERNAL_CATALOG_ENTRY_H_

// The type catalog record of a memory image's journal: stream 0, type 0,
// payload "<type id>=<type name>" (journal/FORMAT.md). The one encoder and
// parser, used by the image's recovery and by `engram journal`.

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace engram::internal {

struct CatalogEntry {
  uint32_t type_id = 0;
  std::string name;
};

// True for the records that carry a catalog entry.
inline bool IsCatalogRecord(uint64_t stream_id, uint32_t type_id) noexcept {
  return stream_id == 0 && type_id == 0;
}

inline std::string EncodeCatalogEntry(uint32_t type_id, absl::string_view name) {
  return absl::StrCat(type_id, "=", name);
}

// DATA_LOSS naming the payload when it is not "<decimal id>=<name>".
inline absl::StatusOr<CatalogEntry> ParseCatalogEntry(absl::string_view payload) {
  const size_t eq = payload.find('=');
  CatalogEntry entry;
  if (eq == absl::string_view::npos || eq == 0 ||
      !absl::SimpleAtoi(payload.substr(0, eq), &entry.type_id)) {
    return absl::DataLossError(
        absl::StrCat("malformed type catalog entry '", payload, "'"));
  }
  entry.name = std::string(payload.substr(eq + 1));
  return entry;
}

}  // namespace engram::internal

#endif  // ENGRAM_IMAGE_INTERNAL_CATALOG_ENTRY_H_
