// PersistentActorBase::NewId: ids a command puts into its events are unique
// in the journal (across commands, streams and restarts) and come back
// unchanged on replay.
#include <cstdint>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "engram/actors/actor_system.h"
#include "engram/image/memory_image.h"
#include "tests/temp_dir.h"

namespace engram {
namespace {

// Takes `ids` ids and journals the first `events` of them, one event each
// (ids a command takes but does not journal are allowed to vanish).
struct Issue {
  int32_t ids;
  int32_t events;
};
// Emits `n` events that carry no id (to move the stream version on).
struct Pad {
  int32_t n;
};
struct GetIds {};
struct Issued {
  uint64_t id;
};
struct Padded {};

struct IdState {
  std::vector<uint64_t> ids;  // every journaled id of the stream, in order
  uint64_t pads = 0;
  friend void HashState(StateHashWriter& w, const IdState& s) {
    w.AddRange(s.ids);
    w.Add(s.pads);
  }
};

class Issuer : public PersistentActor<IdState> {
 public:
  Issuer() {
    OnCommand([this](const Issue& c) {
      std::vector<uint64_t> taken;
      for (int32_t i = 0; i < c.ids; ++i) taken.push_back(NewId());
      for (int32_t i = 0; i < c.events; ++i) Emit(Issued{taken[static_cast<size_t>(i)]});
    });
    OnCommand([this](const Pad& p) {
      for (int32_t i = 0; i < p.n; ++i) Emit(Padded{});
    });
    OnCommand([this](GetIds) { return state().ids; });
    OnEvent([](IdState& s, const Issued& e) { s.ids.push_back(e.id); });
    OnEvent([](IdState& s, const Padded&) { ++s.pads; });
  }
};

const EventRegistry& Registry() {
  static EventRegistry* r = [] {
    auto* reg = new EventRegistry();
    (void)reg->Register<Issued>("ids.Issued");
    (void)reg->Register<Padded>("ids.Padded");
    return reg;
  }();
  return *r;
}

struct World {
  explicit World(const std::string& dir)
      : system(ActorSystemOptions{.scheduler = {.threads = 2}}), image(system, Registry()) {
    image.RegisterKind<Issuer>("issuer");
    MemoryImage::Options o;
    o.journal.segment_size = 16 << 20;
    status = image.Open(dir, o);
  }
  void Run(uint64_t stream, const Issue& c) {
    REQUIRE(system.Ask<Done>(image.Find(stream).value(), c, absl::Seconds(60)).ok());
  }
  std::vector<uint64_t> Ids(uint64_t stream) {
    return system.Ask<std::vector<uint64_t>>(image.Find(stream).value(), GetIds{},
                                             absl::Seconds(60))
        .value();
  }
  ActorSystem system;
  MemoryImage image;
  absl::Status status;
};

// The commands each stream runs, before and after a restart.
void RunPlan(World& w, uint64_t stream) {
  w.Run(stream, Issue{256, 1});  // many ids, few journaled
  w.Run(stream, Issue{1, 1});
  for (int k = 0; k < 100; ++k) w.Run(stream, Issue{1, 1});
  for (int k = 0; k < 30; ++k) w.Run(stream, Issue{3, 3});
  w.Run(stream, Issue{2, 0});  // ids taken, nothing journaled
  w.Run(stream, Issue{300, 300});
}

TEST_CASE("ids from NewId are unique across commands and streams and after a restart",
          "[image][persistent]") {
  testing::TempDir tmp;
  const std::string dir = tmp.Sub("journal");
  std::vector<std::vector<uint64_t>> before(9);
  {
    World w(dir);
    REQUIRE(w.status.ok());
    for (uint64_t s = 1; s <= 8; ++s) {
      REQUIRE(w.image.Spawn<Issuer>(s).ok());
      RunPlan(w, s);
      before[s] = w.Ids(s);
    }
  }
  World w(dir);
  REQUIRE(w.status.ok());
  absl::flat_hash_set<uint64_t> all;
  size_t total = 0;
  for (uint64_t s = 1; s <= 8; ++s) {
    // Replay gives every stream the ids it had, in the same order.
    REQUIRE(w.Ids(s) == before[s]);
    RunPlan(w, s);  // and new commands after the restart
    const std::vector<uint64_t> ids = w.Ids(s);
    REQUIRE(ids.size() == 2 * before[s].size());
    for (uint64_t id : ids) {
      ++total;
      if (!all.insert(id).second) {
        FAIL_CHECK("stream " << s << ": id " << id << " was journaled before");
      }
    }
  }
  REQUIRE(all.size() == total);
}

TEST_CASE("a stream with a large version does not take another stream's ids",
          "[image][persistent]") {
  testing::TempDir tmp;
  World w(tmp.Sub("journal"));
  REQUIRE(w.status.ok());
  REQUIRE(w.image.Spawn<Issuer>(2).ok());
  REQUIRE(w.image.Spawn<Issuer>(3).ok());
  // Stream 2 reaches version 2^16 (16 batches of 4096 events).
  for (int k = 0; k < 16; ++k) {
    REQUIRE(w.system.Ask<Done>(w.image.Find(2).value(), Pad{4096}, absl::Seconds(60)).ok());
  }
  w.Run(2, Issue{1, 1});
  w.Run(3, Issue{1, 1});
  const std::vector<uint64_t> two = w.Ids(2), three = w.Ids(3);
  REQUIRE(two.size() == 1);
  REQUIRE(three.size() == 1);
  REQUIRE(two[0] != three[0]);
}

TEST_CASE("a command that takes more ids than NewId can tell apart is rejected",
          "[image][persistent]") {
  testing::TempDir tmp;
  World w(tmp.Sub("journal"));
  REQUIRE(w.status.ok());
  ActorRef a = w.image.Spawn<Issuer>(1).value();
  absl::StatusOr<Done> r = w.system.Ask<Done>(a, Issue{70000, 1}, absl::Seconds(60));
  REQUIRE_FALSE(r.ok());
  REQUIRE(absl::StrContains(r.status().message(), "NewId"));
  REQUIRE(w.Ids(1).empty());
  // The actor goes on, and the ids of the next command are fine.
  w.Run(1, Issue{2, 2});
  const std::vector<uint64_t> ids = w.Ids(1);
  REQUIRE(ids.size() == 2);
  REQUIRE(ids[0] != ids[1]);
}

}  // namespace
}  // namespace engram
