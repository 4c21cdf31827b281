// Consumer groups: round robin, key hash with per-key order while members
// join and leave, exclusive consumers with take-over.
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "engram/actors/actor_system.h"
#include "engram/bus/event_bus.h"
#include "tests/bus/bus_test_util.h"

namespace engram {
namespace {

using testing::Log;
using testing::Order;

SubscriptionOptions Group(std::string name, GroupMode mode) {
  SubscriptionOptions o;
  o.group = std::move(name);
  o.group_mode = mode;
  return o;
}

TEST_CASE("a round-robin group gives each event to exactly one member in turn",
          "[bus][group]") {
  DeterministicScheduler sched;
  ActorSystem system(sched);
  EventBus bus(system);
  std::vector<std::vector<int>> got(3);
  for (int m = 0; m < 3; ++m) {
    REQUIRE(bus.Subscribe<Order>("orders", [&, m](const BusEvent<Order>& e) {
                 got[m].push_back(e.data().id);
               }, Group("workers", GroupMode::kRoundRobin)).ok());
  }
  int broadcast = 0;
  REQUIRE(bus.Subscribe<Order>("orders", [&](const BusEvent<Order>&) { ++broadcast; }).ok());
  for (int i = 0; i < 9; ++i) {
    auto r = bus.Publish("orders", Order{i});
    REQUIRE(r.ok());
    REQUIRE(r->accepted == 2);  // the group once, the broadcast subscriber once
  }
  sched.RunUntilIdle();
  REQUIRE(got[0] == std::vector<int>{0, 3, 6});
  REQUIRE(got[1] == std::vector<int>{1, 4, 7});
  REQUIRE(got[2] == std::vector<int>{2, 5, 8});
  REQUIRE(broadcast == 9);
}

TEST_CASE("group members must agree on mode, payload type and filter", "[bus][group]") {
  DeterministicScheduler sched;
  ActorSystem system(sched);
  EventBus bus(system);
  REQUIRE(bus.Subscribe<Order>("o", [](const BusEvent<Order>&) {},
                               Group("g", GroupMode::kKeyHash)).ok());
  auto bad = bus.Subscribe<Order>("o", [](const BusEvent<Order>&) {},
                                  Group("g", GroupMode::kExclusive));
  REQUIRE(bad.status().code() == absl::StatusCode::kInvalidArgument);
  REQUIRE_THAT(std::string(bad.status().message()), Catch::Contains("consumer group \"g\""));
  // Same name on another pattern is another group.
  REQUIRE(bus.Subscribe<Order>("p", [](const BusEvent<Order>&) {},
                               Group("g", GroupMode::kExclusive)).ok());
}

// Checks per-key order and exactly-once over everything handled.
struct KeyedLog {
  std::vector<std::pair<int, int>> handled;  // (key, n) in handling order
  void Check(const std::map<int, int>& published) const {
    std::map<int, int> next;
    for (auto [key, n] : handled) {
      CAPTURE(key, n);
      REQUIRE(n == next[key]);  // in order, no gap, no duplicate
      ++next[key];
    }
    REQUIRE(next == published);
  }
};

TEST_CASE("a key-hash group keeps per-key order while members join and leave",
          "[bus][group]") {
  DeterministicScheduler sched;
  ActorSystem system(sched);
  EventBus bus(system);
  KeyedLog log;
  std::map<int, int> published;
  std::vector<SubscriptionId> members;
  auto join = [&] {
    auto id = bus.Subscribe<Order>("orders", [&](const BusEvent<Order>& e) {
      log.handled.emplace_back(std::stoi(*e.partition_key()), e.data().id);
    }, Group("billing", GroupMode::kKeyHash));
    REQUIRE(id.ok());
    members.push_back(*id);
  };
  auto publish = [&](int key) {
    PublishOptions o;
    o.partition_key = std::to_string(key);
    REQUIRE(bus.Publish("orders", Order{published[key]++}, o).ok());
  };
  join();
  std::mt19937 rng(42);
  for (int step = 0; step < 3000; ++step) {
    const int r = static_cast<int>(rng() % 100);
    if (r < 55) {
      publish(static_cast<int>(rng() % 12));
    } else if (r < 85) {
      sched.RunOne();
    } else if (r < 92 && members.size() < 5) {
      join();
    } else if (r < 99 && members.size() > 1) {
      const size_t i = rng() % members.size();
      REQUIRE(bus.Unsubscribe(members[i]).ok());
      members.erase(members.begin() + static_cast<long>(i));
    }
  }
  sched.RunUntilIdle();
  log.Check(published);
  REQUIRE(bus.stats().dead_lettered == 0);
}

TEST_CASE("a key-hash group spreads keys over its members", "[bus][group]") {
  DeterministicScheduler sched;
  ActorSystem system(sched);
  EventBus bus(system);
  std::vector<int> per_member(4, 0);
  for (int m = 0; m < 4; ++m) {
    REQUIRE(bus.Subscribe<Order>("o", [&, m](const BusEvent<Order>&) { ++per_member[m]; },
                                 Group("g", GroupMode::kKeyHash)).ok());
  }
  for (int k = 0; k < 400; ++k) {
    PublishOptions o;
    o.partition_key = "key-" + std::to_string(k);
    REQUIRE(bus.Publish("o", Order{k}, o).ok());
  }
  sched.RunUntilIdle();
  int total = 0;
  for (int n : per_member) {
    REQUIRE(n > 0);
    total += n;
  }
  REQUIRE(total == 400);
}

TEST_CASE("an exclusive group delivers to one member and a standby takes over on unsubscribe",
          "[bus][group]") {
  DeterministicScheduler sched;
  ActorSystem system(sched);
  EventBus bus(system);
  std::vector<std::string> got;
  std::vector<SubscriptionId> ids;
  for (std::string name : {"a", "b", "c"}) {
    auto id = bus.Subscribe<Order>("o", [&, name](const BusEvent<Order>& e) {
      got.push_back(name + std::to_string(e.data().id));
    }, Group("leader", GroupMode::kExclusive));
    REQUIRE(id.ok());
    ids.push_back(*id);
  }
  REQUIRE(bus.Publish("o", Order{1}).ok());
  REQUIRE(bus.Publish("o", Order{2}).ok());
  REQUIRE(bus.Unsubscribe(ids[0]).ok());  // a still has 1 and 2 queued
  REQUIRE(bus.Publish("o", Order{3}).ok());
  sched.RunUntilIdle();
  REQUIRE(bus.Unsubscribe(ids[1]).ok());
  REQUIRE(bus.Publish("o", Order{4}).ok());
  sched.RunUntilIdle();
  REQUIRE(got == std::vector<std::string>{"a1", "a2", "b3", "c4"});
}

class Member : public Actor {
 public:
  Member(std::string name, std::shared_ptr<Log<std::string>> log) {
    Handle([name, log](const BusEvent<Order>& e) {
      log->Add(name + std::to_string(e.data().id));
    });
  }
};

TEST_CASE("when the active actor of an exclusive group stops, the standby gets its events in order",
          "[bus][group][actor]") {
  DeterministicScheduler sched;
  ActorSystem system(sched);
  EventBus bus(system);
  auto log = std::make_shared<Log<std::string>>();
  ActorRef a = system.Spawn<Member>(std::string("a"), log);
  ActorRef b = system.Spawn<Member>(std::string("b"), log);
  REQUIRE(bus.SubscribeActor<Order>("o", a, Group("x", GroupMode::kExclusive)).ok());
  REQUIRE(bus.SubscribeActor<Order>("o", b, Group("x", GroupMode::kExclusive)).ok());
  for (int i = 1; i <= 3; ++i) REQUIRE(bus.Publish("o", Order{i}).ok());
  a.Stop();  // before it handles anything: its three events come back
  sched.RunUntilIdle();
  REQUIRE(bus.Publish("o", Order{4}).ok());
  sched.RunUntilIdle();
  REQUIRE(log->items() == std::vector<std::string>{"b1", "b2", "b3", "b4"});
  REQUIRE(bus.stats().subscriptions == 1);
  REQUIRE(bus.stats().dead_lettered == 0);
}

TEST_CASE("events held for a group that loses its last member go to the dead-letter topic",
          "[bus][group]") {
  DeterministicScheduler sched;
  ActorSystem system(sched);
  EventBus bus(system);
  auto log = std::make_shared<Log<std::string>>();
  ActorRef a = system.Spawn<Member>(std::string("a"), log);
  REQUIRE(bus.SubscribeActor<Order>("o", a, Group("x", GroupMode::kExclusive)).ok());
  std::vector<std::string> reasons;
  REQUIRE(bus.Subscribe<DeadLetterEvent>("$dlq.>", [&](const BusEvent<DeadLetterEvent>& e) {
               reasons.push_back(e.data().reason);
             }).ok());
  REQUIRE(bus.Publish("o", Order{1}).ok());
  a.Stop();
  sched.RunUntilIdle();
  REQUIRE(log->size() == 0);
  REQUIRE(reasons.size() == 1);
  REQUIRE_THAT(reasons[0], Catch::Contains("consumer group \"x\" has no members"));
}


TEST_CASE("a retry in a key-hash group holds its key: later events of the key wait behind it",
          "[bus][group][retry]") {
  const absl::Time t0 = absl::FromUnixSeconds(100);
  DeterministicScheduler sched(t0);
  ActorSystem system(sched);
  EventBus bus(system);
  // (key, n, attempt) in handling order; event ("a", 0) fails once.
  std::vector<std::string> handled;
  SubscriptionOptions o = Group("billing", GroupMode::kKeyHash);
  o.retry.max_attempts = 3;
  o.retry.initial_backoff = absl::Milliseconds(100);
  REQUIRE(bus.Subscribe<Order>("orders", [&](const BusEvent<Order>& e) -> absl::Status {
               handled.push_back(*e.partition_key() + std::to_string(e.data().id) + "#" +
                                 std::to_string(e.attempt()));
               if (*e.partition_key() == "a" && e.data().id == 0 && e.attempt() == 1) {
                 return absl::UnavailableError("database down");
               }
               return absl::OkStatus();
             }, o).ok());
  auto publish = [&](const std::string& key, int n) {
    PublishOptions po;
    po.partition_key = key;
    REQUIRE(bus.Publish("orders", Order{n}, po).ok());
  };
  publish("a", 0);
  publish("a", 1);  // queued behind a0 before a0 fails
  sched.RunUntilIdle();
  publish("a", 2);  // published while a0 waits out its backoff
  sched.RunUntilIdle();
  // Nothing of key "a" overtakes the retry of a0.
  REQUIRE(handled == std::vector<std::string>{"a0#1"});
  sched.Advance(absl::Milliseconds(100));
  sched.RunUntilIdle();
  REQUIRE(handled == std::vector<std::string>{"a0#1", "a0#2", "a1#1", "a2#1"});
  REQUIRE(bus.stats().dead_lettered == 0);
}

TEST_CASE("an exhausted retry in a key-hash group releases its key to the events behind it",
          "[bus][group][retry]") {
  const absl::Time t0 = absl::FromUnixSeconds(100);
  DeterministicScheduler sched(t0);
  ActorSystem system(sched);
  EventBus bus(system);
  std::vector<std::string> handled;
  SubscriptionOptions o = Group("billing", GroupMode::kKeyHash);
  o.retry.max_attempts = 2;
  o.retry.initial_backoff = absl::Milliseconds(10);
  REQUIRE(bus.Subscribe<Order>("orders", [&](const BusEvent<Order>& e) -> absl::Status {
               handled.push_back(std::to_string(e.data().id) + "#" + std::to_string(e.attempt()));
               if (e.data().id == 0) return absl::UnavailableError("always down");
               return absl::OkStatus();
             }, o).ok());
  int dead = 0;
  REQUIRE(bus.Subscribe<DeadLetterEvent>("$dlq.>", [&](const BusEvent<DeadLetterEvent>&) {
               ++dead;
             }).ok());
  PublishOptions po;
  po.partition_key = "k";
  REQUIRE(bus.Publish("orders", Order{0}, po).ok());
  REQUIRE(bus.Publish("orders", Order{1}, po).ok());
  sched.RunUntilIdle();
  REQUIRE(handled == std::vector<std::string>{"0#1"});
  sched.Advance(absl::Milliseconds(10));
  sched.RunUntilIdle();
  REQUIRE(handled == std::vector<std::string>{"0#1", "0#2", "1#1"});
  REQUIRE(dead == 1);
}


// Fails the first attempt of event ("a", 0); logs "<key><n>#<attempt>".
class FailsA0Once : public Actor {
 public:
  explicit FailsA0Once(std::shared_ptr<Log<std::string>> log) {
    Handle([log](const BusEvent<Order>& e) -> absl::Status {
      log->Add(*e.partition_key() + std::to_string(e.data().id) + "#" +
               std::to_string(e.attempt()));
      if (*e.partition_key() == "a" && e.data().id == 0 && e.attempt() == 1) {
        return absl::UnavailableError("database down");
      }
      return absl::OkStatus();
    });
  }
};

TEST_CASE("a retry in a key-hash group of actors holds its key, also for events already sent",
          "[bus][group][retry][actor]") {
  const absl::Time t0 = absl::FromUnixSeconds(100);
  DeterministicScheduler sched(t0);
  ActorSystem system(sched);
  EventBus bus(system);
  auto log = std::make_shared<Log<std::string>>();
  ActorRef member = system.Spawn<FailsA0Once>(log);
  SubscriptionOptions o = Group("billing", GroupMode::kKeyHash);
  o.retry.max_attempts = 3;
  o.retry.initial_backoff = absl::Milliseconds(100);
  auto id = bus.SubscribeActor<Order>("orders", member, o);
  REQUIRE(id.ok());
  auto publish = [&](const std::string& key, int n) {
    PublishOptions po;
    po.partition_key = key;
    REQUIRE(bus.Publish("orders", Order{n}, po).ok());
  };
  publish("a", 0);
  publish("a", 1);  // published before a0 fails
  sched.RunUntilIdle();
  publish("a", 2);  // published while a0 waits out its backoff
  sched.RunUntilIdle();
  REQUIRE(log->items() == std::vector<std::string>{"a0#1"});
  sched.Advance(absl::Milliseconds(100));
  sched.RunUntilIdle();
  REQUIRE(log->items() == std::vector<std::string>{"a0#1", "a0#2", "a1#1", "a2#1"});
  REQUIRE(bus.Stats(*id)->delivered == 3);
  REQUIRE(bus.stats().dead_lettered == 0);
}

}  // namespace
}  // namespace engram
