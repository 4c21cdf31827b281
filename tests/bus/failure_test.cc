// Failure handling: retry with exponential backoff on fake time, the
// dead-letter topic, the discard policy, pause and resume.
#include <memory>
#include <stdexcept>
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

SubscriptionOptions Retry(int attempts, absl::Duration initial, double mult = 2.0) {
  SubscriptionOptions o;
  o.name = "billing";
  o.retry.max_attempts = attempts;
  o.retry.initial_backoff = initial;
  o.retry.multiplier = mult;
  return o;
}

TEST_CASE("a failing callback is retried with exponential backoff on the system's timers",
          "[bus][retry]") {
  const absl::Time t0 = absl::FromUnixSeconds(100);
  DeterministicScheduler sched(t0);
  ActorSystem system(sched);
  EventBus bus(system);
  std::vector<std::pair<int, absl::Duration>> attempts;  // (attempt, time since t0)
  auto id = bus.Subscribe<Order>("o", [&](const BusEvent<Order>& e) -> absl::Status {
    attempts.emplace_back(e.attempt(), sched.Now() - t0);
    if (e.attempt() < 3) return absl::UnavailableError("database down");
    return absl::OkStatus();
  }, Retry(5, absl::Milliseconds(100)));
  REQUIRE(id.ok());
  REQUIRE(bus.Publish("o", Order{1}).ok());
  sched.RunUntilIdle();
  REQUIRE(attempts.size() == 1);
  sched.Advance(absl::Milliseconds(99));
  REQUIRE(attempts.size() == 1);  // not before the backoff
  sched.Advance(absl::Milliseconds(1));
  REQUIRE(attempts.size() == 2);
  sched.Advance(absl::Milliseconds(199));
  REQUIRE(attempts.size() == 2);  // the second backoff is twice the first
  sched.Advance(absl::Milliseconds(1));
  REQUIRE(attempts.size() == 3);
  sched.Advance(absl::Seconds(10));
  using P = std::pair<int, absl::Duration>;
  REQUIRE(attempts == std::vector<P>{P{1, absl::ZeroDuration()}, P{2, absl::Milliseconds(100)},
                                     P{3, absl::Milliseconds(300)}});
  auto st = bus.Stats(*id);
  REQUIRE(st->delivered == 1);
  REQUIRE(st->failed_attempts == 2);
  REQUIRE(st->retried == 2);
  REQUIRE(st->dead_lettered == 0);
}

TEST_CASE("the backoff is capped at max_backoff", "[bus][retry]") {
  const absl::Time t0 = absl::UnixEpoch();
  DeterministicScheduler sched(t0);
  ActorSystem system(sched);
  EventBus bus(system);
  std::vector<absl::Duration> at;
  SubscriptionOptions o = Retry(4, absl::Seconds(1), 10.0);
  o.retry.max_backoff = absl::Seconds(5);
  REQUIRE(bus.Subscribe<Order>("o", [&](const BusEvent<Order>&) -> absl::Status {
               at.push_back(sched.Now() - t0);
               return absl::InternalError("no");
             }, o).ok());
  REQUIRE(bus.Publish("o", Order{}).ok());
  sched.RunUntilIdle();
  sched.Advance(absl::Seconds(30));
  REQUIRE(at == std::vector<absl::Duration>{absl::ZeroDuration(), absl::Seconds(1),
                                            absl::Seconds(6), absl::Seconds(11)});
}

TEST_CASE("an event that exhausts its retries goes to the dead-letter topic with reason and attempts",
          "[bus][retry][dlq]") {
  DeterministicScheduler sched;
  ActorSystem system(sched);
  EventBus bus(system, "shop");
  REQUIRE(bus.Subscribe<Order>("orders.created", [&](const BusEvent<Order>& e) {
               if (e.data().id == 2) throw std::runtime_error("card declined");
             }, Retry(3, absl::Milliseconds(10))).ok());
  std::vector<BusEvent<DeadLetterEvent>> dlq;
  REQUIRE(bus.Subscribe<DeadLetterEvent>("$dlq.>", [&](const BusEvent<DeadLetterEvent>& e) {
               dlq.push_back(e);
             }).ok());
  int wildcard_seen = 0;  // '>' does not see system topics
  REQUIRE(bus.Subscribe<DeadLetterEvent>(">", [&](const BusEvent<DeadLetterEvent>&) {
               ++wildcard_seen;
             }).ok());
  PublishOptions po;
  po.partition_key = "c-9";
  REQUIRE(bus.Publish("orders.created", Order{1}).ok());
  auto r = bus.Publish("orders.created", Order{2, "eu"}, po);
  REQUIRE(r.ok());
  sched.RunUntilIdle();
  sched.Advance(absl::Seconds(1));
  REQUIRE(dlq.size() == 1);
  const BusEvent<DeadLetterEvent>& d = dlq[0];
  REQUIRE(d.topic() == "$dlq.orders.created");
  REQUIRE(d.data().attempts == 3);
  REQUIRE(d.data().subscription == "billing");
  REQUIRE_THAT(d.data().reason, Catch::Contains("failed after 3 attempts"));
  REQUIRE_THAT(d.data().reason, Catch::Contains("card declined"));
  REQUIRE(d.data().original_attributes().sequence == r->sequence);
  REQUIRE(d.data().original_attributes().subject == "orders.created");
  REQUIRE(d.data().original_attributes().partition_key == std::optional<std::string>("c-9"));
  REQUIRE(d.data().original_as<Order>() != nullptr);
  REQUIRE(d.data().original_as<Order>()->region == "eu");
  REQUIRE(d.data().original_as<int>() == nullptr);
  REQUIRE(wildcard_seen == 0);
  REQUIRE(bus.stats().dead_lettered == 1);
}

TEST_CASE("the discard policy drops an exhausted event and counts it", "[bus][retry]") {
  DeterministicScheduler sched;
  ActorSystem system(sched);
  EventBus bus(system);
  SubscriptionOptions o = Retry(2, absl::Milliseconds(5));
  o.exhausted = ExhaustedPolicy::kDiscard;
  auto id = bus.Subscribe<Order>("o", [](const BusEvent<Order>&) -> absl::Status {
    return absl::InternalError("bad");
  }, o);
  int dlq = 0;
  REQUIRE(bus.Subscribe<DeadLetterEvent>("$dlq.>", [&](const BusEvent<DeadLetterEvent>&) { ++dlq; }).ok());
  REQUIRE(bus.Publish("o", Order{}).ok());
  sched.RunUntilIdle();
  sched.Advance(absl::Seconds(1));
  REQUIRE(dlq == 0);
  REQUIRE(bus.Stats(*id)->discarded == 1);
  REQUIRE(bus.Stats(*id)->failed_attempts == 2);
  REQUIRE(bus.stats().discarded == 1);
}

class Flaky : public Actor {
 public:
  explicit Flaky(std::shared_ptr<Log<int>> log) {
    Handle([log](const BusEvent<Order>& e) -> absl::Status {
      log->Add(e.attempt());
      if (e.attempt() == 1) return absl::UnavailableError("try again");
      if (e.attempt() == 2) throw std::runtime_error("boom");
      return absl::OkStatus();
    });
  }
};

TEST_CASE("an actor subscriber's error status and exception are retried", "[bus][retry][actor]") {
  DeterministicScheduler sched;
  ActorSystem system(sched);
  EventBus bus(system);
  auto log = std::make_shared<Log<int>>();
  ActorRef flaky = system.Spawn<Flaky>(log);
  auto id = bus.SubscribeActor<Order>("o", flaky, Retry(3, absl::Milliseconds(10)));
  REQUIRE(id.ok());
  REQUIRE(bus.Publish("o", Order{}).ok());
  sched.RunUntilIdle();
  sched.Advance(absl::Seconds(1));
  REQUIRE(log->items() == std::vector<int>{1, 2, 3});
  REQUIRE(bus.Stats(*id)->delivered == 1);
  REQUIRE(bus.Stats(*id)->failed_attempts == 2);
}

TEST_CASE("a paused subscription holds events and delivers them in order on resume",
          "[bus][pause]") {
  DeterministicScheduler sched;
  ActorSystem system(sched);
  EventBus bus(system);
  std::vector<int> got;
  auto id = bus.Subscribe<Order>("o", [&](const BusEvent<Order>& e) { got.push_back(e.data().id); });
  REQUIRE(id.ok());
  REQUIRE(bus.Publish("o", Order{1}).ok());
  sched.RunUntilIdle();
  REQUIRE(bus.Pause(*id).ok());
  REQUIRE(bus.Stats(*id)->paused);
  for (int i = 2; i <= 4; ++i) REQUIRE(bus.Publish("o", Order{i}).ok());
  sched.RunUntilIdle();
  REQUIRE(got == std::vector<int>{1});
  REQUIRE(bus.Resume(*id).ok());
  REQUIRE(bus.Publish("o", Order{5}).ok());
  sched.RunUntilIdle();
  REQUIRE(got == std::vector<int>{1, 2, 3, 4, 5});
  REQUIRE(bus.Pause(12345).code() == absl::StatusCode::kNotFound);
}

TEST_CASE("events held by a paused subscription are dead-lettered when it unsubscribes",
          "[bus][pause][dlq]") {
  DeterministicScheduler sched;
  ActorSystem system(sched);
  EventBus bus(system);
  auto id = bus.Subscribe<Order>("o", [](const BusEvent<Order>&) {});
  int dlq = 0;
  REQUIRE(bus.Subscribe<DeadLetterEvent>("$dlq.o", [&](const BusEvent<DeadLetterEvent>&) { ++dlq; }).ok());
  REQUIRE(bus.Pause(*id).ok());
  REQUIRE(bus.Publish("o", Order{1}).ok());
  REQUIRE(bus.Publish("o", Order{2}).ok());
  REQUIRE(bus.Unsubscribe(*id).ok());
  sched.RunUntilIdle();
  REQUIRE(dlq == 2);
}

}  // namespace
}  // namespace engram
