// Request-reply: a reply or an error, exactly one of the two, exactly once.
#include <atomic>
#include <memory>

#include <catch2/catch.hpp>

#include "absl/strings/match.h"
#include <latch>
#include "engram/actors/actor_system.h"

namespace engram {
namespace {

struct Get {};
struct Add {
  int n;
};
struct Slow {
  absl::Duration delay;
};
struct Fail {};
struct NoAnswer {};

class Counter : public Actor {
 public:
  Counter() {
    Handle([this](const Add& a) { total_ += a.n; });
    Handle([this](Get) { return total_; });
    Handle([](Fail) -> absl::StatusOr<int> {
      return absl::InvalidArgumentError("no such thing");
    });
    Handle([](NoAnswer) {});
  }

 private:
  int total_ = 0;
};

TEST_CASE("ask from a plain thread gets the handler's return value",
          "[actors][ask]") {
  ActorSystem system(ActorSystemOptions{.scheduler = {.threads = 2}});
  ActorRef c = system.Spawn<Counter>();
  c.Send(Add{2});
  c.Send(Add{3});
  absl::StatusOr<int> v = system.Ask<int>(c, Get{}, absl::Seconds(30));
  REQUIRE(v.ok());
  REQUIRE(*v == 5);
}

TEST_CASE("a handler's error status reaches the asker", "[actors][ask]") {
  ActorSystem system(ActorSystemOptions{.scheduler = {.threads = 1}});
  ActorRef c = system.Spawn<Counter>();
  absl::StatusOr<int> v = system.Ask<int>(c, Fail{}, absl::Seconds(30));
  REQUIRE(v.status().code() == absl::StatusCode::kInvalidArgument);
  REQUIRE(v.status().message() == "no such thing");
}

TEST_CASE("a request whose handler returns nothing fails instead of hanging",
          "[actors][ask]") {
  ActorSystem system(ActorSystemOptions{.scheduler = {.threads = 1}});
  ActorRef c = system.Spawn<Counter>();
  absl::StatusOr<int> v = system.Ask<int>(c, NoAnswer{}, absl::InfiniteDuration());
  REQUIRE(v.status().code() == absl::StatusCode::kInternal);
  REQUIRE(absl::StrContains(v.status().message(), "NoAnswer"));
}

TEST_CASE("asking for the wrong reply type is an error naming both types",
          "[actors][ask]") {
  ActorSystem system(ActorSystemOptions{.scheduler = {.threads = 1}});
  ActorRef c = system.Spawn<Counter>();
  absl::StatusOr<double> v = system.Ask<double>(c, Get{}, absl::Seconds(30));
  REQUIRE(v.status().code() == absl::StatusCode::kInvalidArgument);
  REQUIRE(absl::StrContains(v.status().message(), "double"));
  REQUIRE(absl::StrContains(v.status().message(), "int"));
}

TEST_CASE("asking a stopped actor fails with UNAVAILABLE", "[actors][ask]") {
  ActorSystem system(ActorSystemOptions{.scheduler = {.threads = 1}});
  ActorRef c = system.Spawn<Counter>();
  c.Stop();
  REQUIRE(system.AwaitStopped(c, absl::Seconds(30)));
  absl::StatusOr<int> v = system.Ask<int>(c, Get{}, absl::Seconds(30));
  REQUIRE(v.status().code() == absl::StatusCode::kUnavailable);
}

TEST_CASE("on fake time, a reply before the deadline wins and the timeout is ignored",
          "[actors][ask][deterministic]") {
  DeterministicScheduler sched;
  ActorSystem system(sched);
  ActorRef c = system.Spawn<Counter>();
  auto f = system.AskAsync<int>(c, Get{}, absl::Seconds(1));
  REQUIRE_FALSE(f.ready());
  sched.RunUntilIdle();
  REQUIRE(f.ready());
  sched.Advance(absl::Seconds(5));  // the cancelled timeout must not fire
  REQUIRE(sched.pending_timers() == 0);
  absl::StatusOr<int> v = f.Get();
  REQUIRE(v.ok());
  REQUIRE(*v == 0);
}

TEST_CASE("on fake time, a timeout before the reply wins and the late reply is dropped",
          "[actors][ask][deterministic]") {
  DeterministicScheduler sched;
  ActorSystem system(sched);
  ActorRef c = system.Spawn<Counter>();
  auto f = system.AskAsync<int>(c, Get{}, absl::Seconds(1));
  sched.Advance(absl::Seconds(1));  // times out; Advance then runs until idle
  REQUIRE(f.ready());
  absl::StatusOr<int> v = f.Get();
  REQUIRE(v.status().code() == absl::StatusCode::kDeadlineExceeded);
  REQUIRE(absl::StrContains(v.status().message(), "Get"));
}

// Asks the counter and records each outcome; a reply and a timeout for the
// same request would both be counted.
class Requester : public Actor {
 public:
  struct Go {
    int n;
    absl::Duration timeout;
  };
  Requester(ActorRef target, std::shared_ptr<std::atomic<int>> replies,
            std::shared_ptr<std::atomic<int>> timeouts,
            std::shared_ptr<std::latch> done)
      : target_(target), replies_(replies), timeouts_(timeouts), done_(done) {
    Handle([this](const Go& go) {
      for (int i = 0; i < go.n; ++i) {
        Request<int>(target_, Get{}, go.timeout, [this](absl::StatusOr<int> r) {
          if (r.ok()) {
            replies_->fetch_add(1);
          } else if (r.status().code() == absl::StatusCode::kDeadlineExceeded) {
            timeouts_->fetch_add(1);
          }  // anything else is counted by neither, and fails the sum
          done_->count_down();
        });
      }
    });
  }

 private:
  ActorRef target_;
  std::shared_ptr<std::atomic<int>> replies_, timeouts_;
  std::shared_ptr<std::latch> done_;
};

TEST_CASE("a request racing its timeout gets exactly one outcome",
          "[actors][ask][stress]") {
  ActorSystem system(ActorSystemOptions{.scheduler = {.threads = 2}});
  constexpr int kRequests = 20'000;
  auto replies = std::make_shared<std::atomic<int>>(0);
  auto timeouts = std::make_shared<std::atomic<int>>(0);
  auto done = std::make_shared<std::latch>(kRequests);
  ActorRef target = system.Spawn<Counter>();
  ActorRef req = system.Spawn<Requester>(target, replies, timeouts, done);
  // Timeouts of a few microseconds: some replies win, some timeouts do.
  for (int i = 0; i < 20; ++i) {
    req.Send(Requester::Go{kRequests / 20, absl::Microseconds(i * 5)});
  }
  done->wait();
  // Give any duplicate outcome time to show up before counting.
  absl::SleepFor(absl::Milliseconds(50));
  REQUIRE(replies->load() + timeouts->load() == kRequests);
}

TEST_CASE("a promise answers a request later", "[actors][ask]") {
  struct Deferred {};
  struct Release {};
  class Later : public Actor {
   public:
    Later() {
      Handle([this](Deferred) { held_ = MakePromise<int>(); });
      Handle([this](Release) { held_.Deliver(42); });
    }

   private:
    Promise<int> held_;
  };
  DeterministicScheduler sched;
  ActorSystem system(sched);
  ActorRef a = system.Spawn<Later>();
  auto f = system.AskAsync<int>(a, Deferred{}, absl::Seconds(10));
  sched.RunUntilIdle();
  REQUIRE_FALSE(f.ready());
  a.Send(Release{});
  sched.RunUntilIdle();
  REQUIRE(f.ready());
  REQUIRE(*f.Get() == 42);
}

}  // namespace
}  // namespace engram
