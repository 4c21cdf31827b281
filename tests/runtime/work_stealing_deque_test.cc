#include "runtime/internal/work_stealing_deque.h"

#include <atomic>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

namespace engram {
namespace {

#ifdef ENGRAM_TSAN
constexpr int kItems = 20'000;
#else
constexpr int kItems = 1'000'000;
#endif

TEST_CASE("the owner pops in LIFO order and a thief steals in FIFO order",
          "[runtime][deque]") {
  WorkStealingDeque<int*> dq(2);  // small, so it must grow
  int v[5];
  for (int& x : v) dq.Push(&x);
  REQUIRE(dq.SizeApprox() == 5);
  REQUIRE(dq.Steal() == &v[0]);
  REQUIRE(dq.Pop() == &v[4]);
  REQUIRE(dq.Pop() == &v[3]);
  REQUIRE(dq.Steal() == &v[1]);
  REQUIRE(dq.Pop() == &v[2]);
  REQUIRE(dq.Pop() == nullptr);
  REQUIRE(dq.Steal() == nullptr);
}

TEST_CASE("every pushed item is taken exactly once by the owner or a thief",
          "[runtime][deque][stress]") {
  WorkStealingDeque<int*> dq(4);
  std::vector<int> items(kItems);
  std::vector<std::atomic<int>> taken(kItems);
  std::atomic<bool> done{false};
  std::atomic<int> total{0};
  auto take = [&](int* p) {
    taken[p - items.data()].fetch_add(1, std::memory_order_relaxed);
    total.fetch_add(1, std::memory_order_relaxed);
  };
  std::vector<std::thread> thieves;
  for (int t = 0; t < 3; ++t) {
    thieves.emplace_back([&] {
      while (!done.load(std::memory_order_acquire)) {
        if (int* p = dq.Steal()) take(p);
      }
      while (int* p = dq.Steal()) take(p);
    });
  }
  for (int i = 0; i < kItems; ++i) {
    dq.Push(&items[i]);
    if (i % 3 == 0) {
      if (int* p = dq.Pop()) take(p);
    }
  }
  while (int* p = dq.Pop()) take(p);
  done.store(true, std::memory_order_release);
  for (auto& t : thieves) t.join();
  REQUIRE(total.load() == kItems);
  int wrong = 0;
  for (auto& t : taken) wrong += t.load() != 1;
  REQUIRE(wrong == 0);
}

}  // namespace
}  // namespace engram
