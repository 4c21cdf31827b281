// Sends an actor makes to itself from its constructor (defect 6): they
// queue like any other message and are handled once, in order, after the
// constructor and OnStart(), on the actor's first turn. Before the fix the
// mailbox was still "blocked" during construction, so the first self-send
// scheduled the half-built cell, the spawner scheduled it a second time and
// the worker that ran the second turn spun in RunTurn for ever.
//
// A livelock must not hang the suite: every scenario waits for its answer
// with an Ask under a timeout, and if the answer does not come the test
// leaks the system on purpose (its destructor would join the spinning
// worker) and fails on the reply.
#include <chrono>
#include <future>
#include <memory>
#include <vector>

#include <catch2/catch.hpp>

#include "engram/actors/actor_system.h"

namespace engram {
namespace {

struct Note {
  int n;
};
struct Report {};
struct Seen {
  std::vector<int> notes;
  bool constructed_first = true;  // every note came after the constructor
  bool started_first = true;      // ... and after OnStart()
  int starts = 0;
  std::vector<SendResult> send_results;  // what the constructor's sends returned
};
struct SpawnChild {
  int sends;
};
struct Spawned {};

constexpr absl::Duration kWait = absl::Seconds(10);

// Sends itself Note{0..sends-1} from its constructor; fulfils `handled`
// (if given) once it has handled `expect` notes.
class SelfSender : public Actor {
 public:
  explicit SelfSender(int sends, int expect = 0,
                      std::shared_ptr<std::promise<void>> handled = nullptr)
      : expect_(expect), handled_(std::move(handled)) {
    for (int i = 0; i < sends; ++i) seen_.send_results.push_back(self().Send(Note{i}));
    Handle([this](const Note& n) {
      if (!constructed_) seen_.constructed_first = false;
      if (seen_.starts == 0) seen_.started_first = false;
      seen_.notes.push_back(n.n);
      if (handled_ && static_cast<int>(seen_.notes.size()) == expect_) handled_->set_value();
    });
    Handle([this](Report) { return seen_; });
    constructed_ = true;
  }
  void OnStart() override { ++seen_.starts; }

 private:
  const int expect_;
  const std::shared_ptr<std::promise<void>> handled_;
  Seen seen_;
  bool constructed_ = false;
};

// Spawns a SelfSender from inside a handler (on a worker thread, where
// scheduling goes through the worker's hand-off slot) and forwards Report.
class Parent : public Actor {
 public:
  Parent() {
    Handle([this](SpawnChild c) {
      child_ = Spawn<SelfSender>(c.sends);
      return Spawned{};
    });
    Handle([this](Report) {
      Request<Seen>(child_, Report{}, kWait,
                    [p = MakePromise<Seen>()](absl::StatusOr<Seen> s) mutable {
                      if (s.ok()) {
                        p.Deliver(std::move(*s));
                      } else {
                        p.Fail(s.status());
                      }
                    });
    });
  }

 private:
  ActorRef child_;
};

std::vector<int> Iota(int n) {
  std::vector<int> v;
  for (int i = 0; i < n; ++i) v.push_back(i);
  return v;
}

// Runs `body` against a fresh two-worker system. The body returns whether
// everything it checked held; if not, the system is leaked (a livelocked
// worker would block its destructor for ever) and false is returned so
// that the caller stops.
template <class Body>
bool WithSystem(Body body) {
  ActorSystemOptions o;
  o.scheduler.threads = 2;
  auto system = std::make_unique<ActorSystem>(o);
  const bool healthy = body(*system);
  if (!healthy) (void)system.release();  // deliberately leaked: see above
  return healthy;
}

// Checks the outcome of one constructor's sends; true if all held.
bool CheckSeen(const Seen& seen, const std::vector<int>& notes) {
  CHECK(seen.notes == notes);
  CHECK(seen.constructed_first);
  CHECK(seen.started_first);
  CHECK(seen.starts == 1);
  return seen.notes == notes && seen.constructed_first && seen.started_first &&
         seen.starts == 1;
}

TEST_CASE("messages an actor sends itself from its constructor are handled once and in order "
          "after construction",
          "[actors][mailbox]") {
  for (int sends : {1, 2, 5, 100}) {
    CAPTURE(sends);
    const bool healthy = WithSystem([&](ActorSystem& system) {
      ActorRef a = system.Spawn<SelfSender>(sends);
      absl::StatusOr<Seen> seen = system.Ask<Seen>(a, Report{}, kWait);
      INFO(seen.status().ToString());
      CHECK(seen.ok());
      if (!seen.ok()) return false;
      CHECK(seen->send_results == std::vector<SendResult>(sends, SendResult::kDelivered));
      return CheckSeen(*seen, Iota(sends));
    });
    if (!healthy) break;
  }
}

TEST_CASE("an actor spawned by an actor may send itself messages from its constructor",
          "[actors][mailbox]") {
  for (int sends : {1, 3, 50}) {
    CAPTURE(sends);
    const bool healthy = WithSystem([&](ActorSystem& system) {
      ActorRef parent = system.Spawn<Parent>();
      absl::StatusOr<Spawned> spawned = system.Ask<Spawned>(parent, SpawnChild{sends}, kWait);
      CHECK(spawned.ok());
      if (!spawned.ok()) return false;
      absl::StatusOr<Seen> seen = system.Ask<Seen>(parent, Report{}, kWait);
      INFO(seen.status().ToString());
      CHECK(seen.ok());
      if (!seen.ok()) return false;
      return CheckSeen(*seen, Iota(sends));
    });
    if (!healthy) break;
  }
}

TEST_CASE("constructor sends to a bounded mailbox obey its capacity and are handled in order",
          "[actors][mailbox][bounded]") {
  const OverflowPolicy policy =
      GENERATE(OverflowPolicy::kFail, OverflowPolicy::kDropNewest);
  CAPTURE(static_cast<int>(policy));
  const SendResult overflow =
      policy == OverflowPolicy::kFail ? SendResult::kRejected : SendResult::kDropped;
  WithSystem([&](ActorSystem& system) {
    SpawnOptions so;
    so.mailbox_capacity = 3;
    so.overflow = policy;
    auto handled = std::make_shared<std::promise<void>>();
    std::future<void> three = handled->get_future();
    ActorRef a = system.SpawnWith<SelfSender>(so, 5, 3, handled);
    // The Ask below needs a free slot: wait (bounded) until the three
    // queued notes are handled.
    const bool drained = three.wait_for(std::chrono::seconds(10)) == std::future_status::ready;
    CHECK(drained);
    if (!drained) return false;
    absl::StatusOr<Seen> seen = system.Ask<Seen>(a, Report{}, kWait);
    INFO(seen.status().ToString());
    CHECK(seen.ok());
    if (!seen.ok()) return false;
    // Three fit; the fourth and fifth meet a full mailbox and say so.
    CHECK(seen->send_results ==
          std::vector<SendResult>{SendResult::kDelivered, SendResult::kDelivered,
                                  SendResult::kDelivered, overflow, overflow});
    if (!CheckSeen(*seen, Iota(3))) return false;
    // The slots came back: with the mailbox empty, two more and the Ask fit.
    CHECK(a.Send(Note{10}) == SendResult::kDelivered);
    CHECK(a.Send(Note{11}) == SendResult::kDelivered);
    absl::StatusOr<Seen> again = system.Ask<Seen>(a, Report{}, kWait);
    CHECK(again.ok());
    if (!again.ok()) return false;
    return CheckSeen(*again, {0, 1, 2, 10, 11});
  });
}

}  // namespace
}  // namespace engram
