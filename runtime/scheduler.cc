#include "runtime/internal/scheduler.h"

#include <algorithm>
#include <utility>

#include "base/spin_wait.h"

namespace engram {

struct alignas(64) Scheduler::Worker {
  Worker(Scheduler* s, int i)
      : owner(s),
        index(i),
        rng(0x9E3779B97F4A7C15ull * static_cast<uint64_t>(i + 1)),
        consumer(s->global_),
        producer(s->global_) {}

  Scheduler* const owner;
  const int index;
  WorkStealingDeque<Schedulable*> deque;
  // Owner only: the unit to run next (hand-off), and how many hand-offs ran
  // in a row.
  Schedulable* handoff = nullptr;
  int handoff_chain = 0;
  uint32_t tick = 0;
  uint64_t rng;
  moodycamel::ConsumerToken consumer;
  moodycamel::ProducerToken producer;
  // The word a parked worker sleeps on (internal::SpinThenPark). Writers:
  // WakeOne()/Shutdown() store 1 after taking the worker off the parked
  // list, then notify; the owner resets it to 0 (relaxed) under park_mu_
  // before parking. The store is seq_cst because notify_one() skips the
  // wake-up syscall when it sees no sleeper: seq_cst orders the store before
  // that check (see SetWake()), so a worker about to sleep either sees 1 or
  // is seen sleeping.
  std::atomic<uint32_t> wake{0};
  // Counters. Writer: the owner (relaxed); readers: stats().
  std::atomic<uint64_t> turns{0};
  std::atomic<uint64_t> steals{0};
  std::atomic<uint64_t> parks{0};
  std::atomic<uint64_t> wakes{0};
  std::thread thread;
};

namespace {

thread_local Scheduler::Worker* tls_worker = nullptr;

inline void Bump(std::atomic<uint64_t>& c) noexcept {
  c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

// Wakes `w`, which is parked or about to park on w.wake. Called with the
// worker already off the parked list, so it runs once per park.
inline void SetWake(Scheduler::Worker& w) noexcept {
  // seq_cst store, then notify_one(): libstdc++'s notify_one() makes the
  // futex call only if its waiter count (bumped by a seq_cst RMW before the
  // sleeper's last look at the word) is non-zero. The seq_cst store keeps
  // our store from being ordered after that count check.
  w.wake.store(1, std::memory_order_seq_cst);
  w.wake.notify_one();
}

// A parking worker goes straight to sleep: it has just spent
// Options::spin_rounds looking for work (spinning and yielding in
// WorkerLoop), so spinning again on its wake word would only burn the core
// that the worker it waits for may need. (std::atomic::wait, under
// SpinThenPark, still checks the word a few times before the syscall.)
constexpr internal::SpinPolicy kParkPolicy{.spins = 0, .yields = 0};

}  // namespace

Scheduler::Scheduler(Options options) : options_([&] {
  Options o = options;
  if (o.threads <= 0) o.threads = std::max(1u, std::thread::hardware_concurrency());
  o.budget = std::max(1, o.budget);
  o.max_handoff_chain = std::max(1, o.max_handoff_chain);
  return o;
}()) {
  workers_.reserve(options_.threads);
  for (int i = 0; i < options_.threads; ++i) {
    workers_.push_back(std::make_unique<Worker>(this, i));
  }
  for (auto& w : workers_) {
    Worker* raw = w.get();
    raw->thread = std::thread([this, raw] { WorkerLoop(*raw); });
  }
}

Scheduler::~Scheduler() { Shutdown(); }

int Scheduler::CurrentWorkerIndex() noexcept {
  return tls_worker ? tls_worker->index : -1;
}

void Scheduler::Schedule(Schedulable* unit) noexcept {
  Worker* w = tls_worker;
  if (w != nullptr && w->owner == this) {
    // Hand-off: run `unit` next on this worker; the unit it displaces becomes
    // stealable.
    Schedulable* displaced = std::exchange(w->handoff, unit);
    if (displaced != nullptr) {
      w->deque.Push(displaced);
      NotifyWork();
    }
    return;
  }
  if (stopping_.load(std::memory_order_acquire)) return;
  global_.enqueue(unit);
  NotifyWork();
}

void Scheduler::NotifyWork() noexcept {
  // The waker's half of the Dekker pair (docs/ARCHITECTURE.md, "Parking and
  // waking"): the caller has published work (deque bottom_ or the global
  // queue's indices, relaxed/release stores); this seq_cst fence orders
  // those stores before the loads of parked_ and searching_ below. Park()
  // has the matching fence between its increment of parked_ and its
  // re-check of the queues, so either we see the parker or its re-check
  // sees our work. ThreadSanitizer does not model fences, so its build uses
  // a seq_cst RMW on parked_ instead: all RMWs of parked_ are in one
  // modification order, and whichever of the two comes second reads from
  // (and, acq_rel, synchronizes with) the first.
#ifdef ENGRAM_TSAN
  if (parked_.fetch_add(0, std::memory_order_seq_cst) == 0) return;
#else
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (parked_.load(std::memory_order_seq_cst) == 0) return;
#endif
  if (searching_.load(std::memory_order_seq_cst) != 0) return;
  WakeOne();
}

void Scheduler::WakeOne() noexcept {
  MutexLock lock(&park_mu_);
  if (parked_list_.empty()) return;
  Worker* w = parked_list_.back();
  parked_list_.pop_back();
  parked_.fetch_sub(1, std::memory_order_seq_cst);
  // The woken worker starts out searching; counting it now stops other
  // producers from waking a second worker for the same work.
  searching_.fetch_add(1, std::memory_order_seq_cst);
  Bump(w->wakes);
  SetWake(*w);
}

bool Scheduler::AnyQueuedWork() const noexcept {
  if (global_.size_approx() > 0) return true;
  for (const auto& w : workers_) {
    if (w->deque.SizeApprox() > 0) return true;
  }
  return false;
}

Schedulable* Scheduler::StealFromOthers(Worker& w) noexcept {
  const size_t n = workers_.size();
  if (n < 2) return nullptr;
  w.rng ^= w.rng << 13;
  w.rng ^= w.rng >> 7;
  w.rng ^= w.rng << 17;
  const size_t start = w.rng % n;
  for (size_t k = 0; k < n; ++k) {
    Worker& victim = *workers_[(start + k) % n];
    if (&victim == &w) continue;
    if (Schedulable* s = victim.deque.Steal()) {
      Bump(w.steals);
      return s;
    }
  }
  return nullptr;
}

Schedulable* Scheduler::FindOtherWork(Worker& w) noexcept {
  Schedulable* s = nullptr;
  if (global_.try_dequeue(w.consumer, s)) return s;
  return StealFromOthers(w);
}

Schedulable* Scheduler::FindWork(Worker& w) noexcept {
  Schedulable* s = nullptr;
  if (++w.tick % 61 == 0 && global_.try_dequeue(w.consumer, s)) {
    w.handoff_chain = 0;
    return s;
  }
  if (w.handoff != nullptr && w.handoff_chain < options_.max_handoff_chain) {
    ++w.handoff_chain;
    return std::exchange(w.handoff, nullptr);
  }
  w.handoff_chain = 0;
  if ((s = w.deque.Pop()) != nullptr) return s;
  if (w.handoff != nullptr) return std::exchange(w.handoff, nullptr);
  return FindOtherWork(w);
}

Schedulable* Scheduler::Park(Worker& w) {
  {
    MutexLock lock(&park_mu_);
    if (stopping_.load(std::memory_order_acquire)) return nullptr;
    w.wake.store(0, std::memory_order_relaxed);
    parked_list_.push_back(&w);
    // "I am going to sleep": read lock-free by NotifyWork().
    parked_.fetch_add(1, std::memory_order_seq_cst);
  }
  // The parker's half of the Dekker pair. AnyQueuedWork() reads the queues
  // with relaxed loads; a seq_cst RMW before them does not order them in
  // the C++ model (nor on ARM, where later loads may pass the RMW's store),
  // and the mutex release above only orders earlier accesses. This fence,
  // paired with the one in NotifyWork(), does: if a producer's fence comes
  // first in the single total order S, our re-check sees its work; if ours
  // comes first, its load of parked_ sees our increment (C++20
  // [atomics.order]p4, the fence-fence case). The TSan build pairs RMWs on
  // parked_ instead (see NotifyWork()), so it needs no fence here. Not on
  // the hot path: only a worker about to sleep pays for it.
#ifndef ENGRAM_TSAN
  std::atomic_thread_fence(std::memory_order_seq_cst);
#endif
  if (AnyQueuedWork()) {
    MutexLock lock(&park_mu_);
    auto it = std::find(parked_list_.begin(), parked_list_.end(), &w);
    if (it != parked_list_.end()) {
      parked_list_.erase(it);
      parked_.fetch_sub(1, std::memory_order_seq_cst);
      // Back to searching, as if woken.
      searching_.fetch_add(1, std::memory_order_seq_cst);
      return nullptr;
    }
    // Somebody woke us already; fall through and consume the wake.
  }
  Bump(w.parks);
  // Acquire (inside SpinThenPark): the waker's writes before SetWake() are
  // visible once we see 1. Loops over spurious wake-ups.
  internal::SpinThenPark(
      w.wake, [](uint32_t v) { return v != 0; }, kParkPolicy);
  return nullptr;
}

void Scheduler::WorkerLoop(Worker& w) {
  tls_worker = &w;
  // Whether this worker is counted in searching_.
  bool searching = false;
  while (!stopping_.load(std::memory_order_acquire)) {
    Schedulable* s = FindWork(w);
    if (s == nullptr) {
      if (!searching) {
        searching_.fetch_add(1, std::memory_order_seq_cst);
        searching = true;
      }
      // The spin phase of the wait strategy, spent looking for work rather
      // than watching a word; Park() then sleeps without spinning again.
      for (int i = 0; s == nullptr && i < options_.spin_rounds; ++i) {
        if (i < options_.spin_rounds / 2) {
          for (int k = 0; k < 32; ++k) internal::CpuRelax();
        } else {
          std::this_thread::yield();
        }
        s = FindWork(w);
      }
    }
    if (searching) {
      searching = false;
      const int before = searching_.fetch_sub(1, std::memory_order_seq_cst);
      if (s == nullptr) {
        Park(w);  // returns counted as searching again (woken or re-check)
        searching = true;
        continue;
      }
      // The last searcher found work: there may be more, so make sure
      // someone else looks.
      if (before == 1) NotifyWork();
    }
    for (;;) {
      Bump(w.turns);
      if (s->RunTurn(options_.budget) != TurnResult::kYield) break;
      // Used its budget with work left. Run it again at once only if
      // nothing else is waiting anywhere (and the pool is not shutting
      // down: a unit that always yields would otherwise keep Shutdown()
      // waiting for ever); otherwise queue it behind the rest.
      if (w.handoff == nullptr && w.deque.SizeApprox() == 0 &&
          global_.size_approx() == 0 && !stopping_.load(std::memory_order_acquire)) {
        continue;
      }
      global_.enqueue(w.producer, s);
      NotifyWork();
      break;
    }
  }
  if (searching) searching_.fetch_sub(1, std::memory_order_seq_cst);
  tls_worker = nullptr;
}

void Scheduler::Shutdown() {
  if (stopping_.exchange(true, std::memory_order_acq_rel)) {
    for (auto& w : workers_) {
      if (w->thread.joinable()) w->thread.join();
    }
    return;
  }
  {
    MutexLock lock(&park_mu_);
    for (Worker* w : parked_list_) SetWake(*w);
    parked_list_.clear();
    parked_.store(0, std::memory_order_seq_cst);
  }
  for (auto& w : workers_) {
    if (w->thread.joinable()) w->thread.join();
  }
}

Scheduler::Stats Scheduler::stats() const {
  Stats s;
  for (const auto& w : workers_) {
    s.turns += w->turns.load(std::memory_order_relaxed);
    s.steals += w->steals.load(std::memory_order_relaxed);
    s.parks += w->parks.load(std::memory_order_relaxed);
    s.wakes += w->wakes.load(std::memory_order_relaxed);
  }
  return s;
}

}  // namespace engram
