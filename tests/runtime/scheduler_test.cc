#include "runtime/scheduler.h"

#include <atomic>
#include <set>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include <latch>
#include "base/mutex.h"
#include "base/mutex.h"
#include "absl/time/clock.h"

namespace engram {
namespace {

#ifdef ENGRAM_TSAN
constexpr int kUnits = 200;
constexpr int kTurnsPerUnit = 50;
#else
constexpr int kUnits = 2'000;
constexpr int kTurnsPerUnit = 500;
#endif

// Needs `turns` turns of one message each, re-scheduling itself through the
// scheduler (as an actor does when it sends to itself); counts down a latch
// when done.
class Chain final : public Schedulable {
 public:
  Chain(Scheduler* s, int turns, std::latch* done)
      : sched_(s), left_(turns), done_(done) {}
  TurnResult RunTurn(int) noexcept override {
    runs_.fetch_add(1, std::memory_order_relaxed);
    if (--left_ == 0) {
      done_->count_down();
      return TurnResult::kStopped;
    }
    sched_->Schedule(this);  // from inside a worker: hand-off path
    return TurnResult::kIdle;
  }
  int runs() const { return runs_.load(); }

 private:
  Scheduler* sched_;
  int left_;
  std::latch* done_;
  std::atomic<int> runs_{0};
};

TEST_CASE("every scheduled unit runs exactly the turns it asked for",
          "[runtime][scheduler][stress]") {
  Scheduler sched(Scheduler::Options{.threads = 4});
  std::latch done(kUnits);
  std::vector<std::unique_ptr<Chain>> units;
  for (int i = 0; i < kUnits; ++i) {
    units.push_back(std::make_unique<Chain>(&sched, kTurnsPerUnit, &done));
  }
  for (auto& u : units) sched.Schedule(u.get());  // from outside: global queue
  done.wait();
  for (auto& u : units) REQUIRE(u->runs() == kTurnsPerUnit);
  REQUIRE(sched.stats().turns >= static_cast<uint64_t>(kUnits) * kTurnsPerUnit);
}

// Records the worker that runs it.
class WhereAmI final : public Schedulable {
 public:
  TurnResult RunTurn(int) noexcept override {
    worker.store(Scheduler::CurrentWorkerIndex());
    ran.Notify();
    return TurnResult::kStopped;
  }
  std::atomic<int> worker{-2};
  engram::Notification ran;
};

// Makes `next` runnable from inside a worker, then records its own worker.
class Parent final : public Schedulable {
 public:
  explicit Parent(Scheduler* s, Schedulable* next) : sched_(s), next_(next) {}
  TurnResult RunTurn(int) noexcept override {
    worker.store(Scheduler::CurrentWorkerIndex());
    sched_->Schedule(next_);
    return TurnResult::kStopped;
  }
  std::atomic<int> worker{-2};

 private:
  Scheduler* sched_;
  Schedulable* next_;
};

TEST_CASE("a unit made runnable inside a worker runs next on that worker",
          "[runtime][scheduler]") {
  Scheduler sched(Scheduler::Options{.threads = 2});
  for (int round = 0; round < 100; ++round) {
    WhereAmI child;
    Parent parent(&sched, &child);
    sched.Schedule(&parent);
    REQUIRE(child.ran.WaitForNotificationWithTimeout(absl::Seconds(60)));
    REQUIRE(child.worker.load() >= 0);
    REQUIRE(child.worker.load() == parent.worker.load());
  }
}

TEST_CASE("an idle scheduler parks its workers and wakes one for new work",
          "[runtime][scheduler]") {
  Scheduler sched(Scheduler::Options{.threads = 2});
  // Let the workers finish spinning and park.
  for (int i = 0; i < 2000 && sched.stats().parks < 2; ++i) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  REQUIRE(sched.stats().parks >= 2);
  const uint64_t wakes_before = sched.stats().wakes;
  WhereAmI unit;
  sched.Schedule(&unit);
  REQUIRE(unit.ran.WaitForNotificationWithTimeout(absl::Seconds(60)));
  REQUIRE(unit.worker.load() >= 0);
  REQUIRE(sched.stats().wakes >= wakes_before + 1);
}

// Yields until it has run `turns` turns, recording each worker it ran on.
class Yielder final : public Schedulable {
 public:
  explicit Yielder(int turns) : left_(turns) {}
  TurnResult RunTurn(int) noexcept override {
    workers.insert(Scheduler::CurrentWorkerIndex());
    if (--left_ == 0) {
      done.Notify();
      return TurnResult::kStopped;
    }
    return TurnResult::kYield;
  }
  std::set<int> workers;  // only touched on the unit's own turns
  engram::Notification done;

 private:
  int left_;
};

TEST_CASE("a unit that keeps yielding does not starve the others",
          "[runtime][scheduler]") {
  Scheduler sched(Scheduler::Options{.threads = 1});
  Yielder hog(1'000'000'000);
  sched.Schedule(&hog);
  WhereAmI other;
  sched.Schedule(&other);
  REQUIRE(other.ran.WaitForNotificationWithTimeout(absl::Seconds(60)));
  sched.Shutdown();  // the hog never finishes; shutdown must still return
}

TEST_CASE("shutdown joins idle and busy workers", "[runtime][scheduler]") {
  for (int i = 0; i < 20; ++i) {
    Scheduler sched(Scheduler::Options{.threads = 3});
    WhereAmI unit;
    sched.Schedule(&unit);
    if (i % 2) REQUIRE(unit.ran.WaitForNotificationWithTimeout(absl::Seconds(60)));
    sched.Shutdown();
  }
}

}  // namespace
}  // namespace engram
