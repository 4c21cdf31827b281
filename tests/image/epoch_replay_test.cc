// The memory image and the journal's epoch records: a writable image
// starts every tenure with one, replay skips them (and reports the last),
// and a reserved stream 0 record this build does not know stops replay.
#include <cstring>
#include <string>

#include <catch2/catch.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "engram/actors/actor_system.h"
#include "engram/image/memory_image.h"
#include "engram/journal/epoch.h"
#include "engram/journal/journal.h"
#include "engram/journal/reader.h"
#include "journal/internal/format.h"
#include "journal/internal/segment_scanner.h"
#include "tests/journal/record_rewriter.h"
#include "tests/journal/test_util.h"
#include "tests/image/tallier.h"
#include "tests/temp_dir.h"

namespace engram {
namespace {

using testing::Bump;
using testing::Bumped;
using testing::Get;
using testing::Tallier;

EventRegistry MakeRegistry() {
  EventRegistry reg;
  REQUIRE(reg.Register<Bumped>("tally.Bumped").ok());
  return reg;
}

struct Image {
  Image(const EventRegistry& reg, const std::string& dir, bool read_only = false)
      : system(ActorSystemOptions{.scheduler = {.threads = 2}}), image(system, reg) {
    image.RegisterKind<Tallier>("tallier");
    MemoryImage::Options o;
    o.journal.segment_size = 1 << 20;
    o.journal.node_name = "image-node";
    o.read_only = read_only;
    status = image.Open(dir, o);
  }
  int64_t Value(uint64_t stream) {
    return system.Ask<int64_t>(image.Find(stream).value(), Get{}, absl::Seconds(60)).value();
  }
  ActorSystem system;
  MemoryImage image;
  absl::Status status;
};

TEST_CASE("a writable image starts each tenure with an epoch and replay skips them",
          "[image][epoch]") {
  const EventRegistry reg = MakeRegistry();
  testing::TempDir tmp;
  const std::string dir = tmp.Sub("journal");
  {
    Image f(reg, dir);
    REQUIRE(f.status.ok());
    // The image forces record_epochs on: its journal's LSN 1 is epoch 1,
    // and replay saw it.
    REQUIRE(f.image.journal()->epoch() == 1);
    CHECK(f.image.journal()->epoch_record().node == "image-node");
    CHECK(f.image.recovery().epochs == 1);
    REQUIRE(f.image.recovery().last_epoch.has_value());
    CHECK(f.image.recovery().last_epoch->epoch == 1);
    CHECK(f.image.recovery().last_epoch->base_lsn == 1);
    ActorRef t = f.image.Spawn<Tallier>(1).value();  // LSN 2
    for (int k = 1; k <= 3; ++k) {  // LSN 3 catalogs tally.Bumped; LSNs 4..6
      REQUIRE(f.system.Ask<Done>(t, Bump{k}, absl::Seconds(60)).ok());
    }
  }
  {
    Image f(reg, dir);
    REQUIRE(f.status.ok());
    CHECK(f.image.journal()->epoch() == 2);
    CHECK(f.image.journal()->epoch_record().base_lsn == 7);
    // Replay met both epochs (the second is this writer's own) and applied
    // the events around them.
    CHECK(f.image.recovery().epochs == 2);
    CHECK(f.image.recovery().last_epoch == f.image.journal()->epoch_record());
    CHECK(f.image.recovery().events == 3);
    CHECK(f.image.recovery().streams == 1);
    CHECK(f.Value(1) == 6);
    REQUIRE(f.system.Ask<Done>(f.image.Find(1).value(), Bump{10}, absl::Seconds(60)).ok());
  }
  // A read-only image writes no epoch; stepping names the epoch records.
  Image ro(reg, dir, /*read_only=*/true);
  REQUIRE(ro.status.ok());
  CHECK(ro.image.recovery().epochs == 2);
  CHECK(ro.Value(1) == 16);
  auto r = Reader::Open(dir, 0).value();
  RecordView v;
  uint64_t epochs = 0, last = 0;
  while (r->Next(&v).value()) {
    epochs += IsEpochRecord(v);
    last = v.lsn;
  }
  CHECK(epochs == 2);
  CHECK(last == 8);

  // A read-only image replayed to LSN 1 (the first epoch) steps on from
  // there and names the second epoch record when it meets it.
  ActorSystem system(ActorSystemOptions{.scheduler = {.threads = 2}});
  MemoryImage image(system, reg);
  image.RegisterKind<Tallier>("tallier");
  MemoryImage::Options o;
  o.read_only = true;
  o.replay_to_lsn = 1;
  REQUIRE(image.Open(dir, o).ok());
  CHECK(image.recovery().epochs == 1);
  MemoryImage::ReplayStep s;
  REQUIRE(image.Step(&s).value());
  CHECK(s.lsn == 2);
  CHECK(s.created_kind == "tallier");
  REQUIRE(image.RunUntil([](const MemoryImage::ReplayStep& x) { return x.type_name == "$epoch"; },
                         &s)
              .value());
  CHECK(s.lsn == 7);
  CHECK(s.stream_id == 0);
  CHECK(image.recovery().epochs == 2);
  CHECK(image.recovery().last_epoch->epoch == 2);
}

TEST_CASE("a reserved stream 0 record this build does not know stops replay",
          "[image][epoch]") {
  const EventRegistry reg = MakeRegistry();
  testing::TempDir tmp;
  const std::string dir = tmp.Sub("journal");
  uint64_t lsn = 0;
  {
    Image f(reg, dir);
    REQUIRE(f.status.ok());
    REQUIRE(f.system.Ask<Done>(f.image.Spawn<Tallier>(1).value(), Bump{1}, absl::Seconds(60))
                .ok());
  }
  {
    // What a newer engram might write: stream 0, a reserved type other than
    // the epoch. (This build refuses to append one, so retype a record.)
    JournalOptions o;
    o.segment_size = 1 << 20;
    auto j = Journal::Open(dir, o);
    REQUIRE(j.ok());
    RecordInput in;
    in.stream_id = 0;
    in.type_id = 1;
    in.schema_version = 1;
    in.payload = "from the future";
    lsn = (*j)->Append(in).value();
  }
  const uint32_t unknown = kReservedTypeIdFirst + 0x10;
  testing::RetypeRecord(dir + "/" + internal::SegmentFileName(1), lsn, unknown);
  const std::string expected = absl::StrFormat(
      "LSN %u: stream 0 record type 0x%08X is reserved for the journal's own records and "
      "unknown to this build (written by a newer engram?)",
      lsn, unknown);
  for (bool read_only : {false, true}) {
    INFO("read_only " << read_only);
    Image f(reg, dir, read_only);
    CHECK(f.status.code() == absl::StatusCode::kFailedPrecondition);
    CHECK(std::string(f.status.message()) == expected);
  }
}

TEST_CASE("an epoch record that does not decode stops a read-only replay naming its LSN",
          "[image][epoch]") {
  const EventRegistry reg = MakeRegistry();
  testing::TempDir tmp;
  const std::string dir = tmp.Sub("journal");
  {
    Image f(reg, dir);
    REQUIRE(f.status.ok());
    REQUIRE(f.image.Spawn<Tallier>(1).ok());  // LSN 2
  }
  // A stream 0 record retyped as an epoch record, with a payload that is
  // not one (this build refuses to append it directly).
  uint64_t lsn = 0;
  {
    JournalOptions o;
    o.segment_size = 1 << 20;
    auto j = Journal::Open(dir, o);
    REQUIRE(j.ok());
    RecordInput in;
    in.stream_id = 0;
    in.type_id = 1;
    in.schema_version = kEpochSchemaVersion;
    in.payload = "short";
    lsn = (*j)->Append(in).value();
  }
  testing::RetypeRecord(dir + "/" + internal::SegmentFileName(1), lsn, kEpochTypeId);
  // The writable image's journal refuses it at recovery; a read-only image
  // (no journal recovery) at replay.
  Image w(reg, dir);
  CHECK(w.status.code() == absl::StatusCode::kDataLoss);
  CHECK(absl::StrContains(w.status.message(), absl::StrCat("LSN ", lsn, ":")));
  Image ro(reg, dir, /*read_only=*/true);
  CHECK(ro.status.code() == absl::StatusCode::kDataLoss);
  CHECK(absl::StrContains(ro.status.message(), absl::StrCat("LSN ", lsn, ":")));
}

}  // namespace
}  // namespace engram
