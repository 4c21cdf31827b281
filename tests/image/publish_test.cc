// Events a persistent actor publishes to the bus leave only once durable,
// with their journal LSN as sequence.
#include <vector>

#include <catch2/catch.hpp>

#include "engram/actors/actor_system.h"
#include "engram/bus/event_bus.h"
#include "engram/image/internal/memory_image_test_peer.h"
#include "engram/image/memory_image.h"
#include "tests/temp_dir.h"

namespace engram {
namespace {

struct Deposit {
  int64_t amount;
};
struct Reject {};
struct Deposited {
  int64_t amount;
};
struct Balance {
  int64_t value = 0;
  // No HashState: trivially copyable without padding, hashed by its bytes.
};

EventBus* g_bus = nullptr;  // set by the test before any command

class Account : public PersistentActor<Balance> {
 public:
  Account() {
    OnCommand([this](const Deposit& d) {
      Emit(Deposited{d.amount});
      Emit(Deposited{d.amount});  // two events: two LSNs
      OnDurable([d](uint64_t first, uint64_t last) {
        for (uint64_t lsn = first; lsn <= last; ++lsn) {
          PublishOptions o;
          o.sequence = lsn;
          (void)g_bus->Publish("bank.deposited", Deposited{d.amount}, o);
        }
      });
    });
    OnCommand([this](Reject) -> absl::Status {
      Emit(Deposited{1});
      OnDurable([](uint64_t, uint64_t) {
        (void)g_bus->Publish("bank.deposited", Deposited{-1});
      });
      return absl::FailedPreconditionError("no");
    });
    OnEvent([](Balance& b, const Deposited& e) { b.value += e.amount; });
  }
};

TEST_CASE("a persistent actor's publications leave only when durable, with their LSNs",
          "[image][bus]") {
  EventRegistry reg;
  REQUIRE(reg.Register<Deposited>("bank.Deposited").ok());
  testing::TempDir tmp;
  ActorSystem system(ActorSystemOptions{.scheduler = {.threads = 2}});
  EventBus bus(system, "bank");
  g_bus = &bus;
  Mutex mu;
  std::vector<uint64_t> seen;
  REQUIRE(bus.Subscribe<Deposited>("bank.>",
                                   [&](const BusEvent<Deposited>& e) {
                                     MutexLock lock(&mu);
                                     seen.push_back(e.sequence());
                                   })
              .ok());
  MemoryImage image(system, reg);
  image.RegisterKind<Account>("account");
  REQUIRE(image.Open(tmp.Sub("journal")).ok());
  ActorRef a = image.Spawn<Account>(1).value();
  internal::MemoryImageTestPeer::HoldOutputs(image);
  auto done = system.AskAsync<Done>(a, Deposit{10}, absl::Seconds(60));
  // LSN 1 is the writer's epoch, 2 creates the stream, 3 catalogs the type,
  // 4 and 5 are the events.
  for (int i = 0; i < 60000 && image.journal()->last_lsn() < 5; ++i) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  REQUIRE(image.journal()->durable_lsn() >= 5);
  absl::SleepFor(absl::Milliseconds(50));
  {
    MutexLock lock(&mu);
    REQUIRE(seen.empty());  // durable, but held: nothing published yet
  }
  internal::MemoryImageTestPeer::ReleaseOutputs(image);
  REQUIRE(done.Get().ok());
  // A rejected command publishes nothing.
  REQUIRE(system.Ask<Done>(a, Reject{}, absl::Seconds(60)).status().code() ==
          absl::StatusCode::kFailedPrecondition);
  for (int i = 0; i < 60000; ++i) {
    {
      MutexLock lock(&mu);
      if (seen.size() >= 2) break;
    }
    absl::SleepFor(absl::Milliseconds(1));
  }
  absl::SleepFor(absl::Milliseconds(50));
  MutexLock lock(&mu);
  REQUIRE(seen == std::vector<uint64_t>{4, 5});
}

}  // namespace
}  // namespace engram
