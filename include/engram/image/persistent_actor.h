#ifndef ENGRAM_IMAGE_PERSISTENT_ACTOR_H_
#define ENGRAM_IMAGE_PERSISTENT_ACTOR_H_

#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "engram/image/event_codec.h"
#include "engram/image/state_hash.h"
#include "engram/actors/actor.h"
#include "engram/actors/envelope.h"
#include "engram/actors/internal/reply.h"
#include "engram/actors/promise.h"
#include "engram/base/internal/callable_traits.h"

namespace engram {

class MemoryImage;

// The reply to a command whose handler returns absl::Status: OK means Done.
struct Done {};

namespace internal {

// Replay of one journaled event into a persistent actor (recovery).
struct ReplayEvent {
  std::unique_ptr<Envelope> event;
  uint64_t lsn;
  uint64_t version;
};
// Several events of one stream, in order (recovery batches them to keep
// the cost of a mailbox hand-off off each event).
struct ReplayBatch {
  std::vector<ReplayEvent> events;
};
// Answered once every earlier ReplayEvent has been applied.
struct ReplayBarrier {};
// Asks a persistent actor for the hash of its state.
struct StateHashRequest {};
// Asks a persistent actor to write a snapshot now.
struct SnapshotRequest {};
// Recovery: the actor's state from its newest usable snapshot.
struct RestoreSnapshot {
  std::string state;
  uint64_t version;
  uint64_t lsn;
};
// A snapshot captured at (version, lsn), sent by the actor to itself once
// the journal covers lsn, and written then on its own turn.
struct DurableSnapshot {
  std::string state;
  uint64_t version;
  uint64_t lsn;
  Promise<Done> reply;  // empty for automatic snapshots
};

template <class R>
struct CommandReply {
  using type = R;
};
template <class T>
struct CommandReply<absl::StatusOr<T>> {
  using type = T;
};
template <>
struct CommandReply<absl::Status> {
  using type = Done;
};
template <>
struct CommandReply<void> {
  using type = Done;
};

}  // namespace internal

// The non-template half of PersistentActor: the stream identity, the events
// a command emits, their append as one all-or-nothing batch, and output
// gating.
//
// Output gating: a reply (or a message sent with SendGated) leaves only
// when the journal's durability level covers every event this actor has
// journaled so far, so nobody outside ever sees a state that a restart
// could lose. The actor does not wait: it goes on with its next message,
// and the held outputs leave, in order, when the journal says so.
//
// Thread-safety: as Actor (everything on the actor's own turn).
class PersistentActorBase : public Actor {
 public:
  uint64_t stream_id() const { return stream_id_; }
  // Events applied so far (the stream version).
  uint64_t version() const { return version_; }
  // LSN of the last event applied (0 if none).
  uint64_t last_lsn() const { return last_lsn_; }
  // Stream version of the newest snapshot written or restored (0: none).
  uint64_t snapshot_version() const { return snapshot_version_; }

 protected:
  PersistentActorBase();

  // Records an event decided by the current command; it is journaled (with
  // the command's other events, as one batch) and applied when the handler
  // returns without error.
  template <class E>
  void Emit(E event) {
    pending_.push_back(std::make_unique<TypedEnvelope<std::decay_t<E>>>(std::move(event)));
  }

  // Sends `msg` once this actor's events so far, including those of the
  // command being handled, are durable. Inside a command that is rejected
  // (or whose events cannot be journaled) the message is not sent at all.
  template <class M>
  void SendGated(const ActorRef& to, M msg) {
    absl::AnyInvocable<void(absl::Status)> send =
        [to, m = std::move(msg)](absl::Status s) mutable {
          if (s.ok()) to.Send(std::move(m));
        };
    if (in_command_) {
      pending_outputs_.push_back(std::move(send));
    } else {
      Gate(std::move(send));
    }
  }

  // The image this actor belongs to (to find other streams' actors).
  MemoryImage& image() const { return *image_; }

  // Runs `fn(first_lsn, last_lsn)` once the events of the command being
  // handled are durable, with their LSN range (an empty range, first >
  // last, when the command emitted none); not at all if the command is
  // rejected. The way to publish events to the bus only when a restart
  // cannot lose them, with their LSNs as sequence numbers:
  //
  //   Emit(Deposited{d.amount});
  //   OnDurable([bus = bus_, e = Deposited{d.amount}](uint64_t first, uint64_t) {
  //     bus->Publish("bank.deposited", e, {.sequence = first});
  //   });
  void OnDurable(absl::AnyInvocable<void(uint64_t first_lsn, uint64_t last_lsn)> fn) {
    durable_hooks_.push_back(std::move(fn));
  }

  // A deterministic id for a command to put into its events (never take
  // ids from a random device or the clock: guarantee 5, replay must give
  // the same state). Derived from the journal, not from a counter in
  // memory:
  //
  //   id = basis << 16 | index      (disjoint fields, both range-checked)
  //
  // basis (bits 16..63, 48 bits): the LSN of this stream's newest record
  //   when NewId is called -- its last applied event, or its creation
  //   record if it has none. LSNs are unique in the journal and each
  //   belongs to one stream, so two streams never share a basis, and a
  //   stream's basis grows with every command that journals events.
  // index (bits 0..15): 1, 2, ... for the ids one command takes, at most
  //   kMaxIdsPerCommand.
  //
  // So every id that reaches the journal is unique in it (a command that
  // journals events moves its stream's basis past every LSN it used), and
  // a restart, which rebuilds the basis from the records, never hands out
  // an id that is already journaled. The ids of a command that journals
  // nothing (rejected, or emitting no event) are forgotten: the next
  // command may take them again.
  // Throws std::out_of_range (inside a command handler: the command is
  // rejected) when the index or the LSN does not fit its field.
  uint64_t NewId();
  static constexpr int kIdIndexBits = 16;
  static constexpr uint64_t kMaxIdsPerCommand = (uint64_t{1} << kIdIndexBits) - 1;
  static constexpr uint64_t kMaxIdBasis = (uint64_t{1} << (64 - kIdIndexBits)) - 1;

  // Registers a command handler. F takes the command and returns void,
  // absl::Status, a reply value R, or absl::StatusOr<R>. An error rejects
  // the command: its emitted events are discarded and the requester gets
  // the error (gated like any reply). A command that returns void or OK
  // answers a request with Done.
  template <class F>
  void OnCommand(F f);

  // Captures a snapshot of the state now (on this actor's turn, so no
  // global stop) and writes it once the journal makes last_lsn() durable
  // (a snapshot never holds state that a power cut could take from the
  // journal); the recovery that follows loads it and replays only later
  // events. UNIMPLEMENTED if the state has no SnapshotCodec;
  // FAILED_PRECONDITION on a read-only image. A failed write is reported by
  // MemoryImage (snapshot errors).
  absl::Status TakeSnapshot();

  // Snapshot support of the state (the typed part lives in PersistentActor).
  virtual absl::StatusOr<std::string> EncodeState() const = 0;
  virtual absl::Status DecodeState(absl::string_view bytes) = 0;

  // Applies `e` to the state (the typed part lives in PersistentActor).
  virtual bool ApplyEnvelope(const Envelope& e) = 0;
  virtual bool CanApply(const TypeTag* type) const = 0;
  virtual uint64_t StateHash() const = 0;

 private:
  friend class MemoryImage;

  // Journals pending_ as one batch and applies it. On error nothing is
  // applied.
  absl::Status Commit();
  // Runs `output` when the journal covers last_lsn_ (at once if it does).
  void Gate(absl::AnyInvocable<void(absl::Status)> output);
  void Replay(internal::ReplayEvent& r);
  // TakeSnapshot, answering `reply` (if not empty) once written; on error
  // `reply` is left untouched.
  absl::Status CaptureSnapshot(Promise<Done>* reply);

  MemoryImage* const image_;
  const uint64_t stream_id_;
  uint64_t version_ = 0;
  uint64_t last_lsn_ = 0;
  const uint64_t creation_lsn_;  // the stream's creation record
  uint64_t id_basis_ = 0;        // NewId: the basis of the last id taken
  uint64_t id_index_ = 0;        // NewId: ids taken at id_basis_ (this command)
  uint64_t snapshot_version_ = 0;
  bool in_command_ = false;
  std::vector<std::unique_ptr<Envelope>> pending_;
  std::vector<absl::AnyInvocable<void(absl::Status)>> pending_outputs_;
  std::vector<absl::AnyInvocable<void(uint64_t, uint64_t)>> durable_hooks_;
};

template <class F>
void PersistentActorBase::OnCommand(F f) {
  using Fn = std::decay_t<F>;
  using Arg = typename internal::CallableTraits<Fn>::template Arg<0>;
  using Cmd = std::remove_cvref_t<Arg>;
  using R = std::invoke_result_t<Fn&, const Cmd&>;
  using Reply = typename internal::CommandReply<R>::type;
  Handle([this, f = Fn(std::move(f))](const Cmd& cmd) mutable {
    Promise<Reply> promise = MakePromise<Reply>();
    pending_.clear();
    pending_outputs_.clear();
    durable_hooks_.clear();
    in_command_ = true;
    id_index_ = 0;  // NewId: each command numbers its ids from 1
    const uint64_t version_before = version_;
    // A command handler only reads the state and emits events, so one that
    // throws leaves the state untouched: the command is rejected, the actor
    // goes on.
    absl::StatusOr<Reply> outcome = [&]() -> absl::StatusOr<Reply> {
      try {
        if constexpr (std::is_void_v<R>) {
          f(cmd);
          return Done{};
        } else if constexpr (std::is_same_v<R, absl::Status>) {
          absl::Status s = f(cmd);
          if (!s.ok()) return s;
          return Done{};
        } else {
          return f(cmd);
        }
      } catch (const std::exception& e) {
        return absl::InternalError(absl::StrCat("the command handler for ",
                                                TypeOf<Cmd>()->name, " threw: ", e.what()));
      } catch (...) {
        return absl::UnknownError(absl::StrCat("the command handler for ",
                                               TypeOf<Cmd>()->name, " threw"));
      }
    }();
    in_command_ = false;
    if (outcome.ok()) {
      absl::Status committed = Commit();
      if (!committed.ok()) outcome = committed;
    } else {
      pending_.clear();  // rejected: nothing happened
    }
    if (outcome.ok()) {
      const uint64_t emitted = version_ - version_before;
      const uint64_t first = last_lsn_ - emitted + 1;
      for (auto& hook : durable_hooks_) {
        Gate([h = std::move(hook), first, last = last_lsn_,
              emitted](absl::Status s) mutable {
          if (s.ok()) emitted > 0 ? h(first, last) : h(last + 1, last);
        });
      }
      for (auto& output : pending_outputs_) Gate(std::move(output));
    }
    durable_hooks_.clear();
    pending_outputs_.clear();
    Gate([p = std::move(promise), o = std::move(outcome)](absl::Status durable) mutable {
      if (!durable.ok()) {
        p.Fail(durable);
      } else if (!o.ok()) {
        p.Fail(o.status());
      } else {
        p.Deliver(std::move(*o));
      }
    });
  });
}

// How a state is written to a snapshot: by default, for a trivially
// copyable state, as an event is (its bytes, or an EventCodec
// specialization); a trivially copyable state with padding or
// floating-point members (which the default EventCodec refuses) is written
// as its raw bytes, which is fine for a snapshot: it is restored, never
// compared. Specialize SnapshotCodec<State> to snapshot any other state.
template <class T, class Enable = void>
struct SnapshotCodec {};  // no Encode/Decode: the state cannot be snapshotted
template <class T>
struct SnapshotCodec<T, std::enable_if_t<std::is_trivially_copyable_v<T>>>
    : std::conditional_t<internal::kHasDeterministicBytes<T>, EventCodec<T>,
                         internal::RawBytesCodec<T>> {};

// The canonical hash of a state, which MemoryImage::ImageHash combines:
// equal in every process and build for equal states (see
// engram/image/state_hash.h for the encoding). By default the state's
// HashState(StateHashWriter&, const State&) if it has one, else, for a
// trivially copyable state without padding or float members, XXH3-64 of
// its codec bytes; any other state fails to compile until it gets a
// HashState. Specialize StateHasher<State> to hash it some other way (it
// must stay stable across processes, or replicas cannot compare images).
template <class State>
struct StateHasher {
  uint64_t operator()(const State& s) const { return CanonicalStateHash(s); }
};

// An event-sourced actor: a State, command handlers that decide events, and
// apply functions `(State&, const E&)` that are the only code replay runs.
//
//   class Account : public engram::PersistentActor<AccountState> {
//    public:
//     Account() {
//       OnCommand([this](const Withdraw& w) -> absl::Status {
//         if (state().balance < w.amount) return absl::FailedPreconditionError("...");
//         Emit(Withdrawn{w.amount});
//         return absl::OkStatus();
//       });
//       OnEvent([](AccountState& s, const Withdrawn& e) { s.balance -= e.amount; });
//     }
//   };
//
// Spawn with MemoryImage::Spawn<A>(stream_id); the image re-creates it on
// recovery and replays its events. apply must be deterministic: time and
// ids come from the events (use Now() and NewId() in the command handler
// and put the values into the event).
template <class State>
class PersistentActor : public PersistentActorBase {
 public:
  const State& state() const { return state_; }

 protected:
  template <class F>
  void OnEvent(F f) {
    using Fn = std::decay_t<F>;
    static_assert(internal::CallableTraits<Fn>::Arity == 2,
                  "OnEvent takes F(State&, const E&)");
    using E = std::remove_cvref_t<typename internal::CallableTraits<Fn>::template Arg<1>>;
    appliers_.push_back({TypeOf<E>(), [f = Fn(std::move(f))](State& s, const Envelope& e) {
                           f(s, static_cast<const TypedEnvelope<E>&>(e).value);
                         }});
  }

  bool ApplyEnvelope(const Envelope& e) override {
    for (auto& a : appliers_) {
      if (a.type == e.type()) {
        a.apply(state_, e);
        return true;
      }
    }
    return false;
  }
  absl::StatusOr<std::string> EncodeState() const override {
    if constexpr (HasCodec()) {
      std::string out;
      SnapshotCodec<State>::Encode(state_, &out);
      return out;
    } else {
      return absl::UnimplementedError(absl::StrCat(
          "state type ", TypeOf<State>()->name,
          " cannot be snapshotted: specialize engram::SnapshotCodec for it"));
    }
  }
  absl::Status DecodeState(absl::string_view bytes) override {
    if constexpr (HasCodec()) {
      absl::StatusOr<State> s = SnapshotCodec<State>::Decode(bytes);
      if (!s.ok()) return s.status();
      state_ = std::move(*s);
      return absl::OkStatus();
    } else {
      return absl::UnimplementedError("no SnapshotCodec");
    }
  }
  bool CanApply(const TypeTag* type) const override {
    for (const auto& a : appliers_) {
      if (a.type == type) return true;
    }
    return false;
  }
  uint64_t StateHash() const override { return StateHasher<State>{}(state_); }

 private:
  static constexpr bool HasCodec() {
    return requires(const State& t, std::string* out, absl::string_view bytes) {
      SnapshotCodec<State>::Encode(t, out);
      SnapshotCodec<State>::Decode(bytes);
    };
  }
  struct Applier {
    const TypeTag* type;
    std::function<void(State&, const Envelope&)> apply;
  };

  State state_{};
  absl::InlinedVector<Applier, 4> appliers_;
};

}  // namespace engram

#endif  // ENGRAM_IMAGE_PERSISTENT_ACTOR_H_
