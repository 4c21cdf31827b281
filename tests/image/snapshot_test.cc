#include <stdlib.h>

#include <algorithm>
#include <cstring>
#include <iterator>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "absl/strings/match.h"
#include "engram/actors/actor_system.h"
#include "tests/temp_dir.h"
#include "engram/image/memory_image.h"
#include "engram/image/snapshot_store.h"

namespace engram {
namespace {

struct Add {
  int64_t n;
};
struct Get {};
struct Added {
  int64_t n;
};
struct Total {
  int64_t sum = 0;
  int64_t count = 0;
  // No HashState: trivially copyable without padding, hashed by its bytes.
};

class Summer : public PersistentActor<Total> {
 public:
  Summer() {
    OnCommand([this](const Add& a) { Emit(Added{a.n}); });
    OnCommand([this](Get) { return state().sum; });
    OnEvent([](Total& t, const Added& e) {
      t.sum += e.n;
      ++t.count;
    });
  }
};

struct Unsnappable {
  std::vector<int> v;
  friend void HashState(StateHashWriter& w, const Unsnappable& u) { w.AddRange(u.v); }
};
class Lister : public PersistentActor<Unsnappable> {
 public:
  Lister() {
    OnCommand([this](const Add& a) { Emit(Added{a.n}); });
    OnEvent([](Unsnappable& u, const Added& e) { u.v.push_back(static_cast<int>(e.n)); });
  }
};

const EventRegistry& Registry() {
  static EventRegistry* r = [] {
    auto* reg = new EventRegistry();
    REQUIRE(reg->Register<Added>("sum.Added").ok());
    return reg;
  }();
  return *r;
}

struct Image {
  explicit Image(const std::string& dir, uint64_t every = 0)
      : system(ActorSystemOptions{.scheduler = {.threads = 2}}), image(system, Registry()) {
    image.RegisterKind<Summer>("summer");
    image.RegisterKind<Lister>("lister");
    MemoryImage::Options o;
    o.journal.segment_size = 1 << 20;
    o.snapshot_every = every;
    status = image.Open(dir, o);
  }
  int64_t Sum(uint64_t id) {
    return system.Ask<int64_t>(image.Find(id).value(), Get{}, absl::Seconds(60)).value();
  }
  void AddAll(uint64_t id, int from, int to) {
    ActorRef a = image.Find(id).value();
    for (int k = from; k <= to; ++k) REQUIRE(system.Ask<Done>(a, Add{k}, absl::Seconds(60)).ok());
  }
  ActorSystem system;
  MemoryImage image;
  absl::Status status;
};

TEST_CASE("recovery loads the newest snapshot and replays only the events after it",
          "[image][snapshot]") {
  testing::TempDir tmp;
  const std::string dir = tmp.Sub("journal");
  uint64_t live = 0;
  {
    Image m(dir);
    REQUIRE(m.status.ok());
    REQUIRE(m.image.Spawn<Summer>(1).ok());
    m.AddAll(1, 1, 50);
    REQUIRE(m.image.Snapshot(1).ok());
    m.AddAll(1, 51, 100);
    live = m.image.ImageHash().value();
  }
  Image m(dir);
  REQUIRE(m.status.ok());
  REQUIRE(m.image.recovery().snapshots_loaded == 1);
  REQUIRE(m.image.recovery().events_skipped == 50);
  REQUIRE(m.image.recovery().events == 50);
  REQUIRE(m.Sum(1) == 5050);
  REQUIRE(m.image.ImageHash().value() == live);
  // Commands after a snapshot-based recovery continue the stream.
  m.AddAll(1, 1, 1);
  REQUIRE(m.Sum(1) == 5051);
}

TEST_CASE("the every-N policy writes a snapshot every N events per actor",
          "[image][snapshot]") {
  testing::TempDir tmp;
  const std::string dir = tmp.Sub("journal");
  {
    Image m(dir, 10);
    REQUIRE(m.status.ok());
    REQUIRE(m.image.Spawn<Summer>(7).ok());
    m.AddAll(7, 1, 35);
  }
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir + "/snapshots")) {
    files += absl::EndsWith(e.path().string(), ".snap");
  }
  REQUIRE(files == 2);  // versions 20 and 30 kept; 10 deleted
  Image m(dir);
  REQUIRE(m.status.ok());
  REQUIRE(m.image.recovery().events_skipped == 30);
  REQUIRE(m.Sum(7) == 35 * 36 / 2);
}

TEST_CASE("a corrupt newest snapshot falls back to the previous one and says so",
          "[image][snapshot]") {
  testing::TempDir tmp;
  const std::string dir = tmp.Sub("journal");
  {
    Image m(dir);
    REQUIRE(m.status.ok());
    REQUIRE(m.image.Spawn<Summer>(1).ok());
    m.AddAll(1, 1, 30);
    REQUIRE(m.image.Snapshot(1).ok());
    m.AddAll(1, 31, 60);
    REQUIRE(m.image.Snapshot(1).ok());
    m.AddAll(1, 61, 70);
  }
  std::vector<std::string> snaps;
  for (const auto& e : std::filesystem::directory_iterator(dir + "/snapshots")) {
    snaps.push_back(e.path().string());
  }
  std::sort(snaps.begin(), snaps.end());
  REQUIRE(snaps.size() == 2);
  {  // flip a byte of the newest snapshot's state
    std::fstream f(snaps.back(), std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(50);
    char c;
    f.read(&c, 1);
    c = static_cast<char>(c ^ 0x5a);
    f.seekp(50);
    f.write(&c, 1);
  }
  Image m(dir);
  REQUIRE(m.status.ok());
  REQUIRE(m.image.recovery().snapshots_rejected.size() == 1);
  REQUIRE(m.image.recovery().snapshots_rejected[0].file == snaps.back());
  REQUIRE(absl::StrContains(m.image.recovery().snapshots_rejected[0].reason, "checksum"));
  REQUIRE(m.image.recovery().events_skipped == 30);  // the older snapshot
  REQUIRE(m.Sum(1) == 70 * 71 / 2);
}

TEST_CASE("a state without a snapshot codec is refused with an error naming it",
          "[image][snapshot]") {
  testing::TempDir tmp;
  Image m(tmp.Sub("journal"));
  REQUIRE(m.status.ok());
  REQUIRE(m.image.Spawn<Lister>(1).ok());
  absl::Status s = m.image.Snapshot(1);
  REQUIRE(s.code() == absl::StatusCode::kUnimplemented);
  REQUIRE(absl::StrContains(s.message(), "Unsnappable"));
}

TEST_CASE("a snapshot file is refused when truncated, renamed or not a snapshot",
          "[image][snapshot]") {
  testing::TempDir tmp;
  const std::string dir = tmp.Sub("snaps");
  SnapshotStore store(dir);
  REQUIRE(store.Init().ok());
  REQUIRE(store.Write({5, 10, 99, "state-bytes"}).ok());
  std::vector<SnapshotStore::Rejected> rejected;
  auto loaded = store.LoadNewest(&rejected);
  REQUIRE(loaded.ok());
  REQUIRE(loaded->size() == 1);
  REQUIRE((*loaded)[0].state == "state-bytes");
  REQUIRE((*loaded)[0].lsn == 99);
  // Truncate it: no snapshot for stream 5 any more, and the reason is given.
  const std::string file = std::filesystem::directory_iterator(dir)->path().string();
  std::filesystem::resize_file(file, 30);
  rejected.clear();
  loaded = store.LoadNewest(&rejected);
  REQUIRE(loaded.ok());
  REQUIRE(loaded->empty());
  REQUIRE(rejected.size() == 1);
}

}  // namespace
}  // namespace engram

namespace engram {
namespace {

// Total grown by one field: its snapshots of the old Total no longer decode.
struct TotalV2 {
  int64_t sum = 0;
  int64_t count = 0;
  int64_t largest = 0;
  // No HashState: trivially copyable without padding, hashed by its bytes.
};
class SummerV2 : public PersistentActor<TotalV2> {
 public:
  SummerV2() {
    OnCommand([this](Get) { return state().sum; });
    OnEvent([](TotalV2& t, const Added& e) {
      t.sum += e.n;
      ++t.count;
      t.largest = std::max(t.largest, e.n);
    });
  }
};

TEST_CASE("a snapshot that does not decode falls back to replaying the stream and says so",
          "[image][snapshot]") {
  testing::TempDir tmp;
  const std::string dir = tmp.Sub("journal");
  {
    Image m(dir);
    REQUIRE(m.status.ok());
    REQUIRE(m.image.Spawn<Summer>(1).ok());
    m.AddAll(1, 1, 40);
    REQUIRE(m.image.Snapshot(1).ok());
    m.AddAll(1, 41, 50);
  }
  ActorSystem system(ActorSystemOptions{.scheduler = {.threads = 2}});
  MemoryImage image(system, Registry());
  image.RegisterKind<SummerV2>("summer");
  MemoryImage::Options o;
  o.journal.segment_size = 1 << 20;
  REQUIRE(image.Open(dir, o).ok());
  // Every event is applied: none is skipped on the strength of a snapshot
  // that could not be restored.
  CHECK(image.recovery().snapshots_loaded == 0);
  CHECK(image.recovery().events_skipped == 0);
  CHECK(image.recovery().events == 50);
  REQUIRE(image.recovery().snapshots_rejected.size() == 1);
  CHECK(absl::StrContains(image.recovery().snapshots_rejected[0].reason, "version 40"));
  CHECK(system.Ask<int64_t>(image.Find(1).value(), Get{}, absl::Seconds(60)).value() ==
        50 * 51 / 2);
}

TEST_CASE("a snapshot beyond the journal's end is refused on recovery", "[image][snapshot]") {
  testing::TempDir tmp;
  const std::string dir = tmp.Sub("journal");
  {
    Image m(dir);
    REQUIRE(m.status.ok());
    REQUIRE(m.image.Spawn<Summer>(1).ok());
    m.AddAll(1, 1, 20);
    REQUIRE(m.image.Snapshot(1).ok());  // version 20
    m.AddAll(1, 21, 30);
    REQUIRE(m.image.Snapshot(1).ok());  // version 30
  }
  // A power cut took the journal's events after stream version 25 (the
  // records are in one segment): the newest snapshot (version 30) holds
  // state the journal lost; the older one (version 20) is still covered.
  {
    const std::string seg = dir + "/00000000000000000001.seg";
    std::string bytes;
    {
      std::ifstream in(seg, std::ios::binary);
      bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
    size_t off = 64, cut = 0;
    while (cut == 0) {
      uint32_t size;
      std::memcpy(&size, bytes.data() + off, 4);
      REQUIRE(size != 0);
      uint64_t stream, version;
      std::memcpy(&stream, bytes.data() + off + 16, 8);
      std::memcpy(&version, bytes.data() + off + 24, 8);
      off += (size + 7) & ~size_t{7};
      if (stream == 1 && version == 25) cut = off;
    }
    std::fill(bytes.begin() + static_cast<std::ptrdiff_t>(cut), bytes.end(), '\0');
    std::ofstream out(seg, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }
  Image m(dir);
  REQUIRE(m.status.ok());
  CHECK(m.image.recovery().snapshots_loaded == 1);  // version 20, not 30
  CHECK(m.image.recovery().events_skipped == 20);
  REQUIRE(m.image.recovery().snapshots_rejected.size() == 1);
  CHECK(absl::StrContains(m.image.recovery().snapshots_rejected[0].reason,
                          "beyond the journal's end"));
  CHECK(m.Sum(1) == 25 * 26 / 2);
}

}  // namespace
}  // namespace engram

namespace engram {
namespace {

TEST_CASE("SpawnAll journals every stream and its first event as one batch", "[image]") {
  testing::TempDir tmp;
  const std::string dir = tmp.Sub("journal");
  const std::vector<uint64_t> ids = {3, 4, 5};
  {
    Image m(dir);
    REQUIRE(m.status.ok());
    auto last = m.image.SpawnAll<Summer>(ids, [](uint64_t id) {
      return Added{static_cast<int64_t>(id) * 10};
    });
    REQUIRE(last.ok());
    for (uint64_t id : ids) CHECK(m.Sum(id) == static_cast<int64_t>(id) * 10);
    // Errors leave nothing behind.
    const std::vector<uint64_t> twice = {8, 8};
    auto dup = m.image.SpawnAll<Summer>(twice, [](uint64_t) { return Added{1}; });
    CHECK(dup.status().code() == absl::StatusCode::kInvalidArgument);
    const std::vector<uint64_t> exists = {9, 3};
    auto again = m.image.SpawnAll<Summer>(exists, [](uint64_t) { return Added{1}; });
    CHECK(again.status().code() == absl::StatusCode::kAlreadyExists);
    CHECK_FALSE(m.image.Find(8).ok());
    CHECK_FALSE(m.image.Find(9).ok());
    m.AddAll(4, 1, 2);
  }
  // One batch: its head counts every creation record and first event.
  auto r = Reader::Open(dir);
  REQUIRE(r.ok());
  RecordView v;
  bool found = false;
  while ((*r)->Next(&v).value()) {
    if (v.stream_id == 3 && v.type_id == 0) {
      CHECK(v.batch_count == 2 * ids.size());
      found = true;
    }
  }
  CHECK(found);
  Image m(dir);
  REQUIRE(m.status.ok());
  CHECK(m.Sum(3) == 30);
  CHECK(m.Sum(4) == 43);
  CHECK(m.Sum(5) == 50);
}

}  // namespace
}  // namespace engram
