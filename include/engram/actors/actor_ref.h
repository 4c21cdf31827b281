#ifndef ENGRAM_ACTORS_ACTOR_REF_H_
#define ENGRAM_ACTORS_ACTOR_REF_H_

#include <cstdint>
#include <string>
#include <type_traits>
#include <utility>

#include "absl/status/status.h"
#include "engram/actors/envelope.h"
#include "engram/actors/send_result.h"

namespace engram {

class ActorRef;

namespace internal {
class ActorCell;
// Hands `e` to `cell`'s mailbox (or to dead letters). Takes ownership.
SendResult Deliver(ActorCell* cell, Envelope* e) noexcept;
void RefCell(ActorCell* cell) noexcept;
void UnrefCell(ActorCell* cell) noexcept;

// The runtime's door into an ActorRef (engram's own code only): the cell it
// points to, and making a ref from a cell reference.
struct ActorRefAccess {
  // Adopts one reference to `cell` (the caller's Ref()).
  static ActorRef Adopt(ActorCell* cell) noexcept;
  static ActorCell* Cell(const ActorRef& ref) noexcept;
};
}  // namespace internal

// The address of an actor: copyable, comparable, hashable, and safe to use
// after the actor has stopped (a send then goes to the system's dead
// letters and returns SendResult::kDeadLetter; it never crashes). It keeps
// the actor's small control block alive, not the actor's state.
//
// Thread-safety: an ActorRef may be copied and used from any thread.
class ActorRef {
 public:
  ActorRef() noexcept = default;
  ActorRef(const ActorRef& o) noexcept : cell_(o.cell_) {
    if (cell_) internal::RefCell(cell_);
  }
  ActorRef(ActorRef&& o) noexcept : cell_(std::exchange(o.cell_, nullptr)) {}
  ActorRef& operator=(ActorRef o) noexcept {
    std::swap(cell_, o.cell_);
    return *this;
  }
  ~ActorRef() {
    if (cell_) internal::UnrefCell(cell_);
  }

  // Sends a message (copied or moved into the mailbox). Per-sender FIFO:
  // two sends ordered in one thread of control arrive in that order.
  template <class T>
  SendResult Send(T&& message) const {
    return internal::Deliver(
        cell_, new TypedEnvelope<std::decay_t<T>>(std::forward<T>(message)));
  }

  // As Send(), with the outcome as a Status that names the receiver.
  template <class T>
  absl::Status TrySend(T&& message) const {
    const SendResult r = Send(std::forward<T>(message));
    return r == SendResult::kDelivered ? absl::OkStatus()
                                       : SendResultToStatus(r, name());
  }

  // Asks the actor to stop after the message it is processing now; queued
  // messages go to dead letters, monitors get Down with `reason`.
  void Stop(absl::Status reason = absl::OkStatus()) const;

  // False once the actor has stopped (or for an empty ref).
  bool alive() const noexcept;
  // Unique per actor system; 0 for an empty ref.
  uint64_t id() const noexcept;
  // The spawn name, or "actor#<id>".
  std::string name() const;

  explicit operator bool() const noexcept { return cell_ != nullptr; }
  friend bool operator==(const ActorRef& a, const ActorRef& b) noexcept {
    return a.cell_ == b.cell_;
  }
  template <class H>
  friend H AbslHashValue(H h, const ActorRef& r) {
    return H::combine(std::move(h), r.cell_);
  }

 private:
  friend struct internal::ActorRefAccess;
  internal::ActorCell* cell_ = nullptr;
};

namespace internal {
inline ActorRef ActorRefAccess::Adopt(ActorCell* cell) noexcept {
  ActorRef r;
  r.cell_ = cell;
  return r;
}
inline ActorCell* ActorRefAccess::Cell(const ActorRef& ref) noexcept {
  return ref.cell_;
}
}  // namespace internal

}  // namespace engram

#endif  // ENGRAM_ACTORS_ACTOR_REF_H_
