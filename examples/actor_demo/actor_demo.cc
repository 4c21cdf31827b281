// A small tour of the actor runtime: a ping-pong pair, a fan-out of
// workers, a request/reply with a timeout, a supervised restart, and a
// monitor. Prints what happened and how fast.
#include <chrono>
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <vector>

#include <latch>
#include "engram/base/internal/mutex.h"
#include "engram/actors/actor_system.h"

namespace {

using engram::Actor;
using engram::ActorRef;
using engram::ActorSystem;

struct Ball {
  int64_t left;
  ActorRef back;
};

// Returns the ball until it has crossed `left` times, then signals.
class Player : public Actor {
 public:
  explicit Player(std::shared_ptr<engram::Notification> done) {
    Handle([this, done](Ball b) {
      if (b.left == 0) {
        done->Notify();
        return;
      }
      ActorRef back = std::move(b.back);
      back.Send(Ball{b.left - 1, self()});
    });
  }
};

struct Work {
  int64_t n;
};

// Adds up 1..n per message and reports the total to a shared counter.
class Adder : public Actor {
 public:
  Adder(std::shared_ptr<std::atomic<int64_t>> sum,
        std::shared_ptr<std::latch> done) {
    Handle([sum, done](const Work& w) {
      int64_t s = 0;
      for (int64_t i = 1; i <= w.n; ++i) s += i;
      sum->fetch_add(s);
      done->count_down();
    });
  }
};

struct Balance {};
struct Deposit {
  int64_t amount;
};
struct Crash {};

class Account : public Actor {
 public:
  Account() {
    Handle([this](const Deposit& d) { balance_ += d.amount; });
    Handle([this](Balance) { return balance_; });
    Handle([](Crash) { throw std::runtime_error("simulated bug"); });
  }

 private:
  int64_t balance_ = 0;
};

class Watcher : public Actor {
 public:
  explicit Watcher(std::shared_ptr<engram::Notification> seen) {
    Handle([this](const ActorRef& r) {
      Monitor(r);
      return true;  // answered once the monitor is in place
    });
    Handle([seen](const engram::Down& d) {
      std::printf("  monitor: %s stopped: %s\n", d.actor.name().c_str(),
                  d.reason.ToString().c_str());
      seen->Notify();
    });
  }
};

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since)
      .count();
}

}  // namespace

int main() {
  ActorSystem system;
  std::printf("engram actor demo: %d worker threads\n", system.scheduler()->threads());

  {  // Ping-pong: hand-off keeps the pair on one worker.
    constexpr int64_t kCrossings = 2'000'000;
    auto done = std::make_shared<engram::Notification>();
    ActorRef a = system.Spawn<Player>(done);
    ActorRef b = system.Spawn<Player>(done);
    const auto start = std::chrono::steady_clock::now();
    a.Send(Ball{kCrossings, b});
    done->WaitForNotification();
    const double s = Seconds(start);
    std::printf("ping-pong: %lld messages in %.3f s = %.1f M msg/s (%.0f ns per hand-off)\n",
                static_cast<long long>(kCrossings), s, kCrossings / s / 1e6,
                s * 1e9 / kCrossings);
  }

  {  // Fan-out: 1,000 actors, 100 messages each, spread over the workers.
    constexpr int kActors = 1000, kEach = 100;
    auto sum = std::make_shared<std::atomic<int64_t>>(0);
    auto done = std::make_shared<std::latch>(kActors * kEach);
    std::vector<ActorRef> adders;
    for (int i = 0; i < kActors; ++i) adders.push_back(system.Spawn<Adder>(sum, done));
    const auto start = std::chrono::steady_clock::now();
    for (int k = 0; k < kEach; ++k) {
      for (auto& a : adders) a.Send(Work{100});
    }
    done->wait();
    const double s = Seconds(start);
    const bool ok = sum->load() == int64_t{kActors} * kEach * 5050;
    std::printf("fan-out: %d messages to %d actors in %.3f s = %.1f M msg/s, sum %s\n",
                kActors * kEach, kActors, s, kActors * kEach / s / 1e6,
                ok ? "correct" : "WRONG");
    for (auto& a : adders) a.Stop();
    if (!ok) return 1;
  }

  {  // Request/reply, supervision and monitoring.
    ActorRef account = system.Spawn<Account>();
    account.Send(Deposit{100});
    auto balance = system.Ask<int64_t>(account, Balance{}, absl::Seconds(5));
    std::printf("ask: balance after a deposit of 100 = %lld\n",
                static_cast<long long>(*balance));
    account.Send(Crash{});
    balance = system.Ask<int64_t>(account, Balance{}, absl::Seconds(5));
    std::printf("supervision: after a handler threw, the account restarted with "
                "fresh state: balance = %lld\n",
                static_cast<long long>(*balance));
    auto seen = std::make_shared<engram::Notification>();
    ActorRef watcher = system.Spawn<Watcher>(seen);
    (void)system.Ask<bool>(watcher, account, absl::Seconds(5));
    account.Stop(absl::CancelledError("closed by the demo"));
    seen->WaitForNotification();
    std::printf("dead letters: a send to the stopped account returned \"%s\"\n",
                std::string(engram::SendResultName(account.Send(Deposit{1}))).c_str());
  }

  const auto stats = system.scheduler()->stats();
  std::printf("scheduler: %llu turns, %llu steals, %llu parks, %llu wake-ups\n",
              static_cast<unsigned long long>(stats.turns),
              static_cast<unsigned long long>(stats.steals),
              static_cast<unsigned long long>(stats.parks),
              static_cast<unsigned long long>(stats.wakes));
  return 0;
}
