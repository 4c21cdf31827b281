#ifndef ENGRAM_IMAGE_PROJECTION_H_
#define ENGRAM_IMAGE_PROJECTION_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <type_traits>
#include <utility>
#include <vector>

#include <string>

#include "absl/container/inlined_vector.h"
#include "absl/status/status.h"
#include "engram/actors/actor.h"
#include "engram/actors/envelope.h"
#include "engram/base/internal/callable_traits.h"
#include "engram/bus/event.h"

namespace engram {

class EventRegistry;

// An event of the image as the bus carries it: published after the event is
// durable, on topic "<prefix>.<registered type name>", with its LSN as the
// bus sequence. One payload type for every event type, so that one
// subscription sees them all; `event` holds the typed event.
struct ImageEvent {
  uint64_t lsn = 0;
  uint64_t stream_id = 0;
  uint64_t stream_version = 0;
  std::shared_ptr<const Envelope> event;
};

// Where an event a projection applies came from.
struct EventMeta {
  uint64_t lsn;
  uint64_t stream_id;
  uint64_t stream_version;
};

namespace internal {
// Sent by MemoryImage::SpawnProjection once the live subscription exists:
// what the projection reads to catch up (the journal's directory, read with
// its own Reader, so a read-only image with no journal writer works too).
struct CatchUp {
  std::string journal_dir;
  const EventRegistry* registry;
  uint64_t up_to_lsn;  // the journal's durable LSN when subscribed
};
}  // namespace internal

// A read model (CQRS projection) over the events of many streams. It
// catches up from the journal, from its checkpoint, and then follows the
// events the image publishes live, switching over without a gap or a
// duplicate:
//  1. the image subscribes the projection to the live topic first, and
//     the projection buffers what arrives;
//  2. it reads the journal up to the durable LSN measured after
//     subscribing, applying events of the types it handles;
//  3. it applies the buffered and later live events, skipping any whose
//     LSN the journal already gave it.
// Everything durable before the subscription is in the journal; everything
// made durable after it is published to the subscription; events in both
// are told apart by LSN. "Before" and "after" are by the C++ memory model,
// not by x86: the subscription's bump of the bus version and the
// publisher's read of it are paired with seq_cst fences against the reads
// and writes of the journal's durable LSN (EventBus::Subscribe, "Ordering";
// docs/ARCHITECTURE.md, "The catch-up-to-live switch, by the C++ model").
//
//   class OrdersByStatus : public engram::Projection {
//    public:
//     OrdersByStatus() {
//       On([this](const OrderPlaced& e, const engram::EventMeta& m) { ... });
//       Handle([this](CountQuery q) { return counts_[q.status]; });
//     }
//   };
//   ActorRef p = image.SpawnProjection<OrdersByStatus>().value();
//
// A projection is part of the image: after a restart it is rebuilt by the
// same catch-up. Thread-safety: as Actor.
class Projection : public Actor {
 public:
  // The highest LSN applied so far.
  uint64_t checkpoint() const { return checkpoint_; }
  bool caught_up() const { return caught_up_; }

 protected:
  Projection();

  // Registers the function for events of type E (F(const E&, const EventMeta&)).
  template <class F>
  void On(F f) {
    using Fn = std::decay_t<F>;
    static_assert(internal::CallableTraits<Fn>::Arity == 2,
                  "Projection::On takes F(const E&, const EventMeta&)");
    using E = std::remove_cvref_t<typename internal::CallableTraits<Fn>::template Arg<0>>;
    appliers_.push_back({TypeOf<E>(), [f = Fn(std::move(f))](const Envelope& e,
                                                             const EventMeta& m) mutable {
                           f(static_cast<const TypedEnvelope<E>&>(e).value, m);
                         }});
  }

 private:
  struct Applier {
    const TypeTag* type;
    std::function<void(const Envelope&, const EventMeta&)> apply;
  };

  bool Handles(const TypeTag* t) const;
  void Apply(const Envelope& e, const EventMeta& m);
  void Live(const ImageEvent& e);
  absl::Status CatchUpFromJournal(const internal::CatchUp& c);

  absl::InlinedVector<Applier, 4> appliers_;
  uint64_t checkpoint_ = 0;
  uint64_t journal_end_ = 0;  // events up to here came from the journal
  bool caught_up_ = false;
  std::vector<ImageEvent> buffered_;  // live events before the catch-up
};

}  // namespace engram

#endif  // ENGRAM_IMAGE_PROJECTION_H_
