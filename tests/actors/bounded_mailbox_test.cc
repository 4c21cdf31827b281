// Bounded mailboxes: every overflow policy, and never a silent loss.
#include <atomic>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "engram/base/internal/mutex.h"
#include "engram/actors/actor_system.h"

namespace engram {
namespace {

struct Item {
  int n;
};
struct Count {};

class Sink : public Actor {
 public:
  Sink() {
    Handle([this](const Item& i) { received_.push_back(i.n); });
    Handle([this](Count) { return received_; });
  }

 private:
  std::vector<int> received_;
};

SpawnOptions Bounded(uint32_t capacity, OverflowPolicy policy) {
  SpawnOptions o;
  o.mailbox_capacity = capacity;
  o.overflow = policy;
  return o;
}

TEST_CASE("a full mailbox with the drop policy drops the newest and counts each drop",
          "[actors][bounded]") {
  DeterministicScheduler sched;
  ActorSystem system(sched);
  ActorRef s = system.SpawnWith<Sink>(Bounded(3, OverflowPolicy::kDropNewest));
  std::vector<SendResult> results;
  for (int i = 0; i < 5; ++i) results.push_back(s.Send(Item{i}));
  REQUIRE(results == std::vector<SendResult>{SendResult::kDelivered, SendResult::kDelivered,
                                             SendResult::kDelivered, SendResult::kDropped,
                                             SendResult::kDropped});
  REQUIRE(system.dropped() == 2);
  sched.RunUntilIdle();
  // Space again after the sink drained its mailbox.
  REQUIRE(s.Send(Item{5}) == SendResult::kDelivered);
  auto f = system.AskAsync<std::vector<int>>(s, Count{}, absl::Seconds(1));
  sched.RunUntilIdle();
  REQUIRE(*f.Get() == std::vector<int>{0, 1, 2, 5});
}

TEST_CASE("a full mailbox with the fail policy rejects the send with an error naming the actor",
          "[actors][bounded]") {
  DeterministicScheduler sched;
  ActorSystem system(sched);
  SpawnOptions o = Bounded(1, OverflowPolicy::kFail);
  o.name = "inbox";
  ActorRef s = system.SpawnWith<Sink>(o);
  REQUIRE(s.TrySend(Item{0}).ok());
  absl::Status st = s.TrySend(Item{1});
  REQUIRE(st.code() == absl::StatusCode::kResourceExhausted);
  REQUIRE(st.message() == "send to inbox: rejected (mailbox full)");
  REQUIRE(system.rejected() == 1);
}

TEST_CASE("system messages are not refused by a full mailbox", "[actors][bounded]") {
  DeterministicScheduler sched;
  ActorSystem system(sched);
  ActorRef s = system.SpawnWith<Sink>(Bounded(1, OverflowPolicy::kFail));
  REQUIRE(s.Send(Item{0}) == SendResult::kDelivered);
  s.Stop();  // the stop signal must get through
  sched.RunUntilIdle();
  REQUIRE_FALSE(s.alive());
}

TEST_CASE("a full mailbox with the block policy makes the sender wait for space",
          "[actors][bounded]") {
  ActorSystem system(ActorSystemOptions{.scheduler = {.threads = 2}});
  ActorRef s = system.SpawnWith<Sink>(Bounded(4, OverflowPolicy::kBlock));
  constexpr int kN = 20'000;
  std::vector<std::thread> senders;
  std::atomic<int> not_delivered{0};
  for (int t = 0; t < 2; ++t) {
    senders.emplace_back([&, t] {
      for (int i = 0; i < kN; ++i) {
        if (s.Send(Item{t * kN + i}) != SendResult::kDelivered) ++not_delivered;
      }
    });
  }
  for (auto& t : senders) t.join();
  REQUIRE(not_delivered.load() == 0);
  auto got = system.Ask<std::vector<int>>(s, Count{}, absl::Seconds(60));
  REQUIRE(got.ok());
  REQUIRE(got->size() == 2 * kN);
  REQUIRE(system.dropped() + system.rejected() == 0);
}

TEST_CASE("a blocked sender gives up after the block timeout and is told so",
          "[actors][bounded]") {
  DeterministicScheduler sched;  // nothing drains the mailbox
  ActorSystem system(sched);
  SpawnOptions o = Bounded(1, OverflowPolicy::kBlock);
  o.block_timeout = absl::Milliseconds(20);
  ActorRef s = system.SpawnWith<Sink>(o);
  REQUIRE(s.Send(Item{0}) == SendResult::kDelivered);
  REQUIRE(s.Send(Item{1}) == SendResult::kTimedOut);
  REQUIRE(system.rejected() == 1);
}

}  // namespace
}  // namespace engram
