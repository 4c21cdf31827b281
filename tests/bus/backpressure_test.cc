// Backpressure: every overflow policy of a bounded subscription, and every
// drop counted.
#include <atomic>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "engram/actors/actor_system.h"
#include "engram/bus/event_bus.h"
#include "tests/bus/bus_test_util.h"

namespace engram {
namespace {

using testing::Order;

SubscriptionOptions Bounded(uint32_t capacity, OverflowPolicy policy) {
  SubscriptionOptions o;
  o.name = "slow";
  o.capacity = capacity;
  o.overflow = policy;
  return o;
}

TEST_CASE("a full subscription with the drop policy drops the newest and counts each drop",
          "[bus][backpressure]") {
  DeterministicScheduler sched;
  ActorSystem system(sched);
  EventBus bus(system);
  std::vector<int> got;
  auto id = bus.Subscribe<Order>("o", [&](const BusEvent<Order>& e) { got.push_back(e.data().id); },
                                 Bounded(2, OverflowPolicy::kDropNewest));
  REQUIRE(id.ok());
  std::vector<uint32_t> dropped;
  for (int i = 0; i < 5; ++i) {
    auto r = bus.Publish("o", Order{i});
    REQUIRE(r.ok());
    dropped.push_back(r->dropped);
  }
  REQUIRE(dropped == std::vector<uint32_t>{0, 0, 1, 1, 1});
  REQUIRE(bus.Stats(*id)->dropped == 3);
  REQUIRE(bus.Stats(*id)->in_flight == 2);
  REQUIRE(bus.stats().dropped == 3);
  sched.RunUntilIdle();
  REQUIRE(bus.Stats(*id)->in_flight == 0);
  REQUIRE(bus.Publish("o", Order{5}).ok());  // room again
  sched.RunUntilIdle();
  REQUIRE(got == std::vector<int>{0, 1, 5});
  REQUIRE(bus.Stats(*id)->delivered == 3);
}

TEST_CASE("a full subscription with the fail policy returns an error naming it to the publisher",
          "[bus][backpressure]") {
  DeterministicScheduler sched;
  ActorSystem system(sched);
  EventBus bus(system);
  int fast = 0;
  auto id = bus.Subscribe<Order>("o", [](const BusEvent<Order>&) {},
                                 Bounded(1, OverflowPolicy::kFail));
  REQUIRE(bus.Subscribe<Order>("o", [&](const BusEvent<Order>&) { ++fast; }).ok());
  REQUIRE(bus.Publish("o", Order{1}).ok());
  auto r = bus.Publish("o", Order{2});
  REQUIRE(r.status().code() == absl::StatusCode::kResourceExhausted);
  REQUIRE_THAT(std::string(r.status().message()), Catch::Contains("subscription \"slow\""));
  REQUIRE_THAT(std::string(r.status().message()), Catch::Contains("topic \"o\""));
  REQUIRE(bus.Stats(*id)->rejected == 1);
  REQUIRE(bus.stats().rejected == 1);
  sched.RunUntilIdle();
  REQUIRE(fast == 2);  // the other subscriber still got the event
}

TEST_CASE("a full subscription with the block policy times out the publisher after block_timeout",
          "[bus][backpressure]") {
  DeterministicScheduler sched;
  ActorSystem system(sched);
  EventBus bus(system);
  SubscriptionOptions o = Bounded(1, OverflowPolicy::kBlock);
  o.block_timeout = absl::Milliseconds(30);
  auto id = bus.Subscribe<Order>("o", [](const BusEvent<Order>&) {}, o);
  REQUIRE(bus.Publish("o", Order{1}).ok());
  const absl::Time start = absl::Now();
  auto r = bus.Publish("o", Order{2});
  REQUIRE(absl::Now() - start >= absl::Milliseconds(30));
  REQUIRE(r.status().code() == absl::StatusCode::kDeadlineExceeded);
  REQUIRE_THAT(std::string(r.status().message()), Catch::Contains("\"slow\""));
  REQUIRE(bus.Stats(*id)->timed_out == 1);
  REQUIRE(bus.stats().timed_out == 1);
}

TEST_CASE("a blocked publisher resumes when the subscriber frees a slot and nothing is lost",
          "[bus][backpressure]") {
  constexpr uint32_t kCapacity = 4;
  constexpr int kEvents = 2000;
  std::atomic<int> got{0}, errors{0};
  std::atomic<uint64_t> max_in_flight{0};
  std::atomic<SubscriptionId> id{0};
  std::atomic<bool> ready{false};
  ActorSystemOptions so;
  so.scheduler.threads = 2;
  ActorSystem system(so);
  EventBus bus(system);
  auto sub = bus.Subscribe<Order>("o", [&](const BusEvent<Order>& e) {
    if (ready.load()) {
      auto st = bus.Stats(id.load());
      if (st.ok() && st->in_flight > max_in_flight.load()) max_in_flight.store(st->in_flight);
    }
    if (e.data().id % 100 == 0) std::this_thread::sleep_for(std::chrono::microseconds(200));
    got.fetch_add(1);
  }, Bounded(kCapacity, OverflowPolicy::kBlock));
  REQUIRE(sub.ok());
  id.store(*sub);
  ready.store(true);
  std::thread publisher([&] {
    for (int i = 0; i < kEvents; ++i) {
      if (!bus.Publish("o", Order{i}).ok()) errors.fetch_add(1);
    }
  });
  publisher.join();
  for (int i = 0; i < 2000 && got.load() < kEvents; ++i) absl::SleepFor(absl::Milliseconds(5));
  REQUIRE(got.load() == kEvents);
  REQUIRE(errors.load() == 0);
  REQUIRE(max_in_flight.load() <= kCapacity);
  REQUIRE(bus.Stats(id.load())->dropped + bus.Stats(id.load())->rejected + bus.Stats(id.load())->timed_out == 0);
  REQUIRE(bus.Stats(id.load())->delivered == kEvents);
}

}  // namespace
}  // namespace engram
