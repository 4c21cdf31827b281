#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "absl/strings/match.h"
#include "engram/base/internal/mutex.h"
#include "engram/actors/actor_system.h"
#include "runtime/internal/scheduler.h"

namespace engram {
namespace {

struct Ping {};
struct Unknown {};

class Echo : public Actor {
 public:
  Echo() {
    Handle([](Ping) { return std::string("pong"); });
  }
};

TEST_CASE("a send to a stopped actor goes to dead letters and does not crash",
          "[actors][dead-letters]") {
  DeterministicScheduler sched;
  ActorSystem system(sched);
  std::vector<DeadLetter> letters;
  system.SetDeadLetterHook([&](const DeadLetter& d) { letters.push_back(d); });
  SpawnOptions o;
  o.name = "echo";
  ActorRef e = system.SpawnWith<Echo>(o);
  e.Stop();
  sched.RunUntilIdle();
  REQUIRE_FALSE(e.alive());
  REQUIRE(e.Send(Ping{}) == SendResult::kDeadLetter);
  REQUIRE(system.dead_letters() == 1);
  REQUIRE(letters.size() == 1);
  REQUIRE(letters[0].recipient == "echo");
  REQUIRE(letters[0].type == TypeOf<Ping>());
  REQUIRE(letters[0].outcome == SendResult::kDeadLetter);
}

TEST_CASE("messages queued when an actor stops become dead letters",
          "[actors][dead-letters]") {
  DeterministicScheduler sched;
  ActorSystem system(sched);
  ActorRef e = system.Spawn<Echo>();
  sched.RunUntilIdle();
  e.Send(Ping{});
  e.Send(Ping{});
  e.Stop();  // stop is prompt: the queued pings are not handled
  sched.RunUntilIdle();
  REQUIRE(system.dead_letters() == 2);
}

TEST_CASE("a message with no handler is a dead letter and a request for it fails",
          "[actors][dead-letters]") {
  DeterministicScheduler sched;
  ActorSystem system(sched);
  ActorRef e = system.Spawn<Echo>();
  auto f = system.AskAsync<int>(e, Unknown{}, absl::Seconds(1));
  sched.RunUntilIdle();
  absl::StatusOr<int> v = f.Get();
  REQUIRE(v.status().code() == absl::StatusCode::kNotFound);
  REQUIRE(absl::StrContains(v.status().message(), "no handler for"));
  REQUIRE(absl::StrContains(v.status().message(), "Unknown"));
  REQUIRE(system.dead_letters() == 1);
  REQUIRE(e.alive());
}

TEST_CASE("a send through an empty ref reports a dead letter", "[actors][dead-letters]") {
  ActorRef nobody;
  REQUIRE(nobody.Send(Ping{}) == SendResult::kDeadLetter);
  REQUIRE_FALSE(nobody.alive());
  REQUIRE(nobody.name() == "<empty ref>");
}

TEST_CASE("refs stay usable after the system shut down", "[actors][dead-letters]") {
  ActorRef survivor;
  {
    ActorSystem system(ActorSystemOptions{.scheduler = {.threads = 1}});
    survivor = system.Spawn<Echo>();
    REQUIRE(system.Ask<std::string>(survivor, Ping{}, absl::Seconds(30)).value() == "pong");
  }
  REQUIRE_FALSE(survivor.alive());
  REQUIRE(survivor.Send(Ping{}) == SendResult::kDeadLetter);
}

class WhereAmI : public Actor {
 public:
  WhereAmI() {
    Handle([](Ping) { return Scheduler::CurrentWorkerIndex(); });
  }
};

TEST_CASE("an actor spawned on a dedicated thread runs outside the pool",
          "[actors][dedicated]") {
  ActorSystem system(ActorSystemOptions{.scheduler = {.threads = 2}});
  SpawnOptions o;
  o.dedicated_thread = true;
  ActorRef pinned = system.SpawnWith<WhereAmI>(o);
  ActorRef pooled = system.Spawn<WhereAmI>();
  REQUIRE(system.Ask<int>(pinned, Ping{}, absl::Seconds(30)).value() == -1);
  REQUIRE(system.Ask<int>(pooled, Ping{}, absl::Seconds(30)).value() >= 0);
  pinned.Stop();
  REQUIRE(system.AwaitStopped(pinned, absl::Seconds(30)));
}

}  // namespace
}  // namespace engram
