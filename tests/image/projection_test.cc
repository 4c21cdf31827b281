// Projections: catch up from the journal, then follow live publications,
// without a gap or a duplicate at the switch; rebuilt after a restart.
#include <atomic>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "absl/container/flat_hash_set.h"
#include "engram/actors/actor_system.h"
#include "engram/bus/event_bus.h"
#include "engram/image/memory_image.h"
#include "engram/image/projection.h"
#include "tests/temp_dir.h"

namespace engram {
namespace {

struct Deposit {
  int64_t amount;
};
struct Deposited {
  int64_t amount;
};
struct Noted {
  int32_t n;
};
struct Note {};
struct Balance {
  int64_t value = 0;
  // No HashState: trivially copyable without padding, hashed by its bytes.
};

class Account : public PersistentActor<Balance> {
 public:
  Account() {
    OnCommand([this](const Deposit& d) { Emit(Deposited{d.amount}); });
    OnCommand([this](Note) { Emit(Noted{1}); });
    OnEvent([](Balance& b, const Deposited& e) { b.value += e.amount; });
    OnEvent([](Balance&, const Noted&) {});
  }
};

struct Totals {
  int64_t sum = 0;
  int64_t count = 0;
  int64_t duplicates = 0;
  uint64_t checkpoint = 0;
};
struct GetTotals {};

// Sums every Deposited across streams and counts LSNs seen twice.
class DepositTotals : public Projection {
 public:
  DepositTotals() {
    On([this](const Deposited& e, const EventMeta& m) {
      if (!seen_.insert(m.lsn).second) ++totals_.duplicates;
      totals_.sum += e.amount;
      ++totals_.count;
    });
    Handle([this](GetTotals) {
      Totals t = totals_;
      t.checkpoint = checkpoint();
      return t;
    });
  }

 private:
  Totals totals_;
  absl::flat_hash_set<uint64_t> seen_;
};

struct World {
  explicit World(const std::string& dir, bool read_only = false)
      : system(ActorSystemOptions{.scheduler = {.threads = 2}}),
        bus(system, "image-test"),
        image(system, Registry()) {
    image.RegisterKind<Account>("account");
    MemoryImage::Options o;
    o.journal.segment_size = 1 << 20;
    o.bus = &bus;
    o.read_only = read_only;
    status = image.Open(dir, o);
  }
  static const EventRegistry& Registry() {
    static EventRegistry* r = [] {
      auto* reg = new EventRegistry();
      (void)reg->Register<Deposited>("acct.Deposited");
      (void)reg->Register<Noted>("acct.Noted");
      return reg;
    }();
    return *r;
  }
  Totals Get(const ActorRef& p) {
    return system.Ask<Totals>(p, GetTotals{}, absl::Seconds(60)).value();
  }
  ActorSystem system;
  EventBus bus;
  MemoryImage image;
  absl::Status status;
};

TEST_CASE("a projection switches from catch-up to live without a gap or a duplicate",
          "[image][projection]") {
  testing::TempDir tmp;
  World w(tmp.Sub("journal"));
  REQUIRE(w.status.ok());
  std::vector<ActorRef> accounts;
  for (uint64_t id = 1; id <= 8; ++id) accounts.push_back(w.image.Spawn<Account>(id).value());
  // History before the projection exists.
  int64_t expected_sum = 0, expected_count = 0;
  for (int k = 1; k <= 500; ++k) {
    accounts[k % 8].Send(Deposit{k});
    accounts[k % 8].Send(Note{});
    expected_sum += k;
    ++expected_count;
  }
  // Deposits keep flowing from another thread across the switch.
  std::atomic<bool> stop{false};
  std::atomic<int64_t> live_sum{0}, live_count{0};
  std::thread writer([&] {
    for (int k = 1; !stop.load() || k < 200; ++k) {
      if (w.system.Ask<Done>(accounts[k % 8], Deposit{1000 + k}, absl::Seconds(60)).ok()) {
        live_sum += 1000 + k;
        ++live_count;
      }
      if (k > 5000) break;
    }
  });
  absl::StatusOr<ActorRef> p = w.image.SpawnProjection<DepositTotals>();
  REQUIRE(p.ok());
  stop = true;
  writer.join();
  const int64_t want_sum = expected_sum + live_sum.load();
  const int64_t want_count = expected_count + live_count.load();
  // Every acknowledged deposit is durable and published; wait for delivery.
  Totals t;
  for (int i = 0; i < 60000; ++i) {
    t = w.Get(*p);
    if (t.count >= want_count) break;
    absl::SleepFor(absl::Milliseconds(1));
  }
  REQUIRE(t.duplicates == 0);
  REQUIRE(t.count == want_count);
  REQUIRE(t.sum == want_sum);
  REQUIRE(t.checkpoint <= w.image.journal()->last_lsn());
}

TEST_CASE("a projection is rebuilt from the journal after a restart", "[image][projection]") {
  testing::TempDir tmp;
  const std::string dir = tmp.Sub("journal");
  {
    World w(dir);
    REQUIRE(w.status.ok());
    ActorRef a = w.image.Spawn<Account>(1).value();
    for (int k = 1; k <= 100; ++k) REQUIRE(w.system.Ask<Done>(a, Deposit{k}, absl::Seconds(60)).ok());
  }
  World w(dir);
  REQUIRE(w.status.ok());
  ActorRef p = w.image.SpawnProjection<DepositTotals>().value();
  Totals t = w.Get(p);
  REQUIRE(t.count == 100);
  REQUIRE(t.sum == 5050);
  // And it follows new events.
  REQUIRE(w.system.Ask<Done>(w.image.Find(1).value(), Deposit{7}, absl::Seconds(60)).ok());
  for (int i = 0; i < 60000 && t.count < 101; ++i) {
    absl::SleepFor(absl::Milliseconds(1));
    t = w.Get(p);
  }
  REQUIRE(t.count == 101);
  REQUIRE(t.sum == 5057);
}

TEST_CASE("a projection catches up on an image opened read-only", "[image][projection]") {
  testing::TempDir tmp;
  const std::string dir = tmp.Sub("journal");
  {
    World w(dir);
    REQUIRE(w.status.ok());
    ActorRef a = w.image.Spawn<Account>(1).value();
    ActorRef b = w.image.Spawn<Account>(2).value();
    for (int k = 1; k <= 100; ++k) {
      REQUIRE(w.system.Ask<Done>(k % 2 ? a : b, Deposit{k}, absl::Seconds(60)).ok());
    }
  }
  // Replay debugging: no journal writer, only a reader; the projection
  // reads the journal's directory itself.
  World w(dir, /*read_only=*/true);
  REQUIRE(w.status.ok());
  REQUIRE(w.image.journal() == nullptr);
  absl::StatusOr<ActorRef> p = w.image.SpawnProjection<DepositTotals>();
  REQUIRE(p.ok());
  Totals t = w.Get(*p);
  REQUIRE(t.count == 100);
  REQUIRE(t.sum == 5050);
  REQUIRE(t.duplicates == 0);
  REQUIRE(t.checkpoint == w.image.recovery().last_lsn);
}

TEST_CASE("a projection needs a bus", "[image][projection]") {
  testing::TempDir tmp;
  ActorSystem system(ActorSystemOptions{.scheduler = {.threads = 1}});
  MemoryImage image(system, World::Registry());
  REQUIRE(image.Open(tmp.Sub("journal")).ok());
  REQUIRE(image.SpawnProjection<DepositTotals>().status().code() ==
          absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace engram
