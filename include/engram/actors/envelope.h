#ifndef ENGRAM_ACTORS_ENVELOPE_H_
#define ENGRAM_ACTORS_ENVELOPE_H_

#include <memory>
#include <utility>

#include "absl/status/status.h"
#include "engram/actors/type_tag.h"

namespace engram {

class Envelope;
class Mailbox;
namespace internal {
class ActorCell;
}  // namespace internal

// Where the answer to a request goes: a requesting actor's mailbox or a
// thread blocked in ActorSystem::Ask(). A request envelope owns its
// ReplyTarget; the target is answered at most once, and one destroyed
// unanswered answers with an error, so a requester always hears back
// (or times out).
//
// Thread-safety: a ReplyTarget is used by one thread at a time (it moves
// with the envelope or with a Promise).
class ReplyTarget {
 public:
  explicit ReplyTarget(const TypeTag* expected) : expected_(expected) {}
  virtual ~ReplyTarget() = default;
  ReplyTarget(const ReplyTarget&) = delete;
  ReplyTarget& operator=(const ReplyTarget&) = delete;

  // The reply type the requester expects.
  const TypeTag* expected() const { return expected_; }

  // Delivers a reply value (an envelope holding a value of type
  // expected()) or an error. Exactly one of the two, once.
  virtual void Deliver(std::unique_ptr<Envelope> value) = 0;
  virtual void Fail(absl::Status status) = 0;

 private:
  const TypeTag* const expected_;
};

// A message in flight: an intrusive mailbox link, the payload's type tag and,
// for requests, where the reply goes. The payload lives in TypedEnvelope<T>.
//
// Ownership: whoever holds the pointer owns it; the mailbox owns queued
// envelopes. The mailbox link and the bounded-slot mark belong to the
// runtime (Mailbox, ActorCell) and are not part of the API.
class Envelope {
 public:
  explicit Envelope(const TypeTag* type) noexcept : type_(type) {}
  virtual ~Envelope() = default;
  Envelope(const Envelope&) = delete;
  Envelope& operator=(const Envelope&) = delete;

  const TypeTag* type() const noexcept { return type_; }

  // Set for requests; answered by the handler's return value.
  std::unique_ptr<ReplyTarget>& reply() noexcept { return reply_; }

 private:
  friend class Mailbox;
  friend class internal::ActorCell;

  Envelope* next_ = nullptr;   // mailbox link, owned by the mailbox
  bool bounded_slot_ = false;  // holds a slot of a bounded mailbox
  const TypeTag* const type_;
  std::unique_ptr<ReplyTarget> reply_;
};

template <class T>
class TypedEnvelope final : public Envelope {
 public:
  template <class... Args>
  explicit TypedEnvelope(Args&&... args)
      : Envelope(TypeOf<T>()), value(std::forward<Args>(args)...) {}
  T value;
};

// The payload of `e`, which must hold a T.
template <class T>
T& PayloadOf(Envelope& e) noexcept {
  return static_cast<TypedEnvelope<T>&>(e).value;
}

}  // namespace engram

#endif  // ENGRAM_ACTORS_ENVELOPE_H_
