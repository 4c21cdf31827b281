#ifndef ENGRAM_BUS_INTERNAL_SUBSCRIPTION_H_
#define ENGRAM_BUS_INTERNAL_SUBSCRIPTION_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "bus/internal/delivery.h"
#include "bus/internal/delivery_sink.h"
#include "engram/actors/actor_ref.h"
#include "engram/actors/type_tag.h"
#include "engram/base/internal/mutex.h"
#include "engram/bus/event.h"
#include "engram/bus/internal/event_callback.h"
#include "engram/bus/subscription_options.h"
#include "engram/runtime/timer_service.h"

namespace engram::internal {

// Bus-wide counters, shared by the bus and its subscriptions (which may
// outlive the bus while their last deliveries finish). Every counter is
// written with relaxed fetch_add by whichever thread records the outcome
// and read with relaxed loads: they are statistics, not synchronisation.
struct BusCounters {
  std::atomic<uint64_t> published{0};
  std::atomic<uint64_t> unrouted{0};
  std::atomic<uint64_t> deliveries{0};
  std::atomic<uint64_t> dropped{0};
  std::atomic<uint64_t> rejected{0};
  std::atomic<uint64_t> timed_out{0};
  std::atomic<uint64_t> dead_lettered{0};
  std::atomic<uint64_t> discarded{0};
};

// What became of one offer of an event to a subscription.
enum class OfferResult { kAccepted, kDropped, kRejected, kTimedOut, kClosed };

// One subscription: where its events go (a user actor's mailbox, or a
// callback run on the subscription's own internal "runner" actor), its
// admission counter (backpressure), its pause buffer, its retry policy and
// its counters.
//
// Thread-safety: Offer() may be called by any number of publishers at once;
// Complete() by whichever thread finishes a delivery; Pause/Resume/Close
// from anywhere. The callback runs on the runner actor's turns only, never
// concurrently with itself.
// Ownership: shared by the bus's tables, the match caches, and every
// Delivery in flight; it holds only a weak reference to the bus, as the
// DeliverySink it reports dead letters and stopped subscribers to.
class Subscription : public std::enable_shared_from_this<Subscription> {
 public:
  enum class Kind { kActor, kCallback };

  Subscription(uint64_t id, std::string pattern, SubscriptionOptions options,
               const TypeTag* payload_type, Kind kind, ActorRef target,
               EventCallback callback, TimerService* timers, std::weak_ptr<DeliverySink> sink,
               std::shared_ptr<BusCounters> counters);

  uint64_t id() const noexcept { return id_; }
  const std::string& name() const noexcept { return options_.name; }
  const std::string& pattern() const noexcept { return pattern_; }
  const SubscriptionOptions& options() const noexcept { return options_; }
  const TypeTag* payload_type() const noexcept { return payload_type_; }
  Kind kind() const noexcept { return kind_; }
  const ActorRef& target() const noexcept { return target_; }

  // For callback subscriptions: the runner actor, set once before the
  // subscription is published to the bus's tables.
  void set_runner(ActorRef runner) { runner_ = std::move(runner); }
  const ActorRef& runner() const noexcept { return runner_; }

  // True if `event` passes the payload type and the filter.
  bool Accepts(const EventRecord& event) const noexcept;

  // Admits `event` (applying the overflow policy unless `force`) and hands
  // it to the subscriber, or holds it while paused. `group`/`partition`:
  // the routing group partition to release when the delivery finishes.
  // `out` (a group routing a partition): the admitted delivery is put there
  // instead of handed over, for the group to dispatch or park (left empty
  // if the subscription is paused and holds it).
  OfferResult Offer(const std::shared_ptr<const EventRecord>& event,
                    const std::shared_ptr<ConsumerGroup>& group, int partition, bool force,
                    std::optional<Delivery>* out = nullptr);

  // Hands an admitted delivery to the subscriber's mailbox.
  void Dispatch(Delivery d);

  // Runs the callback (on the runner actor) and completes the delivery;
  // or, if a retry holds the delivery's group partition, parks it there.
  void RunCallback(Delivery d) noexcept;

  // Finishes a delivery: the one place that decides what becomes of it
  // (see Decide()) and carries that out: the group and the sink are told
  // facts, they never call back into the decision.
  void Complete(Delivery d, absl::Status status, bool abandoned);

  void Pause();
  void Resume();
  // Stops taking events (unsubscribed). Held events are dead-lettered;
  // blocked publishers return. The runner drains what it has, then stops.
  void Close();
  bool closed() const noexcept { return closed_.load(std::memory_order_acquire); }

  SubscriptionStats Stats() const;

 private:
  // What becomes of a finished delivery.
  enum class Outcome {
    kDone,       // handled: count it, release its slot and partition
    kRetry,      // failed, attempts left: dispatch again after the backoff
    kReroute,    // a group member stopped: hand the event to another member
    kExhausted,  // failed for good: dead-letter or discard (per policy)
  };
  // A pure question: the outcome for `d` finished with `status`.
  // `gone`: the subscriber stopped or never handled it; `bus_alive`: the
  // sink can still take dead letters and removals.
  Outcome Decide(const Delivery& d, const absl::Status& status, bool gone,
                 bool bus_alive) const noexcept;

  bool TryAcquireSlot() noexcept;
  bool BlockForSlot();
  void ReleaseSlot() noexcept;
  // Ends `d`'s hold on this subscription: marks it completed, frees its
  // slot and, if it belongs to a group partition, tells the group (routing
  // `reroute` again ahead of held events). Returns the events the group can
  // no longer place. The slot is freed first: a publisher blocked on this
  // subscription may hold the group's lock, which Done() needs.
  std::vector<std::shared_ptr<const EventRecord>> EndDelivery(
      Delivery& d, const EventRecord* finished, std::shared_ptr<const EventRecord> reroute);

  const uint64_t id_;
  const std::string pattern_;
  const SubscriptionOptions options_;
  const TypeTag* const payload_type_;  // null: any payload type
  const Kind kind_;
  const ActorRef target_;  // kActor: the user's actor
  ActorRef runner_;        // kCallback: the internal runner actor
  EventCallback callback_;  // kCallback; used on the runner's turns only
  TimerService* const timers_;
  const std::weak_ptr<DeliverySink> sink_;
  const std::shared_ptr<BusCounters> counters_;

  // Writer: Close() (release); readers: Offer(), Complete() (acquire), so a
  // publisher that sees it stops offering.
  std::atomic<bool> closed_{false};
  // Writers: Pause()/Resume() under mu_ (release); read by Offer() first
  // without the lock (acquire) and then re-checked under mu_.
  std::atomic<bool> paused_{false};
  // Admitted and unfinished events (bounded subscriptions only). Acquired
  // by publishers with a CAS, released by completions with fetch_sub. The
  // blocking policy pairs it with waiters_ in a Dekker handshake: a waiter
  // increments waiters_ then re-reads in_flight_; a releaser decrements
  // in_flight_ then reads waiters_; both seq_cst, so one sees the other.
  std::atomic<uint32_t> in_flight_{0};
  std::atomic<uint32_t> waiters_{0};

  // Statistics: relaxed fetch_add by the thread that records the outcome.
  // Publisher-side and consumer-side counters sit on separate cache lines,
  // so a publisher and the subscriber's worker do not false-share.
  alignas(64) std::atomic<uint64_t> accepted_{0};  // publishers
  std::atomic<uint64_t> dropped_{0};
  std::atomic<uint64_t> rejected_{0};
  std::atomic<uint64_t> timed_out_{0};
  alignas(64) std::atomic<uint64_t> delivered_{0};  // completions
  std::atomic<uint64_t> failed_attempts_{0};
  std::atomic<uint64_t> retried_{0};
  std::atomic<uint64_t> dead_lettered_{0};
  std::atomic<uint64_t> discarded_{0};
  std::atomic<uint64_t> rerouted_{0};

  alignas(64) mutable Mutex mu_;
  CondVar slot_freed_;  // signalled under mu_ when a slot frees or on Close
  std::deque<Delivery> held_ ABSL_GUARDED_BY(mu_);  // while paused
};

}  // namespace engram::internal

#endif  // ENGRAM_BUS_INTERNAL_SUBSCRIPTION_H_
