#ifndef ENGRAM_BUS_EVENT_BUS_H_
#define ENGRAM_BUS_EVENT_BUS_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engram/actors/actor_ref.h"
#include "engram/actors/type_tag.h"
#include "engram/bus/event.h"
#include "engram/bus/internal/event_callback.h"
#include "engram/bus/publish_options.h"
#include "engram/bus/subscription_options.h"
#include "engram/bus/topic.h"

namespace engram {

class ActorSystem;
namespace internal {
class BusCore;
}  // namespace internal

// Identifies a subscription on its bus; never 0.
using SubscriptionId = uint64_t;

// The in-process event bus: publish/subscribe on hierarchical topics
// ("orders.eu.created"; patterns with '*' and '>', see bus/topic.h).
//
//   engram::EventBus bus(system);
//   bus.Subscribe<OrderCreated>("orders.*.created",
//       [](const engram::BusEvent<OrderCreated>& e) { ... });   // callback
//   bus.SubscribeActor<OrderCreated>("orders.>", shipping);       // actor
//   bus.Publish("orders.eu.created", OrderCreated{42});
//
// Subscribers are actors (the event arrives in the actor's mailbox as a
// BusEvent<T>, handled by `Handle([](const BusEvent<T>& e) {...})`) or
// callbacks (run on an internal actor of the subscription, on the
// ActorSystem's workers: one event at a time per subscription, in order).
// A subscription is typed: it receives only events whose payload is a T.
// Delivery is broadcast, or to one member of a consumer group; failures are
// retried with backoff and then dead-lettered to "$dlq.<topic>" or
// discarded; bounded subscriptions apply an overflow policy. See
// SubscriptionOptions.
//
// Thread-safety: every method may be called from any thread, including
// from inside callbacks and actor handlers, while events flow.
// Ownership and lifetime: the bus uses `system`'s workers and timers, so
// the ActorSystem must outlive the bus. Destroying the bus unsubscribes
// everything; events already handed to subscribers still finish.
class EventBus {
 public:
  explicit EventBus(ActorSystem& system, std::string name = "engram.bus");
  ~EventBus();
  EventBus(const EventBus&) = delete;
  EventBus& operator=(const EventBus&) = delete;

  // Publishes `payload` on `topic` to every matching subscription. The
  // payload is moved into one shared immutable event (any movable type);
  // subscribers see it by const reference.
  //
  // Errors: INVALID_ARGUMENT for a malformed topic (nothing published);
  // RESOURCE_EXHAUSTED if a full subscription has the kFail policy and
  // DEADLINE_EXCEEDED if a kBlock one stayed full for its block_timeout
  // (the message names the subscription; the other subscriptions did get
  // the event). Drops under kDropNewest are not errors: they are counted
  // in the receipt and in stats.
  template <class T>
  absl::StatusOr<PublishReceipt> Publish(std::string_view topic, T&& payload,
                                         PublishOptions options = {}) {
    return PublishRecord(
        topic,
        std::make_shared<internal::TypedEventRecord<std::decay_t<T>>>(std::forward<T>(payload)),
        std::move(options));
  }

  // Subscribes a callback to events of payload type T on topics matching
  // `pattern`. `fn(const BusEvent<T>&)` returns void (success unless it
  // throws) or absl::Status (an error status is a failure, retried per
  // options.retry). INVALID_ARGUMENT for a malformed pattern or options.
  //
  // Ordering (for all Subscribe* methods): if a publisher changes some
  // atomic state X and then publishes (or publishes after observing the
  // change with an acquire load), and the subscriber reads X after
  // Subscribe() returns, then the subscriber sees the change or the
  // publication reaches the new subscription (or both). The projection
  // switch relies on this; each side pays one seq_cst fence.
  template <class T, class F>
  absl::StatusOr<SubscriptionId> Subscribe(std::string_view pattern, F&& fn,
                                           SubscriptionOptions options = {}) {
    using Fn = std::decay_t<F>;
    using R = std::invoke_result_t<Fn&, const BusEvent<T>&>;
    static_assert(std::is_void_v<R> || std::is_same_v<R, absl::Status>,
                  "a bus callback returns void or absl::Status");
    internal::EventCallback cb =
        [f = Fn(std::forward<F>(fn))](const std::shared_ptr<const internal::EventRecord>& e,
                                      int attempt) mutable -> absl::Status {
      BusEvent<T> event(e, attempt);
      if constexpr (std::is_void_v<R>) {
        f(event);
        return absl::OkStatus();
      } else {
        return f(event);
      }
    };
    return SubscribeCallback(pattern, std::move(options), TypeOf<T>(), std::move(cb));
  }

  // Subscribes an actor: each event arrives in its mailbox as a BusEvent<T>.
  // The handler may return void (success unless it throws) or absl::Status
  // (an error is a failure, retried per options.retry). If the actor
  // stops, the subscription ends by itself: its undelivered events go to
  // another group member, or to the dead-letter topic.
  template <class T>
  absl::StatusOr<SubscriptionId> SubscribeActor(std::string_view pattern, const ActorRef& actor,
                                                SubscriptionOptions options = {}) {
    return SubscribeActorRef(pattern, std::move(options), TypeOf<T>(), actor);
  }

  // Ends a subscription: publications that start after this returns do not
  // reach it; events already handed to the subscriber are still handled;
  // events held by a paused subscription are re-routed (groups) or
  // dead-lettered. NOT_FOUND for an unknown id.
  absl::Status Unsubscribe(SubscriptionId id);

  // Pause holds new events for the subscription (they count against its
  // capacity); Resume hands them over in order. Events already handed over
  // are not recalled.
  absl::Status Pause(SubscriptionId id);
  absl::Status Resume(SubscriptionId id);

  absl::StatusOr<SubscriptionStats> Stats(SubscriptionId id) const;
  BusStats stats() const;
  const std::string& name() const;

 private:
  // The type-erased entry points of the templates above (bus/event_bus.cc).
  // (By rvalue reference: the options are moved once, into the event.)
  absl::StatusOr<PublishReceipt> PublishRecord(std::string_view topic,
                                               std::shared_ptr<internal::EventRecord>&& record,
                                               PublishOptions&& options);
  absl::StatusOr<SubscriptionId> SubscribeCallback(std::string_view pattern,
                                                   SubscriptionOptions options,
                                                   const TypeTag* payload_type,
                                                   internal::EventCallback callback);
  absl::StatusOr<SubscriptionId> SubscribeActorRef(std::string_view pattern,
                                                   SubscriptionOptions options,
                                                   const TypeTag* payload_type,
                                                   const ActorRef& actor);

  std::shared_ptr<internal::BusCore> core_;  // the implementation (private)
};

}  // namespace engram

#endif  // ENGRAM_BUS_EVENT_BUS_H_
