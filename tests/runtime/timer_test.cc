#include <atomic>
#include <vector>

#include <catch2/catch.hpp>

#include "engram/base/internal/mutex.h"
#include "engram/runtime/deterministic_scheduler.h"
#include "runtime/internal/timer_thread.h"

namespace engram {
namespace {

TEST_CASE("a one-shot timer fires once, at its deadline, on fake time",
          "[runtime][timer]") {
  DeterministicScheduler sched;
  const absl::Time start = sched.Now();
  std::vector<absl::Time> fired;
  sched.Schedule(absl::Seconds(5), absl::ZeroDuration(),
                 [&] { fired.push_back(sched.Now()); });
  REQUIRE(sched.Advance(absl::Seconds(4)) == 0);
  REQUIRE(fired.empty());
  REQUIRE(sched.Advance(absl::Seconds(2)) == 1);
  REQUIRE(fired == std::vector<absl::Time>{start + absl::Seconds(5)});
  REQUIRE(sched.Advance(absl::Hours(1)) == 0);
  REQUIRE(sched.pending_timers() == 0);
}

TEST_CASE("a periodic timer fires every period until it is cancelled",
          "[runtime][timer]") {
  DeterministicScheduler sched;
  int count = 0;
  const TimerId id =
      sched.Schedule(absl::Seconds(1), absl::Seconds(1), [&] { ++count; });
  REQUIRE(sched.Advance(absl::Milliseconds(3500)) == 3);
  REQUIRE(count == 3);
  REQUIRE(sched.Cancel(id));
  REQUIRE(sched.Advance(absl::Seconds(10)) == 0);
  REQUIRE(count == 3);
  REQUIRE_FALSE(sched.Cancel(id));
}

TEST_CASE("timers fire in deadline order and ties in scheduling order",
          "[runtime][timer]") {
  DeterministicScheduler sched;
  std::vector<int> order;
  sched.Schedule(absl::Seconds(2), absl::ZeroDuration(), [&] { order.push_back(3); });
  sched.Schedule(absl::Seconds(1), absl::ZeroDuration(), [&] { order.push_back(1); });
  sched.Schedule(absl::Seconds(1), absl::ZeroDuration(), [&] { order.push_back(2); });
  sched.Advance(absl::Seconds(3));
  REQUIRE(order == std::vector<int>{1, 2, 3});
}

TEST_CASE("a timer cancelled by an earlier timer at the same instant does not fire",
          "[runtime][timer]") {
  DeterministicScheduler sched;
  bool second_ran = false;
  TimerId second = 0;
  sched.Schedule(absl::Seconds(1), absl::ZeroDuration(), [&] { sched.Cancel(second); });
  second = sched.Schedule(absl::Seconds(1), absl::ZeroDuration(),
                          [&] { second_ran = true; });
  REQUIRE(sched.Advance(absl::Seconds(1)) == 1);
  REQUIRE_FALSE(second_ran);
}

TEST_CASE("the timer thread runs delayed callbacks and skips cancelled ones",
          "[runtime][timer]") {
  TimerThread timers;
  engram::Notification fired;
  std::atomic<bool> cancelled_ran{false};
  const TimerId cancelled = timers.Schedule(
      absl::Milliseconds(20), absl::ZeroDuration(), [&] { cancelled_ran = true; });
  timers.Schedule(absl::Milliseconds(50), absl::ZeroDuration(), [&] { fired.Notify(); });
  REQUIRE(timers.Cancel(cancelled));
  REQUIRE(fired.WaitForNotificationWithTimeout(absl::Seconds(30)));
  REQUIRE_FALSE(cancelled_ran.load());
}

TEST_CASE("a periodic timer on the timer thread keeps firing until cancelled",
          "[runtime][timer]") {
  TimerThread timers;
  std::atomic<int> count{0};
  engram::Notification three;
  const TimerId id = timers.Schedule(absl::Milliseconds(1), absl::Milliseconds(1), [&] {
    if (count.fetch_add(1) + 1 == 3) three.Notify();
  });
  REQUIRE(three.WaitForNotificationWithTimeout(absl::Seconds(30)));
  REQUIRE(timers.Cancel(id));
  // Callbacks taken due before Cancel() returned may still be running.
  // Callbacks run one at a time in deadline order, so once a marker timer
  // scheduled now has run, they have all finished.
  engram::Notification drained;
  timers.Schedule(absl::ZeroDuration(), absl::ZeroDuration(), [&] { drained.Notify(); });
  REQUIRE(drained.WaitForNotificationWithTimeout(absl::Seconds(30)));
  const int settled = count.load();
  absl::SleepFor(absl::Milliseconds(50));
  REQUIRE(count.load() == settled);
}

}  // namespace
}  // namespace engram
