// Supervision: restart with fresh state, stop, escalate, restart budget.
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "absl/strings/match.h"
#include "engram/actors/actor_system.h"

namespace engram {
namespace {

struct Add {
  int n;
};
struct Boom {};
struct Get {};

class Fragile : public Actor {
 public:
  explicit Fragile(std::shared_ptr<int> constructions) {
    ++*constructions;
    Handle([this](const Add& a) { total_ += a.n; });
    Handle([this](Get) { return total_; });
    Handle([](Boom) { throw std::runtime_error("kaboom"); });
  }

 private:
  int total_ = 0;
};

// Records every Down it receives.
class Watcher : public Actor {
 public:
  explicit Watcher(std::shared_ptr<std::vector<Down>> downs) {
    Handle([downs](const Down& d) { downs->push_back(d); });
    Handle([this](const ActorRef& r) { Monitor(r); });
  }
};

TEST_CASE("a failing actor is restarted with fresh state and keeps its address",
          "[actors][supervision]") {
  DeterministicScheduler sched;
  ActorSystem system(sched);
  auto constructions = std::make_shared<int>(0);
  ActorRef a = system.Spawn<Fragile>(constructions);  // default policy: restart
  a.Send(Add{5});
  a.Send(Boom{});
  a.Send(Add{1});
  sched.RunUntilIdle();
  REQUIRE(*constructions == 2);
  REQUIRE(a.alive());
  auto f = system.AskAsync<int>(a, Get{}, absl::Seconds(1));
  sched.RunUntilIdle();
  REQUIRE(*f.Get() == 1);  // the 5 was lost with the old state; the 1 came after
}

TEST_CASE("a request whose handler throws fails with the exception's message",
          "[actors][supervision]") {
  DeterministicScheduler sched;
  ActorSystem system(sched);
  ActorRef a = system.Spawn<Fragile>(std::make_shared<int>(0));
  auto f = system.AskAsync<int>(a, Boom{}, absl::Seconds(1));
  sched.RunUntilIdle();
  absl::StatusOr<int> v = f.Get();
  REQUIRE(v.status().code() == absl::StatusCode::kInternal);
  REQUIRE(absl::StrContains(v.status().message(), "kaboom"));
}

TEST_CASE("the stop directive stops the actor and monitors get the error",
          "[actors][supervision]") {
  DeterministicScheduler sched;
  ActorSystem system(sched);
  auto downs = std::make_shared<std::vector<Down>>();
  ActorRef w = system.Spawn<Watcher>(downs);
  SpawnOptions opts;
  opts.supervision.directive = Directive::kStop;
  ActorRef a = system.SpawnWith<Fragile>(opts, std::make_shared<int>(0));
  w.Send(a);
  sched.RunUntilIdle();
  a.Send(Boom{});
  a.Send(Add{1});  // queued behind the failure: goes to dead letters
  sched.RunUntilIdle();
  REQUIRE_FALSE(a.alive());
  REQUIRE(downs->size() == 1);
  REQUIRE((*downs)[0].actor == a);
  REQUIRE(absl::StrContains((*downs)[0].reason.message(), "kaboom"));
  REQUIRE(system.dead_letters() == 1);
}

TEST_CASE("more restarts than the budget allows stop the actor with a reason that says so",
          "[actors][supervision]") {
  DeterministicScheduler sched;
  ActorSystem system(sched);
  auto downs = std::make_shared<std::vector<Down>>();
  ActorRef w = system.Spawn<Watcher>(downs);
  auto constructions = std::make_shared<int>(0);
  SpawnOptions opts;
  opts.supervision = {Directive::kRestart, 2, absl::Seconds(10)};
  ActorRef a = system.SpawnWith<Fragile>(opts, constructions);
  w.Send(a);
  sched.RunUntilIdle();
  a.Send(Boom{});
  a.Send(Boom{});
  sched.RunUntilIdle();
  REQUIRE(a.alive());
  REQUIRE(*constructions == 3);
  // Outside the window the budget is fresh again.
  sched.Advance(absl::Seconds(11));
  a.Send(Boom{});
  a.Send(Boom{});
  sched.RunUntilIdle();
  REQUIRE(a.alive());
  a.Send(Boom{});  // third within 10 s
  sched.RunUntilIdle();
  REQUIRE_FALSE(a.alive());
  REQUIRE(downs->size() == 1);
  REQUIRE(absl::StrContains((*downs)[0].reason.message(), "restart budget exhausted"));
}

// A parent with one escalating child; counts its own constructions.
class Parent : public Actor {
 public:
  Parent(std::shared_ptr<int> parents, std::shared_ptr<int> children,
         std::shared_ptr<ActorRef> child_out) {
    ++*parents;
    SpawnOptions opts;
    opts.supervision.directive = Directive::kEscalate;
    *child_out = SpawnWith<Fragile>(opts, children);
  }
};

TEST_CASE("an escalated failure fails the parent, whose policy restarts it",
          "[actors][supervision]") {
  DeterministicScheduler sched;
  ActorSystem system(sched);
  auto parents = std::make_shared<int>(0);
  auto children = std::make_shared<int>(0);
  auto child = std::make_shared<ActorRef>();
  ActorRef p = system.Spawn<Parent>(parents, children, child);
  sched.RunUntilIdle();
  ActorRef first_child = *child;
  first_child.Send(Boom{});
  sched.RunUntilIdle();
  REQUIRE_FALSE(first_child.alive());
  REQUIRE(p.alive());
  REQUIRE(*parents == 2);   // restarted by its own (default) policy
  REQUIRE(*children == 2);  // and the new parent made a new child
  REQUIRE(child->alive());
  REQUIRE_FALSE(*child == first_child);
}

TEST_CASE("an escalation that reaches the top stops the actor and calls the failure hook",
          "[actors][supervision]") {
  DeterministicScheduler sched;
  ActorSystem system(sched);
  std::vector<std::string> failures;
  system.SetFailureHook([&](const ActorRef& a, const absl::Status& s) {
    failures.push_back(std::string(s.message()));
  });
  SpawnOptions opts;
  opts.supervision.directive = Directive::kEscalate;
  ActorRef a = system.SpawnWith<Fragile>(opts, std::make_shared<int>(0));
  a.Send(Boom{});
  sched.RunUntilIdle();
  REQUIRE_FALSE(a.alive());
  REQUIRE(system.unhandled_failures() == 1);
  REQUIRE(failures.size() == 1);
  REQUIRE(absl::StrContains(failures[0], "kaboom"));
}

TEST_CASE("stopping a parent stops its children", "[actors][supervision]") {
  DeterministicScheduler sched;
  ActorSystem system(sched);
  auto child = std::make_shared<ActorRef>();
  ActorRef p = system.Spawn<Parent>(std::make_shared<int>(0), std::make_shared<int>(0),
                                    child);
  sched.RunUntilIdle();
  REQUIRE(child->alive());
  p.Stop();
  sched.RunUntilIdle();
  REQUIRE_FALSE(p.alive());
  REQUIRE_FALSE(child->alive());
  REQUIRE(system.live_actors() == 0);
}

}  // namespace
}  // namespace engram
