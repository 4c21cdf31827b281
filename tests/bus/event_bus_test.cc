// Publish/subscribe basics: the envelope, typed and filtered subscriptions,
// actor subscribers, unsubscribe, errors.
#include <memory>
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
using testing::Payment;

TEST_CASE("a callback subscriber receives the event with its CloudEvents attributes",
          "[bus]") {
  DeterministicScheduler sched(absl::FromUnixSeconds(1000));
  ActorSystem system(sched);
  EventBus bus(system, "shop");
  std::vector<EventAttributes> seen;
  std::vector<int> ids;
  REQUIRE(bus.Subscribe<Order>("orders.*.created", [&](const BusEvent<Order>& e) {
               seen.push_back(e.attributes());
               ids.push_back(e.data().id);
             }).ok());
  PublishOptions o;
  o.partition_key = "customer-7";
  o.extensions["tenant"] = "acme";
  auto r1 = bus.Publish("orders.eu.created", Order{1, "eu"}, o);
  auto r2 = bus.Publish("orders.us.created", Order{2, "us"});
  REQUIRE(r1.ok());
  REQUIRE(r2.ok());
  REQUIRE(r1->accepted == 1);
  REQUIRE(r2->sequence == r1->sequence + 1);
  REQUIRE(seen.empty());  // nothing runs until the scheduler runs it
  sched.RunUntilIdle();
  REQUIRE(ids == std::vector<int>{1, 2});
  const EventAttributes& a = seen[0];
  REQUIRE(a.subject == "orders.eu.created");
  REQUIRE(a.specversion == "1.0");
  REQUIRE(a.source == "shop");
  REQUIRE(a.type == "engram::testing::Order");
  REQUIRE(a.id == std::to_string(r1->sequence));
  REQUIRE(a.sequence == r1->sequence);
  REQUIRE(a.time == absl::FromUnixSeconds(1000));
  REQUIRE(a.datacontenttype == "application/x-engram-object");
  REQUIRE(a.partition_key == std::optional<std::string>("customer-7"));
  REQUIRE(*a.Extension("tenant") == "acme");
  REQUIRE(a.Extension("other") == nullptr);
  REQUIRE_FALSE(seen[1].partition_key.has_value());
}

TEST_CASE("explicit attributes replace the defaults", "[bus]") {
  DeterministicScheduler sched;
  ActorSystem system(sched);
  EventBus bus(system);
  std::vector<EventAttributes> seen;
  REQUIRE(bus.Subscribe<Order>("orders.>", [&](const BusEvent<Order>& e) {
               seen.push_back(e.attributes());
             }).ok());
  PublishOptions o;
  o.id = "evt-1";
  o.source = "/shop/cart";
  o.type = "com.example.order.created";
  o.datacontenttype = "application/json";
  REQUIRE(bus.Publish("orders.x", Order{}, o).ok());
  sched.RunUntilIdle();
  REQUIRE(seen.size() == 1);
  REQUIRE(seen[0].id == "evt-1");
  REQUIRE(seen[0].source == "/shop/cart");
  REQUIRE(seen[0].type == "com.example.order.created");
  REQUIRE(seen[0].datacontenttype == "application/json");
}

TEST_CASE("a typed subscription receives only payloads of its type", "[bus]") {
  DeterministicScheduler sched;
  ActorSystem system(sched);
  EventBus bus(system);
  int orders = 0, payments = 0;
  REQUIRE(bus.Subscribe<Order>(">", [&](const BusEvent<Order>&) { ++orders; }).ok());
  REQUIRE(bus.Subscribe<Payment>(">", [&](const BusEvent<Payment>& e) {
               payments += e.data().amount;
             }).ok());
  REQUIRE(bus.Publish("a.b", Order{}).ok());
  REQUIRE(bus.Publish("a.b", Payment{5}).ok());
  REQUIRE(bus.Publish("c", Payment{7}).ok());
  sched.RunUntilIdle();
  REQUIRE(orders == 1);
  REQUIRE(payments == 12);
}

TEST_CASE("filters on type, source and extension attributes narrow a subscription", "[bus]") {
  DeterministicScheduler sched;
  ActorSystem system(sched);
  EventBus bus(system);
  std::vector<int> by_type, by_source, by_ext;
  SubscriptionOptions t;
  t.filter.type = "created";
  SubscriptionOptions s;
  s.filter.source = "eu-shop";
  SubscriptionOptions x;
  x.filter.extensions["tenant"] = "acme";
  x.filter.extensions["tier"] = "gold";
  REQUIRE(bus.Subscribe<Order>("orders", [&](const BusEvent<Order>& e) { by_type.push_back(e.data().id); }, t).ok());
  REQUIRE(bus.Subscribe<Order>("orders", [&](const BusEvent<Order>& e) { by_source.push_back(e.data().id); }, s).ok());
  REQUIRE(bus.Subscribe<Order>("orders", [&](const BusEvent<Order>& e) { by_ext.push_back(e.data().id); }, x).ok());
  auto pub = [&](int id, std::string type, std::string source,
                 absl::flat_hash_map<std::string, std::string> ext) {
    PublishOptions o;
    o.type = type;
    o.source = source;
    o.extensions = std::move(ext);
    REQUIRE(bus.Publish("orders", Order{id}, o).ok());
  };
  pub(1, "created", "us-shop", {});
  pub(2, "cancelled", "eu-shop", {{"tenant", "acme"}});
  pub(3, "created", "eu-shop", {{"tenant", "acme"}, {"tier", "gold"}});
  pub(4, "x", "y", {{"tenant", "acme"}, {"tier", "silver"}});
  sched.RunUntilIdle();
  REQUIRE(by_type == std::vector<int>{1, 3});
  REQUIRE(by_source == std::vector<int>{2, 3});
  REQUIRE(by_ext == std::vector<int>{3});
}

class OrderDesk : public Actor {
 public:
  explicit OrderDesk(std::shared_ptr<Log<std::string>> log) {
    Handle([log](const BusEvent<Order>& e) {
      log->Add(e.topic() + "#" + std::to_string(e.data().id));
    });
  }
};

TEST_CASE("an actor subscriber gets each event in its mailbox as a BusEvent", "[bus][actor]") {
  DeterministicScheduler sched;
  ActorSystem system(sched);
  EventBus bus(system);
  auto log = std::make_shared<Log<std::string>>();
  ActorRef desk = system.Spawn<OrderDesk>(log);
  auto id = bus.SubscribeActor<Order>("orders.>", desk);
  REQUIRE(id.ok());
  for (int i = 1; i <= 3; ++i) REQUIRE(bus.Publish("orders.eu", Order{i}).ok());
  REQUIRE(bus.Publish("invoices.eu", Order{9}).ok());
  sched.RunUntilIdle();
  REQUIRE(log->items() == std::vector<std::string>{"orders.eu#1", "orders.eu#2", "orders.eu#3"});
  auto st = bus.Stats(*id);
  REQUIRE(st.ok());
  REQUIRE(st->delivered == 3);
  REQUIRE(bus.stats().unrouted == 1);
}

TEST_CASE("a payload that can only be moved is published and shared read-only", "[bus]") {
  DeterministicScheduler sched;
  ActorSystem system(sched);
  EventBus bus(system);
  int sum = 0;
  for (int i = 0; i < 2; ++i) {
    REQUIRE(bus.Subscribe<std::unique_ptr<int>>("x", [&](const BusEvent<std::unique_ptr<int>>& e) {
                 sum += *e.data();
               }).ok());
  }
  REQUIRE(bus.Publish("x", std::make_unique<int>(21)).ok());
  sched.RunUntilIdle();
  REQUIRE(sum == 42);
}

TEST_CASE("after unsubscribe returns, new publications do not reach the subscription",
          "[bus]") {
  DeterministicScheduler sched;
  ActorSystem system(sched);
  EventBus bus(system);
  int n = 0;
  auto id = bus.Subscribe<Order>("o", [&](const BusEvent<Order>&) { ++n; });
  REQUIRE(id.ok());
  REQUIRE(bus.Publish("o", Order{}).ok());
  sched.RunUntilIdle();
  REQUIRE(bus.Unsubscribe(*id).ok());
  auto r = bus.Publish("o", Order{});
  REQUIRE(r.ok());
  REQUIRE(r->accepted == 0);
  sched.RunUntilIdle();
  REQUIRE(n == 1);
  absl::Status again = bus.Unsubscribe(*id);
  REQUIRE(again.code() == absl::StatusCode::kNotFound);
  REQUIRE_THAT(std::string(again.message()), Catch::Contains(std::to_string(*id)));
  REQUIRE(bus.stats().subscriptions == 0);
}

TEST_CASE("malformed topics and patterns are refused with an error naming them", "[bus]") {
  DeterministicScheduler sched;
  ActorSystem system(sched);
  EventBus bus(system);
  auto s = bus.Subscribe<Order>("orders.>.x", [](const BusEvent<Order>&) {});
  REQUIRE(s.status().code() == absl::StatusCode::kInvalidArgument);
  REQUIRE_THAT(std::string(s.status().message()), Catch::Contains("\"orders.>.x\""));
  auto p = bus.Publish("orders.*", Order{});
  REQUIRE(p.status().code() == absl::StatusCode::kInvalidArgument);
  REQUIRE_THAT(std::string(p.status().message()), Catch::Contains("\"orders.*\""));
  auto a = bus.SubscribeActor<Order>("orders", ActorRef());
  REQUIRE(a.status().code() == absl::StatusCode::kInvalidArgument);
  REQUIRE(bus.stats().published == 0);
}

TEST_CASE("the bus refuses a topic or a pattern with an embedded NUL and names its offset",
          "[bus]") {
  DeterministicScheduler sched;
  ActorSystem system(sched);
  EventBus bus(system);
  int got = 0;
  // "orders.b" is a prefix of the bad texts: neither may reach it.
  REQUIRE(bus.Subscribe<Order>("orders.b", [&](const BusEvent<Order>&) { ++got; }).ok());
  const std::string bad_pattern("orders.b\0r", 10);
  auto s = bus.Subscribe<Order>(bad_pattern, [&](const BusEvent<Order>&) { ++got; });
  REQUIRE(s.status().code() == absl::StatusCode::kInvalidArgument);
  REQUIRE(std::string(s.status().message()) ==
          "malformed pattern \"orders.b\\x00r\": control character 0x00 at byte offset 8");
  const std::string bad_topic("orders.b\0", 9);
  for (int i = 0; i < 2; ++i) {  // twice: a refused topic is not cached as valid
    auto p = bus.Publish(bad_topic, Order{});
    REQUIRE(p.status().code() == absl::StatusCode::kInvalidArgument);
    REQUIRE(std::string(p.status().message()) ==
            "malformed topic \"orders.b\\x00\": control character 0x00 at byte offset 8");
  }
  REQUIRE(bus.Publish("orders.b", Order{}).ok());
  sched.RunUntilIdle();
  REQUIRE(got == 1);
  REQUIRE(bus.stats().published == 1);
  REQUIRE(bus.stats().subscriptions == 1);
}

TEST_CASE("a subscriber may subscribe and unsubscribe from inside its own callback",
          "[bus]") {
  DeterministicScheduler sched;
  ActorSystem system(sched);
  EventBus bus(system);
  std::vector<std::string> got;
  SubscriptionId self_id = 0;
  auto id = bus.Subscribe<Order>("o", [&](const BusEvent<Order>& e) {
    got.push_back("first#" + std::to_string(e.data().id));
    REQUIRE(bus.Unsubscribe(self_id).ok());
    REQUIRE(bus.Subscribe<Order>("o", [&](const BusEvent<Order>& e2) {
                 got.push_back("second#" + std::to_string(e2.data().id));
               }).ok());
    REQUIRE(bus.Publish("o", Order{e.data().id + 1}).ok());
  });
  REQUIRE(id.ok());
  self_id = *id;
  REQUIRE(bus.Publish("o", Order{1}).ok());
  sched.RunUntilIdle();
  REQUIRE(got == std::vector<std::string>{"first#1", "second#2"});
}

}  // namespace
}  // namespace engram
