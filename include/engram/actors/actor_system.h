#ifndef ENGRAM_ACTORS_ACTOR_SYSTEM_H_
#define ENGRAM_ACTORS_ACTOR_SYSTEM_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "engram/actors/actor.h"
#include "engram/actors/actor_ref.h"
#include "engram/actors/ask_future.h"
#include "engram/actors/dead_letter.h"
#include "engram/actors/spawn_options.h"
#include "engram/base/internal/mutex.h"
#include "engram/runtime/clock.h"
#include "engram/runtime/deterministic_scheduler.h"
#include "engram/runtime/executor.h"
#include "engram/runtime/scheduler_options.h"
#include "engram/runtime/timer_service.h"
#include "engram/runtime/worker_pool.h"

namespace engram {

// Private to the runtime and the actor system (their headers are not
// installed): the pool, the timer thread, the dedicated-thread executor.
class DedicatedThreadExecutor;
class Scheduler;
class TimerThread;
namespace internal {
class ActorRegistry;
class DeadLetterOffice;
}  // namespace internal

struct ActorSystemOptions {
  SchedulerOptions scheduler;
};

// Owns the actors and what runs them: a work-stealing worker pool and a
// timer thread (or, for tests, a DeterministicScheduler the caller owns).
// Spawns top-level actors, asks them from plain threads, sends timed
// messages, and counts what was not delivered. The actors' registry (live
// actors, supervision tree, monitors) and the dead-letter office are
// private to it.
//
// Actors live until they stop (Stop(), a failure, their parent stopping) or
// the system shuts down; an ActorRef does not keep an actor running.
//
// Thread-safety: every method may be called from any thread, including from
// inside actors, except Shutdown() and the destructor (from outside actors).
class ActorSystem {
 public:
  explicit ActorSystem(ActorSystemOptions options = {});
  // Test mode: nothing runs until `scheduler` is told to run; time is its
  // fake time. `scheduler` must outlive the system.
  explicit ActorSystem(DeterministicScheduler& scheduler);
  ~ActorSystem();
  ActorSystem(const ActorSystem&) = delete;
  ActorSystem& operator=(const ActorSystem&) = delete;

  template <class A, class... Args>
  ActorRef Spawn(Args&&... args) {
    return SpawnWith<A>(SpawnOptions{}, std::forward<Args>(args)...);
  }
  template <class A, class... Args>
  ActorRef SpawnWith(SpawnOptions options, Args&&... args) {
    return internal::SpawnActor(
        this, nullptr, std::move(options),
        internal::MakeActorFactory<A>(std::forward<Args>(args)...));
  }

  // Sends `msg` as a request; the future completes with the reply or an
  // error, or DEADLINE_EXCEEDED after `timeout` (on the system's clock).
  template <class R, class M>
  AskFuture<R> AskAsync(const ActorRef& to, M&& msg, absl::Duration timeout) {
    auto request =
        std::make_unique<TypedEnvelope<std::decay_t<M>>>(std::forward<M>(msg));
    return AskFuture<R>(StartAsk(to, std::move(request), TypeOf<R>(), timeout));
  }
  // Blocking AskAsync(): for code outside actors (main, tests, tools).
  template <class R, class M>
  absl::StatusOr<R> Ask(const ActorRef& to, M&& msg, absl::Duration timeout) {
    return AskAsync<R>(to, std::forward<M>(msg), timeout).Get();
  }

  // Sends a copy of `msg` to `to` after `delay`, or every `period`.
  template <class M>
  TimerId SendAfter(const ActorRef& to, absl::Duration delay, M msg) {
    return timers_->Schedule(delay, absl::ZeroDuration(),
                             [to, m = std::move(msg)]() mutable {
                               to.Send(std::move(m));
                             });
  }
  template <class M>
  TimerId SendPeriodically(const ActorRef& to, absl::Duration period, M msg) {
    return timers_->Schedule(period, period,
                             [to, m = std::move(msg)] { to.Send(m); });
  }
  bool CancelTimer(TimerId id) { return timers_->Cancel(id); }

  // Waits until `ref`'s actor has stopped; false on timeout.
  bool AwaitStopped(const ActorRef& ref, absl::Duration timeout);

  // Stops every actor and the threads. Idempotent.
  void Shutdown();

  // Counters of messages not delivered, by outcome.
  uint64_t dead_letters() const;
  uint64_t dropped() const;
  uint64_t rejected() const;
  // Failures that reached the top of the supervision tree.
  uint64_t unhandled_failures() const;
  size_t live_actors() const;

  // Called (under a lock, one at a time) for every undelivered message.
  void SetDeadLetterHook(absl::AnyInvocable<void(const DeadLetter&)> hook);
  // Called when a top-level actor escalates a failure.
  void SetFailureHook(absl::AnyInvocable<void(const ActorRef&, const absl::Status&)> hook);

  const Clock& clock() const { return timers_->clock(); }
  TimerService& timers() { return *timers_; }
  // The pool, or null in test mode.
  WorkerPool* scheduler();
  // The test-mode scheduler, or null with a pool.
  DeterministicScheduler* deterministic() { return deterministic_; }

 private:
  // The one way in for spawns (ActorSystem::Spawn, Actor::Spawn, the image).
  friend ActorRef internal::SpawnActor(ActorSystem*, internal::ActorCell*,
                                       SpawnOptions, internal::ActorFactory);

  std::shared_ptr<internal::AskState> StartAsk(const ActorRef& to,
                                               std::unique_ptr<Envelope> request,
                                               const TypeTag* expected,
                                               absl::Duration timeout);
  ActorRef SpawnCell(internal::ActorCell* parent, SpawnOptions options,
                     internal::ActorFactory factory);

  // Owned: the pool and the timer thread (null in test mode), the registry,
  // one reference to the office, the dedicated executors. Borrowed: the
  // test-mode scheduler.
  std::unique_ptr<Scheduler> scheduler_;     // null in test mode
  std::unique_ptr<TimerThread> timer_thread_;  // null in test mode
  DeterministicScheduler* deterministic_ = nullptr;  // test mode only
  Executor* executor_;
  TimerService* timers_;
  int budget_;

  std::atomic<uint64_t> next_id_{0};  // relaxed: ids need only be unique
  // Shared with every cell; outlives the system while refs to cells exist.
  internal::DeadLetterOffice* const office_;
  // Live actors, the supervision tree, monitors; "shutting down".
  const std::unique_ptr<internal::ActorRegistry> registry_;

  Mutex dedicated_mu_;
  std::vector<std::unique_ptr<DedicatedThreadExecutor>> dedicated_
      ABSL_GUARDED_BY(dedicated_mu_);
};

template <class M>
TimerId Actor::SendSelfAfter(absl::Duration delay, M msg) {
  return system().SendAfter(self(), delay, std::move(msg));
}
template <class M>
TimerId Actor::SendSelfPeriodically(absl::Duration period, M msg) {
  return system().SendPeriodically(self(), period, std::move(msg));
}

}  // namespace engram

#endif  // ENGRAM_ACTORS_ACTOR_SYSTEM_H_
