#ifndef ENGRAM_ACTORS_ACTOR_H_
#define ENGRAM_ACTORS_ACTOR_H_

#include <memory>
#include <type_traits>
#include <utility>

#include "absl/container/inlined_vector.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "engram/actors/actor_ref.h"
#include "engram/actors/envelope.h"
#include "engram/actors/internal/reply.h"
#include "engram/actors/messages.h"
#include "engram/actors/promise.h"
#include "engram/actors/spawn_options.h"
#include "engram/base/internal/callable_traits.h"
#include "engram/runtime/timer_service.h"

namespace engram {

class Actor;
class ActorSystem;

namespace internal {

class ActorCell;

// Makes a fresh Actor object (on spawn and on every restart).
using ActorFactory = absl::AnyInvocable<std::unique_ptr<Actor>()>;
// Receives the reply (or the error) of an actor's Request().
using RequestCallback = absl::AnyInvocable<void(absl::StatusOr<Envelope*>)>;

// A type-erased message handler.
class HandlerBase {
 public:
  virtual ~HandlerBase() = default;
  virtual void Invoke(Envelope& e) = 0;
};

// The number of parameters of a handler's call operator, or -1 if F has no
// single non-template call operator (a generic lambda, an overload set).
template <class F>
constexpr int HandlerArity() {
  if constexpr (requires { &F::operator(); }) {
    return static_cast<int>(CallableTraits<F>::Arity);
  } else if constexpr (std::is_pointer_v<F> &&
                       std::is_function_v<std::remove_pointer_t<F>>) {
    return static_cast<int>(CallableTraits<F>::Arity);
  } else {
    return -1;
  }
}

template <class Arg, class F>
class Handler final : public HandlerBase {
 public:
  using T = std::remove_cvref_t<Arg>;
  explicit Handler(F f) : f_(std::move(f)) {}

  void Invoke(Envelope& e) override {
    T& msg = PayloadOf<T>(e);
    using R = std::invoke_result_t<F&, Arg>;
    if constexpr (std::is_void_v<R>) {
      Call(msg);
    } else {
      R result = Call(msg);
      if (e.reply()) {
        auto target = std::move(e.reply());
        AnswerWith(*target, std::move(result));
      }
    }
  }

 private:
  decltype(auto) Call(T& msg) {
    if constexpr (std::is_lvalue_reference_v<Arg>) {
      return f_(msg);
    } else {
      return f_(std::move(msg));
    }
  }
  F f_;
};

// Spawns an actor made by `factory` under `parent` (null: top level).
// Returns an empty ref if the system is shutting down.
ActorRef SpawnActor(ActorSystem* system, ActorCell* parent,
                    SpawnOptions options, ActorFactory factory);

// The factory Spawn<A>(args...) uses: copies of `args`, passed to A's
// constructor as const lvalues on every (re)start.
template <class A, class... Args>
ActorFactory MakeActorFactory(Args&&... args);

}  // namespace internal

// The base class of every actor. An actor registers one handler per message
// type in its constructor with Handle(); the runtime calls a handler for each
// message, one at a time, never concurrently, so an actor's members need no
// locks. A handler's return value (if not void) answers a request; a
// StatusOr answers with its value or its error.
//
//   class Counter : public engram::Actor {
//    public:
//     Counter() {
//       Handle([this](const Add& a) { total_ += a.n; });
//       Handle([this](const Get&) { return total_; });
//     }
//    private:
//     int64_t total_ = 0;
//   };
//
// If a handler throws, the actor's SupervisionPolicy decides (restart with
// a fresh object, stop, or escalate to the parent). A message with no
// handler goes to dead letters (a request gets an error reply).
//
// Thread-safety: an Actor is only ever used on its own turn. Its protected
// methods may only be called from its constructor, handlers, OnStart() and
// OnStop().
class Actor {
 public:
  Actor();
  virtual ~Actor();
  Actor(const Actor&) = delete;
  Actor& operator=(const Actor&) = delete;

 protected:
  // Registers the handler for the type of F's single parameter (taken by
  // value, const&, & or &&). A second handler for a type replaces the first.
  template <class F>
  void Handle(F&& f) {
    using Fn = std::decay_t<F>;
    constexpr int kArity = internal::HandlerArity<Fn>();
    static_assert(kArity != -1,
                  "Actor::Handle: the handler must be a lambda, function object "
                  "or function pointer with one non-template call operator; a "
                  "generic lambda (an `auto` parameter) cannot say which message "
                  "type it handles");
    static_assert(kArity == -1 || kArity == 1,
                  "Actor::Handle: the handler must take exactly one parameter, "
                  "the message (by value, const&, & or &&)");
    if constexpr (kArity == 1) {
      using Arg = typename internal::CallableTraits<Fn>::template Arg<0>;
      using T = std::remove_cvref_t<Arg>;
      AddHandler(TypeOf<T>(), std::make_unique<internal::Handler<Arg, Fn>>(
                                  std::forward<F>(f)));
    }
  }

  // Called on the actor's first turn (also after a restart).
  virtual void OnStart() {}
  // Called when the actor stops, before queued messages go to dead letters.
  virtual void OnStop() {}

  ActorRef self() const;
  ActorSystem& system() const;
  // The system clock's now (fake time under the DeterministicScheduler).
  absl::Time Now() const;

  // Spawns a child: stopped when this actor stops or restarts; its
  // escalated failures fail this actor.
  template <class A, class... Args>
  ActorRef Spawn(Args&&... args) {
    return SpawnWith<A>(SpawnOptions{}, std::forward<Args>(args)...);
  }
  template <class A, class... Args>
  ActorRef SpawnWith(SpawnOptions options, Args&&... args) {
    return internal::SpawnActor(
        &system(), cell_, std::move(options),
        internal::MakeActorFactory<A>(std::forward<Args>(args)...));
  }

  // Stops this actor after the current message. Monitors get `reason`.
  void Stop(absl::Status reason = absl::OkStatus());

  // Sends this actor a Down when `other` stops (at once, with NOT_FOUND, if
  // it already has).
  void Monitor(const ActorRef& other);
  void Demonitor(const ActorRef& other);

  // Sends `msg` to `to` as a request. `on_reply(absl::StatusOr<R>)` runs
  // later on this actor's turn with the reply, or with an error: the
  // receiver's error, DEADLINE_EXCEEDED after `timeout`, UNAVAILABLE if the
  // receiver stopped. Exactly one of these, exactly once.
  template <class R, class M, class F>
  void Request(const ActorRef& to, M&& msg, absl::Duration timeout,
               F&& on_reply) {
    static_assert(std::is_invocable_v<std::decay_t<F>&, absl::StatusOr<R>>,
                  "Actor::Request<R>: on_reply must be callable with "
                  "absl::StatusOr<R>");
    auto request =
        std::make_unique<TypedEnvelope<std::decay_t<M>>>(std::forward<M>(msg));
    StartRequest(
        to, std::move(request), TypeOf<R>(), timeout,
        [f = std::forward<F>(on_reply)](absl::StatusOr<Envelope*> r) mutable {
          if (!r.ok()) {
            f(absl::StatusOr<R>(std::move(r).status()));
          } else {
            f(absl::StatusOr<R>(std::move(PayloadOf<R>(**r))));
          }
        });
  }

  // Takes over the answer to the request being handled, to give it later.
  // The handler's return value is then ignored.
  template <class R>
  Promise<R> MakePromise() {
    return Promise<R>(TakeCurrentReply());
  }

  // Sends `msg` to this actor after `delay` (or every `period`).
  template <class M>
  TimerId SendSelfAfter(absl::Duration delay, M msg);
  template <class M>
  TimerId SendSelfPeriodically(absl::Duration period, M msg);
  bool CancelTimer(TimerId id);

 private:
  friend class internal::ActorCell;
  struct HandlerEntry {
    const TypeTag* type;
    std::unique_ptr<internal::HandlerBase> handler;
  };

  void AddHandler(const TypeTag* type, std::unique_ptr<internal::HandlerBase> h);
  void StartRequest(const ActorRef& to, std::unique_ptr<Envelope> request,
                    const TypeTag* expected, absl::Duration timeout,
                    internal::RequestCallback callback);
  std::unique_ptr<ReplyTarget> TakeCurrentReply();
  internal::HandlerBase* FindHandler(const TypeTag* type) const noexcept {
    for (const HandlerEntry& e : handlers_) {
      if (e.type == type) return e.handler.get();
    }
    return nullptr;
  }

  internal::ActorCell* const cell_;
  absl::InlinedVector<HandlerEntry, 2> handlers_;
};

namespace internal {

template <class A, class... Args>
ActorFactory MakeActorFactory(Args&&... args) {
  static_assert(std::is_base_of_v<Actor, A>,
                "Spawn<A>: A must be a class derived from engram::Actor");
  static_assert(!std::is_base_of_v<Actor, A> ||
                    std::is_constructible_v<A, const std::decay_t<Args>&...>,
                "Spawn<A>(args...): A has no constructor taking these "
                "arguments (each is copied at spawn and passed to A's "
                "constructor as a const lvalue, on every restart)");
  if constexpr (std::is_base_of_v<Actor, A> &&
                std::is_constructible_v<A, const std::decay_t<Args>&...>) {
    return [... a = std::forward<Args>(args)]() -> std::unique_ptr<Actor> {
      return std::make_unique<A>(a...);
    };
  } else {
    return nullptr;
  }
}

}  // namespace internal
}  // namespace engram

#endif  // ENGRAM_ACTORS_ACTOR_H_
