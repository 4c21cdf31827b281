#include <vector>

#include <catch2/catch.hpp>

#include "engram/actors/actor_system.h"

namespace engram {
namespace {

struct Tick {
  int n;
};
struct StartTicking {};
struct Stamp {};

class Ticker : public Actor {
 public:
  explicit Ticker(std::shared_ptr<std::vector<absl::Time>> log) : log_(log) {
    Handle([this](StartTicking) {
      timer_ = SendSelfPeriodically(absl::Seconds(1), Tick{0});
    });
    Handle([this](const Tick&) {
      log_->push_back(Now());
      if (log_->size() == 3) CancelTimer(timer_);
    });
  }

 private:
  std::shared_ptr<std::vector<absl::Time>> log_;
  TimerId timer_ = 0;
};

TEST_CASE("a periodic send on fake time arrives once per period until cancelled",
          "[actors][timer]") {
  DeterministicScheduler sched;
  ActorSystem system(sched);
  auto log = std::make_shared<std::vector<absl::Time>>();
  ActorRef t = system.Spawn<Ticker>(log);
  t.Send(StartTicking{});
  sched.RunUntilIdle();
  sched.Advance(absl::Seconds(10));
  const absl::Time t0 = absl::UnixEpoch();
  REQUIRE(*log == std::vector<absl::Time>{t0 + absl::Seconds(1), t0 + absl::Seconds(2),
                                          t0 + absl::Seconds(3)});
}

class Recorder : public Actor {
 public:
  explicit Recorder(std::shared_ptr<std::vector<int>> got) {
    Handle([got](const Tick& t) { got->push_back(t.n); });
  }
};

TEST_CASE("delayed sends arrive in deadline order, and a cancelled one never",
          "[actors][timer]") {
  DeterministicScheduler sched;
  ActorSystem system(sched);
  auto got = std::make_shared<std::vector<int>>();
  ActorRef r = system.Spawn<Recorder>(got);
  system.SendAfter(r, absl::Seconds(3), Tick{3});
  system.SendAfter(r, absl::Seconds(1), Tick{1});
  const TimerId cancelled = system.SendAfter(r, absl::Seconds(2), Tick{2});
  REQUIRE(system.CancelTimer(cancelled));
  sched.Advance(absl::Milliseconds(999));
  REQUIRE(got->empty());
  sched.Advance(absl::Seconds(5));
  REQUIRE(*got == std::vector<int>{1, 3});
}

TEST_CASE("a delayed send on the real timer thread arrives", "[actors][timer]") {
  ActorSystem system(ActorSystemOptions{.scheduler = {.threads = 1}});
  struct Get {};
  class Box : public Actor {
   public:
    Box() {
      Handle([this](const Tick& t) { last_ = t.n; });
      Handle([this](Get) { return last_; });
    }

   private:
    int last_ = 0;
  };
  ActorRef b = system.Spawn<Box>();
  system.SendAfter(b, absl::Milliseconds(10), Tick{7});
  int last = 0;
  for (int i = 0; i < 3000 && last != 7; ++i) {
    absl::SleepFor(absl::Milliseconds(10));
    last = system.Ask<int>(b, Get{}, absl::Seconds(30)).value();
  }
  REQUIRE(last == 7);
}

}  // namespace
}  // namespace engram
