#ifndef ENGRAM_BUS_INTERNAL_DELIVERY_H_
#define ENGRAM_BUS_INTERNAL_DELIVERY_H_

#include <memory>
#include <utility>

#include "absl/status/status.h"
#include "engram/bus/event.h"

namespace engram::internal {

class Subscription;
class ConsumerGroup;

// One event on its way to one subscription: the shared event record, the
// subscription, the attempt number and, for events routed by a key-hash or
// exclusive group, the group partition that holds it in flight.
//
// Exactly-once completion: a Delivery is finished by moving it into
// Subscription::Complete(). One destroyed unfinished (its envelope went to
// dead letters because the subscriber stopped, or a retry timer was
// dropped at shutdown) completes itself as abandoned, so an accepted event
// is always accounted for: handled, retried, re-routed, dead-lettered or
// discarded.
//
// `in_window`: the delivery counts against its partition's one-at-a-time
// window for actor members (see ConsumerGroup); kept across retries.
//
// Thread-safety: owned by one thread at a time (it moves with messages).
struct Delivery {
  Delivery(std::shared_ptr<const EventRecord> e, std::shared_ptr<Subscription> s,
           std::shared_ptr<ConsumerGroup> g, int p, int a) noexcept
      : event(std::move(e)), sub(std::move(s)), group(std::move(g)), partition(p), attempt(a) {}
  Delivery(Delivery&& o) noexcept = default;
  Delivery& operator=(Delivery&& o) noexcept;
  Delivery(const Delivery&) = delete;
  Delivery& operator=(const Delivery&) = delete;
  ~Delivery();

  std::shared_ptr<const EventRecord> event;
  std::shared_ptr<Subscription> sub;  // null once completed (or moved from)
  std::shared_ptr<ConsumerGroup> group;
  int partition = -1;
  int attempt = 1;
  bool in_window = false;
};

// Tells a callback subscription's runner actor to stop once the deliveries
// queued before it are done.
struct RetireRunner {};

// Completes `d` with `status` now, or, if this thread is inside a bus
// dispatch (holding a group or subscription lock while handing events to
// mailboxes), when the outermost dispatch ends. `abandoned`: the subscriber
// never handled the event (no retry on the same subscriber).
void CompleteDelivery(Delivery d, absl::Status status, bool abandoned);

// Marks the current thread as dispatching for its lifetime; completions
// that happen synchronously meanwhile (a send to a stopped actor fails at
// once) are deferred to the end of the outermost scope, outside the locks.
// It cannot be replaced by the DeliverySink: the re-entry does not come from
// the bus calling itself but from the actor runtime, which fails an
// envelope's reply (BusAck::Fail) or destroys its Delivery inside
// internal::Deliver()/Send(), while a group must hold its lock across the
// hand-over to keep per-partition order against concurrent publishers.
class DispatchScope {
 public:
  DispatchScope() noexcept;
  ~DispatchScope();
  DispatchScope(const DispatchScope&) = delete;
  DispatchScope& operator=(const DispatchScope&) = delete;
};

}  // namespace engram::internal

#endif  // ENGRAM_BUS_INTERNAL_DELIVERY_H_
