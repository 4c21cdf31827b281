#include <memory>
#include <vector>

#include <catch2/catch.hpp>

#include "engram/actors/actor_system.h"

namespace engram {
namespace {

struct Quit {};

class Quitter : public Actor {
 public:
  Quitter() {
    Handle([this](Quit) { Stop(absl::AbortedError("asked to quit")); });
  }
};

class Watcher : public Actor {
 public:
  explicit Watcher(std::shared_ptr<std::vector<Down>> downs) {
    Handle([downs](const Down& d) { downs->push_back(d); });
    Handle([this](const ActorRef& r) { Monitor(r); });
  }
};

TEST_CASE("a monitor gets one Down carrying the stop reason", "[actors][monitor]") {
  DeterministicScheduler sched;
  ActorSystem system(sched);
  auto downs = std::make_shared<std::vector<Down>>();
  ActorRef w = system.Spawn<Watcher>(downs);
  ActorRef q = system.Spawn<Quitter>();
  w.Send(q);
  sched.RunUntilIdle();
  q.Send(Quit{});
  sched.RunUntilIdle();
  REQUIRE(downs->size() == 1);
  REQUIRE((*downs)[0].actor == q);
  REQUIRE((*downs)[0].reason.code() == absl::StatusCode::kAborted);
}

TEST_CASE("a normal stop gives a Down with an OK reason", "[actors][monitor]") {
  DeterministicScheduler sched;
  ActorSystem system(sched);
  auto downs = std::make_shared<std::vector<Down>>();
  ActorRef w = system.Spawn<Watcher>(downs);
  ActorRef q = system.Spawn<Quitter>();
  w.Send(q);
  sched.RunUntilIdle();
  q.Stop();
  sched.RunUntilIdle();
  REQUIRE(downs->size() == 1);
  REQUIRE((*downs)[0].reason.ok());
}

TEST_CASE("monitoring an actor that already stopped gives an immediate NOT_FOUND Down",
          "[actors][monitor]") {
  DeterministicScheduler sched;
  ActorSystem system(sched);
  auto downs = std::make_shared<std::vector<Down>>();
  ActorRef q = system.Spawn<Quitter>();
  q.Stop();
  sched.RunUntilIdle();
  ActorRef w = system.Spawn<Watcher>(downs);
  w.Send(q);
  sched.RunUntilIdle();
  REQUIRE(downs->size() == 1);
  REQUIRE((*downs)[0].reason.code() == absl::StatusCode::kNotFound);
}

TEST_CASE("every one of several monitors is told", "[actors][monitor]") {
  DeterministicScheduler sched;
  ActorSystem system(sched);
  auto downs = std::make_shared<std::vector<Down>>();
  ActorRef q = system.Spawn<Quitter>();
  for (int i = 0; i < 3; ++i) system.Spawn<Watcher>(downs).Send(q);
  sched.RunUntilIdle();
  q.Send(Quit{});
  sched.RunUntilIdle();
  REQUIRE(downs->size() == 3);
}

}  // namespace
}  // namespace engram
