#ifndef ENGRAM_ACTORS_INTERNAL_ACTOR_CELL_H_
#define ENGRAM_ACTORS_INTERNAL_ACTOR_CELL_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "actors/internal/actor_registry.h"
#include "actors/internal/bounded_state.h"
#include "actors/internal/dead_letter_office.h"
#include "actors/internal/mailbox.h"
#include "engram/actors/actor.h"
#include "engram/actors/actor_ref.h"
#include "engram/actors/envelope.h"
#include "engram/actors/send_result.h"
#include "engram/actors/spawn_options.h"
#include "engram/runtime/executor.h"
#include "engram/runtime/schedulable.h"
#include "engram/runtime/timer_service.h"

namespace engram {

class ActorSystem;

namespace internal {

// The control block of one actor: its mailbox, its Actor object, its place
// in the supervision tree, and its reference count. An ActorRef points
// here; the cell outlives the Actor object (destroyed when the actor stops)
// for as long as refs exist, so late sends find a closed mailbox.
//
// Ownership: reference counted. The actor system holds one reference while
// the actor is alive; every ActorRef holds one. The cell holds one
// reference to the dead-letter office, for life.
//
// Thread-safety: Enqueue(), EnqueueSystem(), RequestStop() and the
// accessors from any thread. Everything called from Actor (StopSelf,
// StartRequest, TakeCurrentReply, Monitor...) and RunTurn() only on the
// actor's own turn. The cell's place in the supervision tree and its
// watchers are the registry's (registry_node(), ActorRegistry's mutex).
class ActorCell final : public Schedulable {
 public:
  ActorCell(ActorRegistry* registry, DeadLetterOffice* office,
            Executor* executor, uint64_t id, SpawnOptions&& options,
            ActorFactory factory);
  ~ActorCell() override;
  ActorCell(const ActorCell&) = delete;
  ActorCell& operator=(const ActorCell&) = delete;

  void Ref() noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }
  void Unref() noexcept {
    // acq_rel: the last owner must see every other owner's writes before
    // deleting.
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

  // A user message; subject to the mailbox bound. Takes ownership.
  SendResult Enqueue(Envelope* e) noexcept;
  // A system message (reply, timeout, stop signal): never bounded.
  void EnqueueSystem(Envelope* e) noexcept;

  TurnResult RunTurn(int budget) noexcept override;

  // Any thread: stop after the current message.
  void RequestStop(absl::Status reason);
  // Shutdown only, with no worker running the cell.
  void TerminateNow(absl::Status reason) noexcept;

  // ---- the actor's own turn ----
  void StopSelf(absl::Status reason);
  void StartRequest(const ActorRef& to, std::unique_ptr<Envelope> request,
                    const TypeTag* expected, absl::Duration timeout,
                    RequestCallback callback);
  // Takes over the reply of the request being handled (for a Promise).
  std::unique_ptr<ReplyTarget> TakeCurrentReply();
  void Monitor(const ActorRef& other);
  void Demonitor(const ActorRef& other);
  // Creates the Actor object through the factory (also on restart).
  void Construct();

  // ---- the spawner, before the cell is published ----
  // The spawner schedules the first turn itself: sends made meanwhile (from
  // the constructor) only queue. See Mailbox::StartScheduled().
  void StartScheduled() noexcept { mailbox_.StartScheduled(); }

  uint64_t id() const noexcept { return id_; }
  std::string name() const;
  bool alive() const noexcept { return !stopped_.load(std::memory_order_acquire); }
  ActorSystem* system() const noexcept { return registry_->system(); }
  Executor* executor() const noexcept { return executor_; }
  Actor* actor() const noexcept { return actor_.get(); }
  ActorRef self() noexcept {
    Ref();
    return ActorRefAccess::Adopt(this);
  }
  // This cell's links in the registry; only ActorRegistry reads them.
  ActorRegistry::Node& registry_node() noexcept { return registry_node_; }

  // The cell whose Actor is being constructed on this thread, if any.
  static ActorCell* Constructing() noexcept;

 private:
  struct Pending {
    RequestCallback callback;
    TimerId timer;
    const TypeTag* request_type;
    std::string target;
    absl::Duration timeout;
  };

  void Dispatch(Envelope* e) noexcept;
  bool DispatchSystem(Envelope& e);
  void InvokeUser(Envelope& e);
  void HandleFailure(absl::Status error) noexcept;
  void Restart(const absl::Status& error) noexcept;
  // Stops the actor for good: OnStop, dead-letters the mailbox, unlinks
  // from the tree, notifies monitors (and the parent when escalating).
  void Terminate(absl::Status reason, bool escalate) noexcept;
  void DropPending() noexcept;
  void DeadLetter(Envelope* e, SendResult why, const absl::Status& reason) noexcept;

  // Writers: ActorRef copies/destructors and the system. See Unref().
  std::atomic<int32_t> refs_{1};
  // Set by the first RequestStop() (CAS from null, release); read by the
  // owner (acquire) before each message. Owned; freed by the destructor.
  std::atomic<absl::Status*> stop_request_{nullptr};
  // Writer: Terminate() (release); readers: alive() (acquire).
  std::atomic<bool> stopped_{false};
  bool started_ = false;    // owner only
  bool stopping_ = false;   // owner only: StopSelf() or a failure
  bool escalate_ = false;   // owner only: stopping escalates to the parent
  Mailbox mailbox_;
  ActorRegistry* const registry_;      // valid until the actor stops
  DeadLetterOffice* const office_;     // one reference, for life
  Executor* executor_;
  const uint64_t id_;
  std::unique_ptr<Actor> actor_;  // owner only; null once stopped
  ActorFactory factory_;          // owner only
  const SpawnOptions options_;
  std::unique_ptr<BoundedState> bounded_;  // immutable after spawn
  absl::Status stop_reason_;               // owner only
  Envelope* current_ = nullptr;            // owner only: message in hand
  uint64_t next_request_id_ = 0;           // owner only
  std::unique_ptr<absl::flat_hash_map<uint64_t, Pending>> pending_;  // owner
  std::unique_ptr<std::deque<absl::Time>> restarts_;                 // owner

  // Written and read only by the registry, under its mutex.
  ActorRegistry::Node registry_node_;
};

}  // namespace internal
}  // namespace engram

#endif  // ENGRAM_ACTORS_INTERNAL_ACTOR_CELL_H_
