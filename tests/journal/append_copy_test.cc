// Journal::AppendCopy: a replica's journal gets the original's records
// byte for byte (LSNs, timestamps, epoch records, batches), and a record
// that does not continue the copy is refused without writing anything.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "engram/journal/journal.h"
#include "engram/journal/reader.h"
#include "tests/journal/test_util.h"

namespace engram {
namespace {

using testing::PayloadFor;
using testing::TempDir;

// Every record of `dir`, with its bytes copied out of the mapping.
struct Copied {
  std::vector<RecordView> views;
  std::vector<std::string> bytes;
};

Copied ReadAll(const std::string& dir) {
  Copied c;
  auto r = Reader::Open(dir, 1);
  REQUIRE(r.ok());
  RecordView v;
  while ((*r)->Next(&v).value()) {
    c.bytes.emplace_back(v.bytes);
    c.views.push_back(v);
  }
  // Re-point the views at the copies (the mapping moves on with the reader).
  for (size_t i = 0; i < c.views.size(); ++i) {
    const std::string& b = c.bytes[i];
    c.views[i].bytes = b;
    c.views[i].payload = absl::string_view(b).substr(56);
  }
  return c;
}

TEST_CASE("a copied journal holds the original's records byte for byte", "[journal]") {
  TempDir original, copy;
  {
    JournalOptions o;
    o.record_epochs = true;
    o.segment_size = 16 << 10;
    auto j = Journal::Open(original.path(), o);
    REQUIRE(j.ok());
    for (uint64_t i = 0; i < 300; ++i) {
      const std::string p = PayloadFor(i, i % 90);
      RecordInput r;
      r.stream_id = 1 + i % 4;
      r.type_id = 3;
      r.payload = p;
      if (i % 10 == 0) {
        RecordInput batch[4] = {r, r, r, r};
        REQUIRE((*j)->AppendBatch(batch).ok());
      } else {
        REQUIRE((*j)->Append(r).ok());
      }
    }
    REQUIRE((*j)->Close().ok());
  }
  const Copied all = ReadAll(original.path());
  uint64_t id = 0;
  {
    auto r = Reader::Open(original.path(), 1);
    id = (*r)->writer_state().value().journal_id;
  }
  JournalOptions o;
  o.journal_id = id;
  o.segment_size = 8 << 10;  // other roll points than the original's
  auto j = Journal::Open(copy.path(), o);
  REQUIRE(j.ok());
  CHECK((*j)->journal_id() == id);
  // In pieces that end at batch boundaries, as messages do.
  size_t i = 0;
  while (i < all.views.size()) {
    size_t n = 0;
    do {
      n += all.views[i + n].batch_count;
    } while (i + n < all.views.size() && n < 25);
    auto last = (*j)->AppendCopy(absl::MakeConstSpan(all.views).subspan(i, n));
    REQUIRE(last.ok());
    CHECK(*last == all.views[i + n - 1].lsn);
    i += n;
  }
  REQUIRE((*j)->Close().ok());
  const Copied back = ReadAll(copy.path());
  REQUIRE(back.bytes.size() == all.bytes.size());
  for (size_t k = 0; k < all.bytes.size(); ++k) REQUIRE(back.bytes[k] == all.bytes[k]);
  // Reopened with another id asked for, the copy refuses.
  o.journal_id = id ^ 1;
  CHECK(absl::IsFailedPrecondition(Journal::Open(copy.path(), o).status()));
}

TEST_CASE("a copied record that does not continue the copy is refused", "[journal]") {
  TempDir original, copy;
  {
    auto j = Journal::Open(original.path());
    REQUIRE(j.ok());
    RecordInput r;
    r.payload = "x";
    RecordInput batch[3] = {r, r, r};
    REQUIRE((*j)->Append(r).ok());
    REQUIRE((*j)->AppendBatch(batch).ok());
    REQUIRE((*j)->Close().ok());
  }
  const Copied all = ReadAll(original.path());
  REQUIRE(all.views.size() == 4);
  auto j = Journal::Open(copy.path());
  REQUIRE(j.ok());
  // LSN 2 before LSN 1.
  absl::Status gap = (*j)->AppendCopy(absl::MakeConstSpan(all.views).subspan(1, 3)).status();
  CHECK(absl::IsInvalidArgument(gap));
  CHECK(absl::StrContains(gap.message(), "LSN 2 does not follow LSN 0"));
  REQUIRE((*j)->AppendCopy(absl::MakeConstSpan(all.views).subspan(0, 1)).ok());
  // Half a batch.
  absl::Status half = (*j)->AppendCopy(absl::MakeConstSpan(all.views).subspan(1, 2)).status();
  CHECK(absl::IsInvalidArgument(half));
  CHECK((*j)->last_lsn() == 1);
  REQUIRE((*j)->AppendCopy(absl::MakeConstSpan(all.views).subspan(1, 3)).ok());
  CHECK((*j)->last_lsn() == 4);
}

}  // namespace
}  // namespace engram
