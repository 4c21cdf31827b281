#include "base/spin_wait.h"

#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

#include "absl/time/clock.h"

#include <catch2/catch.hpp>

TEST_CASE("a parked waiter wakes when the word reaches its target", "[base]") {
  std::atomic<uint64_t> word{0};
  constexpr uint64_t kTarget = 1000;
  std::vector<std::thread> waiters;
  std::vector<uint64_t> seen(3, 0);
  for (int t = 0; t < 3; ++t) {
    waiters.emplace_back([&, t] {
      // No spins and no yields: every waiter parks at once, so the test
      // exercises the park and the wake-up, not the spin.
      seen[t] = engram::internal::SpinThenPark(
          word, [](uint64_t v) { return v >= kTarget; }, {0, 0});
    });
  }
  for (uint64_t i = 1; i <= kTarget; ++i) {
    word.store(i, std::memory_order_release);
    word.notify_all();
  }
  for (auto& w : waiters) w.join();
  for (uint64_t v : seen) REQUIRE(v == kTarget);
}

TEST_CASE("a waiter whose condition already holds returns the current value", "[base]") {
  std::atomic<uint32_t> word{7};
  REQUIRE(engram::internal::SpinThenPark(word, [](uint32_t v) { return v == 7; }) == 7);
}

TEST_CASE("a bounded wait returns nothing at its deadline and the value when it comes", "[base]") {
  // Bit 1 is the nudge bit: the waiter's condition looks at bit 0 only.
  std::atomic<uint32_t> word{0};
  auto nudge = [](void* w) {
    auto* a = static_cast<std::atomic<uint32_t>*>(w);
    a->fetch_xor(2);
    a->notify_all();
  };
  auto done = [](uint32_t v) { return (v & 1) != 0; };
  const auto expired = engram::internal::SpinThenParkUntil(
      word, done, absl::Now() + absl::Milliseconds(10), +nudge, {0, 0});
  REQUIRE_FALSE(expired.has_value());

  std::thread setter([&] {
    absl::SleepFor(absl::Milliseconds(20));
    word.fetch_or(1);
    word.notify_all();
  });
  const auto got = engram::internal::SpinThenParkUntil(
      word, done, absl::Now() + absl::Hours(1), +nudge, {0, 0});
  setter.join();
  REQUIRE(got.has_value());
  REQUIRE((*got & 1) == 1);
}
