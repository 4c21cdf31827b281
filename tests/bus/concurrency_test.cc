// Subscribe and unsubscribe from many threads (and from inside handlers)
// while events flow; per-key order in a group under real threads. Sized
// down under ThreadSanitizer.
#include <atomic>
#include <latch>
#include <map>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "absl/base/thread_annotations.h"
#include "engram/actors/actor_system.h"
#include "engram/base/internal/mutex.h"
#include "engram/bus/event_bus.h"
#include "tests/bus/bus_test_util.h"

namespace engram {
namespace {

using testing::Order;

#ifdef ENGRAM_TSAN
constexpr int kScale = 2;
#else
constexpr int kScale = 20;
#endif

bool WaitFor(const std::function<bool()>& done) {
  for (int i = 0; i < 4000; ++i) {
    if (done()) return true;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return done();
}

TEST_CASE("subscribing and unsubscribing during delivery loses nothing for steady subscribers",
          "[bus][concurrency]") {
  // State the handlers touch is declared before the system, so it outlives
  // every handler (the system's destructor waits for them).
  constexpr int kPublishers = 2;
  const int per_publisher = 2000 * kScale;
  std::atomic<int> steady_exact{0}, steady_wild{0}, churn_seen{0}, inner_seen{0};
  std::atomic<int> errors{0}, churner_seen{0};
  Mutex mu;
  std::vector<SubscriptionId> inner;
  ActorSystemOptions so;
  so.scheduler.threads = 2;
  ActorSystem system(so);
  EventBus bus(system);
  REQUIRE(bus.Subscribe<Order>("orders.eu.created", [&](const BusEvent<Order>&) {
               steady_exact.fetch_add(1, std::memory_order_relaxed);
             }).ok());
  REQUIRE(bus.Subscribe<Order>("orders.*.>", [&](const BusEvent<Order>&) {
               steady_wild.fetch_add(1, std::memory_order_relaxed);
             }).ok());
  // A handler that subscribes and unsubscribes from inside itself.
  REQUIRE(bus.Subscribe<Order>("orders.>", [&](const BusEvent<Order>& e) {
               churner_seen.fetch_add(1, std::memory_order_relaxed);
               if (e.data().id % 50 != 0) return;
               MutexLock lock(&mu);
               if (inner.size() < 3) {
                 auto id = bus.Subscribe<Order>("orders.eu.*", [&](const BusEvent<Order>&) {
                   inner_seen.fetch_add(1, std::memory_order_relaxed);
                 });
                 if (!id.ok()) errors.fetch_add(1);
                 else inner.push_back(*id);
               } else {
                 if (!bus.Unsubscribe(inner.front()).ok()) errors.fetch_add(1);
                 inner.erase(inner.begin());
               }
             }).ok());
  std::atomic<bool> stop{false};
  std::latch start(kPublishers + 2);
  std::vector<std::thread> threads;
  for (int p = 0; p < kPublishers; ++p) {
    threads.emplace_back([&, p] {
      start.arrive_and_wait();
      for (int i = 0; i < per_publisher; ++i) {
        if (!bus.Publish("orders.eu.created", Order{p * per_publisher + i}).ok()) errors.fetch_add(1);
      }
    });
  }
  for (int c = 0; c < 2; ++c) {
    threads.emplace_back([&, c] {
      start.arrive_and_wait();
      while (!stop.load(std::memory_order_relaxed)) {
        auto id = bus.Subscribe<Order>(c == 0 ? "orders.>" : "orders.eu.created",
                                       [&](const BusEvent<Order>&) {
                                         churn_seen.fetch_add(1, std::memory_order_relaxed);
                                       });
        if (!id.ok()) {
          errors.fetch_add(1);
          continue;
        }
        std::this_thread::yield();
        if (!bus.Unsubscribe(*id).ok()) errors.fetch_add(1);
      }
    });
  }
  for (int p = 0; p < kPublishers; ++p) threads[p].join();
  stop.store(true);
  for (size_t t = kPublishers; t < threads.size(); ++t) threads[t].join();
  const int total = kPublishers * per_publisher;
  REQUIRE(WaitFor([&] {
    return steady_exact.load() == total && steady_wild.load() == total &&
           churner_seen.load() == total;
  }));
  REQUIRE(errors.load() == 0);
  REQUIRE(steady_exact.load() == total);
  REQUIRE(steady_wild.load() == total);
  // An event offered while its churning subscriber was being closed may
  // reach the stopped runner: it is dead-lettered, never lost. Dead
  // letters are publications too.
  REQUIRE(bus.stats().published - bus.stats().dead_lettered == static_cast<uint64_t>(total));
}

TEST_CASE("per-key order holds in a group while members join and leave on other threads",
          "[bus][concurrency][group]") {
  constexpr int kKeys = 16;
  const int events = 3000 * kScale;
  Mutex mu;
  std::map<int, int> next;
  int errors = 0;
  std::atomic<int> handled{0}, thread_errors{0};
  ActorSystemOptions so;
  so.scheduler.threads = 2;
  ActorSystem system(so);
  EventBus bus(system);
  SubscriptionOptions g;
  g.group = "billing";
  g.group_mode = GroupMode::kKeyHash;
  auto handler = [&](const BusEvent<Order>& e) {
    const int key = std::stoi(*e.partition_key());
    {
      MutexLock lock(&mu);
      if (next[key] != e.data().id) ++errors;
      next[key] = e.data().id + 1;
    }
    handled.fetch_add(1, std::memory_order_relaxed);
  };
  REQUIRE(bus.Subscribe<Order>("orders", handler, g).ok());  // stays
  std::atomic<bool> stop{false};
  std::thread churn([&] {
    std::vector<SubscriptionId> mine;
    int round = 0;
    while (!stop.load(std::memory_order_relaxed)) {
      if (mine.size() < 3 && (round++ % 3 != 2 || mine.empty())) {
        auto id = bus.Subscribe<Order>("orders", handler, g);
        if (!id.ok()) thread_errors.fetch_add(1);
        else mine.push_back(*id);
      } else {
        if (!bus.Unsubscribe(mine.front()).ok()) thread_errors.fetch_add(1);
        mine.erase(mine.begin());
      }
      std::this_thread::sleep_for(std::chrono::microseconds(300));
    }
  });
  std::vector<int> sent(kKeys, 0);
  for (int i = 0; i < events; ++i) {
    const int key = i % kKeys;
    PublishOptions o;
    o.partition_key = std::to_string(key);
    REQUIRE(bus.Publish("orders", Order{sent[key]++}, o).ok());
  }
  stop.store(true);
  churn.join();
  REQUIRE(WaitFor([&] { return handled.load() == events; }));
  REQUIRE(handled.load() == events);
  REQUIRE(thread_errors.load() == 0);
  MutexLock lock(&mu);
  REQUIRE(errors == 0);
  for (int k = 0; k < kKeys; ++k) REQUIRE(next[k] == sent[k]);
  REQUIRE(bus.stats().dead_lettered == 0);
}

}  // namespace
}  // namespace engram
