// Guarantees 1 and 2 of DESIGN.md: per-sender order (also across worker
// migration) and no loss, no duplication.
#include <atomic>
#include <memory>
#include <set>
#include <vector>

#include <catch2/catch.hpp>

#include <latch>
#include "engram/base/internal/mutex.h"
#include "engram/actors/actor_system.h"
#include "runtime/internal/scheduler.h"

namespace engram {
namespace {

#ifdef ENGRAM_TSAN
constexpr int64_t kStressMessages = 200'000;
constexpr int kMigrationSteps = 5'000;
#else
constexpr int64_t kStressMessages = 10'000'000;
constexpr int kMigrationSteps = 100'000;
#endif

struct Seq {
  int sender;
  int64_t n;
};
struct Step {};

// Checks, per sender, that sequence numbers arrive as 0, 1, 2, ...: any
// reordering, loss or duplicate shows as a gap or a repeat.
struct Tally {
  engram::Mutex mu;
  int64_t received = 0;
  int64_t violations = 0;
};

class OrderChecker : public Actor {
 public:
  OrderChecker(int senders, std::shared_ptr<Tally> tally,
               std::shared_ptr<std::latch> done, int64_t expect)
      : next_(senders, 0), tally_(tally), done_(done), expect_(expect) {
    Handle([this](const Seq& s) {
      if (s.n != next_[s.sender]) ++violations_;
      next_[s.sender] = s.n + 1;
      if (++received_ == expect_) {
        engram::MutexLock lock(&tally_->mu);
        tally_->received += received_;
        tally_->violations += violations_;
        done_->count_down();
      }
    });
  }

 private:
  std::vector<int64_t> next_;
  std::shared_ptr<Tally> tally_;
  std::shared_ptr<std::latch> done_;
  int64_t expect_;
  int64_t received_ = 0;
  int64_t violations_ = 0;
};

// Sends Seq{id, 0..n-1} to every receiver, one number per turn (it sends
// itself Step to continue), so it is rescheduled between sends and can be
// stolen by another worker. Records the workers it ran on.
class MigratingSender : public Actor {
 public:
  MigratingSender(int id, std::vector<ActorRef> to, int64_t n,
                  std::shared_ptr<std::atomic<int>> migrations)
      : id_(id), to_(std::move(to)), n_(n), migrations_(migrations) {
    Handle([this](Step) {
      const int w = Scheduler::CurrentWorkerIndex();
      if (last_worker_ != -1 && w != last_worker_) migrations_->fetch_add(1);
      last_worker_ = w;
      if (sent_ < n_) {
        for (const ActorRef& r : to_) r.Send(Seq{id_, sent_});
        ++sent_;
      }
      // Keep stepping (without sending) until some sender has migrated, so
      // that a machine too busy to run the second worker for a while cannot
      // make the test vacuous; bounded by 60 s.
      if (sent_ < n_ || (migrations_->load() == 0 && absl::Now() < give_up_)) {
        self().Send(Step{});
      }
    });
  }

 private:
  int id_;
  std::vector<ActorRef> to_;
  int64_t n_;
  std::shared_ptr<std::atomic<int>> migrations_;
  int64_t sent_ = 0;
  int last_worker_ = -1;
  const absl::Time give_up_ = absl::Now() + absl::Seconds(60);
};

TEST_CASE("messages from one sender arrive in send order when the sender migrates between workers",
          "[actors][ordering]") {
  // Budget 1: every actor yields after each message, so senders go through
  // the global queue and the two workers take turns running them.
  ActorSystem system(ActorSystemOptions{.scheduler = {.threads = 2, .budget = 1}});
  constexpr int kSenders = 4, kReceivers = 2;
  auto tally = std::make_shared<Tally>();
  auto done = std::make_shared<std::latch>(kReceivers);
  auto migrations = std::make_shared<std::atomic<int>>(0);
  std::vector<ActorRef> receivers;
  for (int r = 0; r < kReceivers; ++r) {
    receivers.push_back(system.Spawn<OrderChecker>(
        kSenders, tally, done, int64_t{kSenders} * kMigrationSteps));
  }
  std::vector<ActorRef> senders;
  for (int s = 0; s < kSenders; ++s) {
    senders.push_back(system.Spawn<MigratingSender>(s, receivers, kMigrationSteps,
                                                    migrations));
  }
  for (auto& s : senders) s.Send(Step{});
  done->wait();
  REQUIRE(tally->violations == 0);
  REQUIRE(tally->received == int64_t{kReceivers} * kSenders * kMigrationSteps);
  // The guarantee was exercised: senders really moved between workers
  // (senders keep stepping until one has, for at most 60 s).
  for (int i = 0; i < 60000 && migrations->load() == 0; ++i) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  REQUIRE(migrations->load() > 0);
  REQUIRE(system.dead_letters() == 0);
}

TEST_CASE("messages from plain threads arrive in each thread's send order",
          "[actors][ordering]") {
  ActorSystem system(ActorSystemOptions{.scheduler = {.threads = 2}});
  constexpr int kThreads = 4;
  constexpr int64_t kEach = kMigrationSteps;
  auto tally = std::make_shared<Tally>();
  auto done = std::make_shared<std::latch>(1);
  ActorRef checker =
      system.Spawn<OrderChecker>(kThreads, tally, done, kThreads * kEach);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int64_t i = 0; i < kEach; ++i) checker.Send(Seq{t, i});
    });
  }
  for (auto& t : threads) t.join();
  done->wait();
  REQUIRE(tally->violations == 0);
  REQUIRE(tally->received == kThreads * kEach);
}

// Sends its share of numbered messages round-robin to every receiver in
// batches, re-sending itself a Step between batches.
class BatchSender : public Actor {
 public:
  BatchSender(int id, std::vector<ActorRef> to, int64_t per_receiver)
      : id_(id), to_(std::move(to)), per_receiver_(per_receiver) {
    Handle([this](Step) {
      for (int b = 0; b < 64 && sent_ < per_receiver_; ++b, ++sent_) {
        for (const ActorRef& r : to_) r.Send(Seq{id_, sent_});
      }
      if (sent_ < per_receiver_) self().Send(Step{});
    });
  }

 private:
  int id_;
  std::vector<ActorRef> to_;
  int64_t per_receiver_;
  int64_t sent_ = 0;
};

TEST_CASE("no message is lost or duplicated across many senders and receivers",
          "[actors][delivery][stress]") {
  ActorSystem system(ActorSystemOptions{.scheduler = {.threads = 4}});
  constexpr int kSenders = 16, kReceivers = 8;
  const int64_t per_pair = kStressMessages / (kSenders * kReceivers);
  auto tally = std::make_shared<Tally>();
  auto done = std::make_shared<std::latch>(kReceivers);
  std::vector<ActorRef> receivers;
  for (int r = 0; r < kReceivers; ++r) {
    receivers.push_back(
        system.Spawn<OrderChecker>(kSenders, tally, done, kSenders * per_pair));
  }
  for (int s = 0; s < kSenders; ++s) {
    system.Spawn<BatchSender>(s, receivers, per_pair).Send(Step{});
  }
  done->wait();
  REQUIRE(tally->violations == 0);
  REQUIRE(tally->received == per_pair * kSenders * kReceivers);
  REQUIRE(tally->received >= kStressMessages - kSenders * kReceivers);
  REQUIRE(system.dead_letters() == 0);
}

}  // namespace
}  // namespace engram
