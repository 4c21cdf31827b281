// Google Benchmark micro benchmarks of the mailbox and the scheduler:
//  - mailbox enqueue/dequeue with 1 and 2 producers, engram's Mailbox beside
//    moodycamel::ConcurrentQueue (the alternative DESIGN.md discusses),
//  - scheduler hand-off latency: two units that make each other runnable,
//  - actor ping-pong round trip through the whole actor stack.
#include <atomic>
#include <memory>

#include <benchmark/benchmark.h>

#include "engram/actors/actor_system.h"
#include "actors/internal/mailbox.h"
#include "engram/base/internal/mutex.h"
#include "concurrentqueue/concurrentqueue.h"
#include "runtime/internal/scheduler.h"

namespace engram {
namespace {

struct Msg {
  int64_t v;
};

// The two queues behind one interface, for the same benchmark body.
struct EngramMailboxQueue {
  Mailbox q;
  void Push(Envelope* e) { q.Push(e); }
  Envelope* Pop() { return q.Pop(); }
};
struct MoodycamelQueue {
  moodycamel::ConcurrentQueue<Envelope*> q;
  moodycamel::ConsumerToken consumer{q};  // the single consumer's token
  Envelope* Pop() {
    Envelope* e = nullptr;
    return q.try_dequeue(consumer, e) ? e : nullptr;
  }
  void Push(Envelope* e) { q.enqueue(e); }
};

// Thread 0 consumes; threads 1..P produce one message per iteration; the
// consumer takes P per iteration. Items = messages through the queue.
template <class Queue>
void BM_PushPop(benchmark::State& state) {
  static Queue* queue = nullptr;
  const int producers = state.threads() - 1;
  if (state.thread_index() == 0) {
    queue = new Queue();
    for (auto _ : state) {
      for (int got = 0; got < producers;) {
        if (Envelope* e = queue->Pop()) {
          benchmark::DoNotOptimize(PayloadOf<Msg>(*e).v);
          delete e;
          ++got;
        }
      }
    }
    state.SetItemsProcessed(state.iterations() * producers);
    // All producers have finished their loops before thread 0's ends.
    delete queue;
    queue = nullptr;
  } else {
    int64_t i = 0;
    for (auto _ : state) queue->Push(new TypedEnvelope<Msg>(Msg{i++}));
  }
}
BENCHMARK_TEMPLATE(BM_PushPop, EngramMailboxQueue)->Threads(2)->Threads(3)->UseRealTime();
BENCHMARK_TEMPLATE(BM_PushPop, MoodycamelQueue)->Threads(2)->Threads(3)->UseRealTime();

// Two units that hand each other to the scheduler from inside a worker:
// one iteration = one hand-off (Schedule() inside a worker, then the other
// unit's turn on the same worker).
class Bouncer final : public Schedulable {
 public:
  Bouncer(Scheduler* s, std::atomic<int64_t>* left, Notification* done)
      : sched_(s), left_(left), done_(done) {}
  Bouncer* other = nullptr;
  TurnResult RunTurn(int) noexcept override {
    if (left_->fetch_sub(1, std::memory_order_relaxed) == 1) {
      done_->Notify();
    } else {
      sched_->Schedule(other);
    }
    return TurnResult::kIdle;
  }

 private:
  Scheduler* sched_;
  std::atomic<int64_t>* left_;
  Notification* done_;
};

void BM_SchedulerHandoff(benchmark::State& state) {
  Scheduler sched(Scheduler::Options{.threads = static_cast<int>(state.range(0))});
  for (auto _ : state) {
    state.PauseTiming();
    constexpr int64_t kHops = 100'000;
    std::atomic<int64_t> left{kHops};
    Notification done;
    Bouncer a(&sched, &left, &done), b(&sched, &left, &done);
    a.other = &b;
    b.other = &a;
    state.ResumeTiming();
    sched.Schedule(&a);
    done.WaitForNotification();
  }
  state.SetItemsProcessed(state.iterations() * 100'000);
}
BENCHMARK(BM_SchedulerHandoff)->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMillisecond);

struct Ball {
  int64_t left;
};

class Player : public Actor {
 public:
  Player(std::shared_ptr<ActorRef> partner, Notification* done) {
    Handle([partner, done](const Ball& b) {
      if (b.left == 0) {
        done->Notify();
      } else {
        partner->Send(Ball{b.left - 1});
      }
    });
  }
};

void BM_ActorPingPong(benchmark::State& state) {
  ActorSystem system(
      ActorSystemOptions{.scheduler = {.threads = static_cast<int>(state.range(0))}});
  constexpr int64_t kMessages = 100'000;
  for (auto _ : state) {
    Notification done;
    auto to_b = std::make_shared<ActorRef>();
    auto to_a = std::make_shared<ActorRef>();
    ActorRef a = system.Spawn<Player>(to_b, &done);
    ActorRef b = system.Spawn<Player>(to_a, &done);
    *to_b = b;
    *to_a = a;
    a.Send(Ball{kMessages});
    done.WaitForNotification();
    a.Stop();
    b.Stop();
    system.AwaitStopped(a, absl::InfiniteDuration());
    system.AwaitStopped(b, absl::InfiniteDuration());
  }
  state.SetItemsProcessed(state.iterations() * kMessages);
}
BENCHMARK(BM_ActorPingPong)->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace engram

BENCHMARK_MAIN();
