#include "bus/internal/subscription.h"

#include <algorithm>
#include <cmath>
#include <exception>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bus/internal/consumer_group.h"
#include "engram/actors/actor_ref.h"

namespace engram::internal {

bool PassesFilter(const EventFilter& filter, const TypeTag* payload_type,
                  const EventRecord& event) noexcept {
  if (payload_type != nullptr && event.payload_type() != payload_type) return false;
  const EventAttributes& a = event.attributes;
  if (filter.type && !(a.type == *filter.type)) return false;
  if (filter.source && *filter.source != a.source) return false;
  for (const auto& [k, v] : filter.extensions) {
    auto it = a.extensions.find(k);
    if (it == a.extensions.end() || it->second != v) return false;
  }
  return true;
}

namespace {

// The reply target of an event delivered into a user actor's mailbox. The
// actor's handler answers it: an absl::Status return value is the outcome;
// a void handler leaves it unanswered, which counts as success when the
// envelope is destroyed after handling. A throw, a missing handler, or the
// actor stopping fail it (the actor runtime calls Fail(); UNAVAILABLE
// means the actor stopped).
class BusAck final : public ReplyTarget {
 public:
  explicit BusAck(Delivery d) : ReplyTarget(TypeOf<absl::Status>()), d_(std::move(d)) {}
  ~BusAck() override {
    if (d_.sub) CompleteDelivery(std::move(d_), absl::OkStatus(), false);
  }
  void Deliver(std::unique_ptr<Envelope> value) override {
    absl::Status s = std::move(PayloadOf<absl::Status>(*value));
    CompleteDelivery(std::move(d_), std::move(s), false);
  }
  void Fail(absl::Status status) override {
    // UNAVAILABLE from the runtime: the actor stopped before handling the
    // event (a handler's own error status arrives through Deliver()).
    const bool stopped = status.code() == absl::StatusCode::kUnavailable;
    CompleteDelivery(std::move(d_), std::move(status), stopped);
  }

 private:
  Delivery d_;
};

}  // namespace

Subscription::Subscription(uint64_t id, std::string pattern, SubscriptionOptions options,
                           const TypeTag* payload_type, Kind kind, ActorRef target,
                           EventCallback callback, TimerService* timers,
                           std::weak_ptr<DeliverySink> sink,
                           std::shared_ptr<BusCounters> counters)
    : id_(id),
      pattern_(std::move(pattern)),
      options_(std::move(options)),
      payload_type_(payload_type),
      kind_(kind),
      target_(std::move(target)),
      callback_(std::move(callback)),
      timers_(timers),
      sink_(std::move(sink)),
      counters_(std::move(counters)) {}

bool Subscription::Accepts(const EventRecord& event) const noexcept {
  return PassesFilter(options_.filter, payload_type_, event);
}

bool Subscription::TryAcquireSlot() noexcept {
  uint32_t cur = in_flight_.load(std::memory_order_seq_cst);
  while (cur < options_.capacity) {
    if (in_flight_.compare_exchange_weak(cur, cur + 1, std::memory_order_seq_cst)) return true;
  }
  return false;
}

bool Subscription::BlockForSlot() {
  const absl::Time deadline = options_.block_timeout == absl::InfiniteDuration()
                                  ? absl::InfiniteFuture()
                                  : absl::Now() + options_.block_timeout;
  MutexLock lock(&mu_);
  waiters_.fetch_add(1, std::memory_order_seq_cst);
  bool ok = false;
  while (true) {
    if (TryAcquireSlot()) {
      ok = true;
      break;
    }
    if (closed()) break;
    if (slot_freed_.WaitWithDeadline(&mu_, deadline)) {
      ok = TryAcquireSlot();
      break;
    }
  }
  waiters_.fetch_sub(1, std::memory_order_seq_cst);
  return ok;
}

void Subscription::ReleaseSlot() noexcept {
  if (options_.capacity == 0) return;
  in_flight_.fetch_sub(1, std::memory_order_seq_cst);
  if (waiters_.load(std::memory_order_seq_cst) > 0) {
    MutexLock lock(&mu_);
    slot_freed_.SignalAll();
  }
}

OfferResult Subscription::Offer(const std::shared_ptr<const EventRecord>& event,
                                const std::shared_ptr<ConsumerGroup>& group, int partition,
                                bool force, std::optional<Delivery>* out) {
  if (closed()) return OfferResult::kClosed;
  if (options_.capacity > 0) {
    if (force) {
      in_flight_.fetch_add(1, std::memory_order_seq_cst);
    } else if (!TryAcquireSlot()) {
      switch (options_.overflow) {
        case OverflowPolicy::kDropNewest:
          dropped_.fetch_add(1, std::memory_order_relaxed);
          counters_->dropped.fetch_add(1, std::memory_order_relaxed);
          return OfferResult::kDropped;
        case OverflowPolicy::kFail:
          rejected_.fetch_add(1, std::memory_order_relaxed);
          counters_->rejected.fetch_add(1, std::memory_order_relaxed);
          return OfferResult::kRejected;
        case OverflowPolicy::kBlock:
          if (!BlockForSlot()) {
            if (closed()) return OfferResult::kClosed;
            timed_out_.fetch_add(1, std::memory_order_relaxed);
            counters_->timed_out.fetch_add(1, std::memory_order_relaxed);
            return OfferResult::kTimedOut;
          }
          break;
      }
    }
  }
  accepted_.fetch_add(1, std::memory_order_relaxed);
  Delivery d(event, shared_from_this(), group, partition, 1);
  if (paused_.load(std::memory_order_acquire)) {
    MutexLock lock(&mu_);
    if (paused_.load(std::memory_order_relaxed)) {
      held_.push_back(std::move(d));
      return OfferResult::kAccepted;
    }
  }
  if (out != nullptr) {
    out->emplace(std::move(d));
    return OfferResult::kAccepted;
  }
  Dispatch(std::move(d));
  return OfferResult::kAccepted;
}

void Subscription::Dispatch(Delivery d) {
  if (kind_ == Kind::kCallback) {
    runner_.Send(std::move(d));
    return;
  }
  std::shared_ptr<const EventRecord> event = d.event;
  const int attempt = d.attempt;
  std::unique_ptr<Envelope> e = event->MakeActorEnvelope(event, attempt);
  e->reply() = std::make_unique<BusAck>(std::move(d));
  internal::Deliver(ActorRefAccess::Cell(target_), e.release());
}

void Subscription::RunCallback(Delivery d) noexcept {
  // A retry of an earlier event of this key holds the partition: wait
  // behind it (the group dispatches `d` again when the retry is over).
  if (d.group && d.partition >= 0 && d.group->Park(d)) return;
  absl::Status s;
  try {
    s = callback_(d.event, d.attempt);
  } catch (const std::exception& ex) {
    s = absl::InternalError(absl::StrCat("subscriber \"", name(), "\" threw: ", ex.what()));
  } catch (...) {
    s = absl::InternalError(absl::StrCat("subscriber \"", name(), "\" threw a non-exception"));
  }
  Complete(std::move(d), std::move(s), false);
}

Subscription::Outcome Subscription::Decide(const Delivery& d, const absl::Status& status,
                                           bool gone, bool bus_alive) const noexcept {
  if (status.ok()) return Outcome::kDone;
  // A group member stopped: another member takes the event (the standby
  // of an exclusive group takes over here).
  if (gone && bus_alive && !options_.group.empty()) return Outcome::kReroute;
  if (!gone && bus_alive && !closed() && d.attempt < options_.retry.max_attempts) {
    return Outcome::kRetry;
  }
  return Outcome::kExhausted;
}

void Subscription::Complete(Delivery d, absl::Status status, bool abandoned) {
  if (status.ok()) {
    delivered_.fetch_add(1, std::memory_order_relaxed);
    std::vector<std::shared_ptr<const EventRecord>> orphans =
        EndDelivery(d, d.event.get(), nullptr);
    if (orphans.empty()) return;  // the common case: no weak_ptr lock
    if (auto sink = sink_.lock()) {
      for (auto& e : orphans) {
        sink->DeadLetter(std::move(e), "consumer group has no members", 0, name());
      }
    }
    return;
  }
  failed_attempts_.fetch_add(1, std::memory_order_relaxed);
  std::shared_ptr<DeliverySink> sink = sink_.lock();
  // The subscriber is gone: its actor stopped, or the runner was retired.
  const bool gone = abandoned || (kind_ == Kind::kActor && !target_.alive());
  const Outcome outcome = Decide(d, status, gone, sink != nullptr);
  // A stopped subscriber is unsubscribed first (for a group member this
  // also moves its partitions' ownership before the event is re-routed).
  if (gone && sink && (kind_ == Kind::kActor || !options_.group.empty())) {
    sink->RemoveStopped(id_);
  }
  std::shared_ptr<const EventRecord> event = std::move(d.event);
  const EventRecord* const finished = event.get();
  const int attempts = d.attempt;
  std::vector<std::shared_ptr<const EventRecord>> orphans;
  const char* orphan_reason = "consumer group has no members";
  switch (outcome) {
    case Outcome::kDone:
      break;  // handled above
    case Outcome::kRetry: {
      retried_.fetch_add(1, std::memory_order_relaxed);
      const RetryPolicy& r = options_.retry;
      absl::Duration delay = r.initial_backoff * std::pow(r.multiplier, d.attempt - 1);
      delay = std::min(delay, r.max_backoff);
      // The retry keeps its slot and its group partition; the partition
      // holds later events of the key until this one finishes.
      if (d.group) d.group->HoldForRetry(d.partition, finished);
      d.event = std::move(event);
      ++d.attempt;
      timers_->Schedule(delay, absl::ZeroDuration(), [d = std::move(d)]() mutable {
        std::shared_ptr<Subscription> sub = d.sub;
        sub->Dispatch(std::move(d));
      });
      return;
    }
    case Outcome::kReroute: {
      rerouted_.fetch_add(1, std::memory_order_relaxed);
      std::shared_ptr<ConsumerGroup> group = d.group;
      const bool partitioned = group && d.partition >= 0;
      // A partitioned event goes back to its partition (ahead of what it
      // holds); any other is offered to the group afresh.
      orphans = EndDelivery(d, finished, partitioned ? event : nullptr);
      orphan_reason = "has no members left";
      if (!partitioned && (!group || group->Offer(event) != OfferResult::kAccepted)) {
        dead_lettered_.fetch_add(1, std::memory_order_relaxed);
        sink->DeadLetter(std::move(event),
                         absl::StrCat("subscriber \"", name(), "\" stopped (", status.ToString(),
                                      ") and no other group member took the event"),
                         attempts, name());
      }
      break;
    }
    case Outcome::kExhausted: {
      orphans = EndDelivery(d, finished, nullptr);
      // Never dead-letter a dead letter.
      const bool system_topic = event->attributes.subject.rfind("$dlq.", 0) == 0;
      if (options_.exhausted == ExhaustedPolicy::kDeadLetter && sink && !system_topic) {
        dead_lettered_.fetch_add(1, std::memory_order_relaxed);
        sink->DeadLetter(std::move(event),
                         absl::StrCat("subscriber \"", name(), "\" failed after ", attempts,
                                      attempts == 1 ? " attempt: " : " attempts: ",
                                      status.ToString()),
                         attempts, name());
      } else {
        discarded_.fetch_add(1, std::memory_order_relaxed);
        counters_->discarded.fetch_add(1, std::memory_order_relaxed);
      }
      break;
    }
  }
  if (sink) {
    for (auto& e : orphans) {
      const std::string reason =
          outcome == Outcome::kReroute
              ? absl::StrCat("consumer group \"", options_.group, "\" ", orphan_reason)
              : std::string(orphan_reason);
      sink->DeadLetter(std::move(e), reason, 0, name());
    }
  }
}

std::vector<std::shared_ptr<const EventRecord>> Subscription::EndDelivery(
    Delivery& d, const EventRecord* finished, std::shared_ptr<const EventRecord> reroute) {
  std::shared_ptr<ConsumerGroup> group = std::move(d.group);
  d.sub.reset();
  ReleaseSlot();
  std::vector<std::shared_ptr<const EventRecord>> orphans;
  if (group && d.partition >= 0) {
    group->Done(d.partition, finished, d.in_window, std::move(reroute), &orphans);
  }
  return orphans;
}

void Subscription::Pause() {
  MutexLock lock(&mu_);
  paused_.store(true, std::memory_order_release);
}

void Subscription::Resume() {
  DispatchScope scope;
  MutexLock lock(&mu_);
  // Drain under the lock, so a publisher that sees paused_ and waits for
  // the lock dispatches after the held events: publication order is kept.
  while (!held_.empty()) {
    Delivery d = std::move(held_.front());
    held_.pop_front();
    Dispatch(std::move(d));
  }
  paused_.store(false, std::memory_order_release);
}

void Subscription::Close() {
  std::deque<Delivery> held;
  {
    MutexLock lock(&mu_);
    closed_.store(true, std::memory_order_release);
    held.swap(held_);
    slot_freed_.SignalAll();
  }
  // Held (paused) events were never handed over: they complete as
  // abandoned (re-routed in a group, dead-lettered otherwise).
  held.clear();
  if (runner_) runner_.Send(RetireRunner{});
}

SubscriptionStats Subscription::Stats() const {
  SubscriptionStats s;
  s.accepted = accepted_.load(std::memory_order_relaxed);
  s.delivered = delivered_.load(std::memory_order_relaxed);
  s.failed_attempts = failed_attempts_.load(std::memory_order_relaxed);
  s.retried = retried_.load(std::memory_order_relaxed);
  s.dead_lettered = dead_lettered_.load(std::memory_order_relaxed);
  s.discarded = discarded_.load(std::memory_order_relaxed);
  s.dropped = dropped_.load(std::memory_order_relaxed);
  s.rejected = rejected_.load(std::memory_order_relaxed);
  s.timed_out = timed_out_.load(std::memory_order_relaxed);
  s.rerouted = rerouted_.load(std::memory_order_relaxed);
  s.in_flight = in_flight_.load(std::memory_order_relaxed);
  s.paused = paused_.load(std::memory_order_relaxed);
  return s;
}

}  // namespace engram::internal
