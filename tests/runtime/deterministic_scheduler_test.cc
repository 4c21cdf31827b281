#include "engram/runtime/deterministic_scheduler.h"

#include <string>
#include <vector>

#include <catch2/catch.hpp>

namespace engram {
namespace {

// A unit with `work` messages; each turn does at most `budget` of them and
// logs its name once per message.
class Worklet final : public Schedulable {
 public:
  Worklet(std::string name, int work, std::vector<std::string>* log)
      : name_(std::move(name)), work_(work), log_(log) {}
  TurnResult RunTurn(int budget) noexcept override {
    for (int i = 0; i < budget && work_ > 0; ++i, --work_) log_->push_back(name_);
    return work_ > 0 ? TurnResult::kYield : TurnResult::kIdle;
  }

 private:
  std::string name_;
  int work_;
  std::vector<std::string>* log_;
};

TEST_CASE("the deterministic scheduler runs exactly one message per step, round robin",
          "[runtime][deterministic]") {
  DeterministicScheduler sched;
  std::vector<std::string> log;
  Worklet a("a", 2, &log), b("b", 1, &log);
  sched.Schedule(&a);
  sched.Schedule(&b);
  REQUIRE(sched.runnable() == 2);
  REQUIRE(sched.RunOne());
  REQUIRE(log == std::vector<std::string>{"a"});
  REQUIRE(sched.runnable() == 2);  // a yielded to the back
  REQUIRE(sched.RunOne());
  REQUIRE(log == std::vector<std::string>{"a", "b"});
  REQUIRE(sched.RunUntilIdle() == 1);
  REQUIRE(log == std::vector<std::string>{"a", "b", "a"});
  REQUIRE_FALSE(sched.RunOne());
}

TEST_CASE("advancing fake time runs the work a timer makes runnable",
          "[runtime][deterministic]") {
  DeterministicScheduler sched;
  std::vector<std::string> log;
  Worklet w("w", 1, &log);
  sched.Schedule(absl::Milliseconds(10), absl::ZeroDuration(),
                 [&] { sched.Schedule(&w); });
  sched.Advance(absl::Milliseconds(9));
  REQUIRE(log.empty());
  sched.Advance(absl::Milliseconds(1));
  REQUIRE(log == std::vector<std::string>{"w"});
  REQUIRE(sched.Now() == absl::UnixEpoch() + absl::Milliseconds(10));
}

}  // namespace
}  // namespace engram
