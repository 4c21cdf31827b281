#include "bus/internal/bus_core.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "bus/internal/delivery.h"
#include "engram/actors/actor.h"
#include "engram/actors/actor_system.h"
#include "engram/bus/topic.h"

namespace engram::internal {
namespace {

absl::string_view Av(std::string_view s) { return absl::string_view(s.data(), s.size()); }

// The internal actor that runs a callback subscription's callback: one
// delivery at a time, in arrival order, on the ActorSystem's workers.
// Exceptions never escape (Subscription::RunCallback catches them).
class CallbackRunner final : public Actor {
 public:
  CallbackRunner() {
    Handle([](Delivery& d) {
      std::shared_ptr<Subscription> sub = d.sub;
      sub->RunCallback(std::move(d));
    });
    Handle([this](RetireRunner) { Stop(); });
  }
};

// Per-thread cache of topic -> match list, for one bus at a time.
struct MatchCache {
  uint64_t bus_id = 0;
  uint64_t version = 0;
  absl::flat_hash_map<std::string, std::shared_ptr<const MatchList>> lists;
};
constexpr size_t kMaxCachedTopics = 4096;
thread_local MatchCache t_cache;

std::atomic<uint64_t> g_next_bus_id{1};  // relaxed: uniqueness only

}  // namespace

BusCore::BusCore(ActorSystem& system, std::string name)
    : system_(system),
      name_(std::move(name)),
      bus_id_(g_next_bus_id.fetch_add(1, std::memory_order_relaxed)) {}

BusCore::~BusCore() = default;

absl::Status BusCore::Lookup(std::string_view topic, std::shared_ptr<const MatchList>* out) {
  MatchCache& c = t_cache;
  // The publisher's half of the subscribe/publish Dekker pair (see
  // Subscribe() and docs/ARCHITECTURE.md, "The projection switch"):
  // whatever this thread wrote or acquired before publishing (a journal's
  // durable LSN, say) is ordered before the load of version_ below, against
  // the fence a subscriber issues after bumping version_. Without it the
  // acquire load may be satisfied early: the subscriber would read our
  // state as it was and we would miss its subscription. One fence per
  // publication (ThreadSanitizer does not model fences; it has no race to
  // report here either: every access involved is atomic).
  std::atomic_thread_fence(std::memory_order_seq_cst);
  const uint64_t v = version_.load(std::memory_order_acquire);
  if (c.bus_id == bus_id_ && c.version == v) {
    auto it = c.lists.find(Av(topic));
    if (it != c.lists.end()) {
      *out = it->second;
      return absl::OkStatus();
    }
  }
  absl::Status st = ValidateTopic(topic);
  if (!st.ok()) return st;
  auto list = std::make_shared<MatchList>();
  uint64_t seen;
  {
    MutexLock lock(&mu_);
    trie_.Match(topic, list.get());
    seen = version_.load(std::memory_order_relaxed);
  }
  if (c.bus_id != bus_id_ || c.version != seen || c.lists.size() >= kMaxCachedTopics) {
    c.lists.clear();
    c.bus_id = bus_id_;
    c.version = seen;
  }
  c.lists[std::string(topic)] = list;
  *out = std::move(list);
  return absl::OkStatus();
}

absl::StatusOr<PublishReceipt> BusCore::Publish(std::string_view topic,
                                                std::shared_ptr<EventRecord> record,
                                                PublishOptions&& options) {
  std::shared_ptr<const MatchList> targets;
  absl::Status st = Lookup(topic, &targets);
  if (!st.ok()) return st;

  PublishReceipt receipt;
  receipt.sequence = options.sequence.has_value()
                         ? *options.sequence
                         : sequence_.fetch_add(1, std::memory_order_relaxed) + 1;
  EventAttributes& a = record->attributes;
  a.id = options.id.empty() ? absl::StrCat(receipt.sequence) : std::move(options.id);
  a.source = options.source.empty() ? name_ : std::move(options.source);
  if (options.type.empty()) {
    const absl::string_view n = record->payload_type()->name;  // static storage
    a.type = AttributeText::Static(std::string_view(n.data(), n.size()));
  } else {
    a.type = AttributeText(std::move(options.type));
  }
  a.time = system_.clock().Now();
  a.subject = std::string(topic);
  a.datacontenttype = options.datacontenttype.empty()
                          ? AttributeText::Static("application/x-engram-object")
                          : AttributeText(std::move(options.datacontenttype));
  a.sequence = receipt.sequence;
  a.partition_key = std::move(options.partition_key);
  a.extensions = std::move(options.extensions);
  std::shared_ptr<const EventRecord> event = std::move(record);

  absl::Status error;
  {
    DispatchScope scope;
    for (const MatchTarget& t : *targets) {
      OfferResult r;
      const char* who_kind;
      std::string who;
      if (t.sub) {
        if (!t.sub->Accepts(*event)) continue;
        r = t.sub->Offer(event, nullptr, -1, /*force=*/false);
        who_kind = "subscription";
        if (r == OfferResult::kRejected || r == OfferResult::kTimedOut) who = t.sub->name();
      } else {
        if (!t.group->Accepts(*event)) continue;
        r = t.group->Offer(event);
        who_kind = "consumer group";
        if (r == OfferResult::kRejected || r == OfferResult::kTimedOut) who = t.group->name();
      }
      switch (r) {
        case OfferResult::kAccepted:
          ++receipt.accepted;
          break;
        case OfferResult::kDropped:
          ++receipt.dropped;
          break;
        case OfferResult::kRejected:
          if (error.ok()) {
            error = absl::ResourceExhaustedError(absl::StrCat(
                "event ", receipt.sequence, " on topic \"", Av(topic), "\": ", who_kind, " \"",
                who, "\" is full (overflow policy: fail)"));
          }
          break;
        case OfferResult::kTimedOut:
          if (error.ok()) {
            error = absl::DeadlineExceededError(absl::StrCat(
                "event ", receipt.sequence, " on topic \"", Av(topic), "\": ", who_kind, " \"",
                who, "\" stayed full for the block timeout"));
          }
          break;
        case OfferResult::kClosed:
          break;
      }
    }
  }
  counters_->published.fetch_add(1, std::memory_order_relaxed);
  if (receipt.accepted == 0 && receipt.dropped == 0 && error.ok()) {
    counters_->unrouted.fetch_add(1, std::memory_order_relaxed);
  }
  counters_->deliveries.fetch_add(receipt.accepted, std::memory_order_relaxed);
  if (!error.ok()) return error;
  return receipt;
}

absl::StatusOr<uint64_t> BusCore::Subscribe(std::string_view pattern,
                                            SubscriptionOptions options,
                                            const TypeTag* payload_type,
                                            Subscription::Kind kind, ActorRef target,
                                            EventCallback callback) {
  absl::Status st = ValidatePattern(pattern);
  if (!st.ok()) return st;
  if (kind == Subscription::Kind::kActor && !target) {
    return absl::InvalidArgumentError(
        absl::StrCat("subscription to \"", Av(pattern), "\": the actor ref is empty"));
  }
  if (options.retry.max_attempts < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "subscription to \"", Av(pattern), "\": retry.max_attempts must be at least 1, got ",
        options.retry.max_attempts));
  }
  uint64_t id;
  {
    MutexLock lock(&mu_);
    id = ++next_id_;
  }
  if (options.name.empty()) options.name = absl::StrCat("sub#", id);
  auto sub = std::make_shared<Subscription>(
      id, std::string(pattern), options, payload_type, kind, std::move(target),
      std::move(callback), &system_.timers(), weak_from_this(), counters_);
  if (kind == Subscription::Kind::kCallback) {
    SpawnOptions so;
    so.name = absl::StrCat("bus:", options.name);
    sub->set_runner(system_.SpawnWith<CallbackRunner>(so));
  }

  MutexLock lock(&mu_);
  if (options.group.empty()) {
    trie_.Insert(pattern, MatchTarget{sub, nullptr});
  } else {
    const std::string key = absl::StrCat(Av(pattern), "\n", options.group);
    std::shared_ptr<ConsumerGroup>& g = groups_[key];
    if (g == nullptr) {
      g = std::make_shared<ConsumerGroup>(std::string(pattern), options.group,
                                          options.group_mode, payload_type, options.filter);
      trie_.Insert(pattern, MatchTarget{nullptr, g});
    } else if (g->mode() != options.group_mode || g->payload_type() != payload_type ||
               !(g->filter() == options.filter)) {
      if (sub->runner()) sub->runner().Send(RetireRunner{});
      return absl::InvalidArgumentError(absl::StrCat(
          "subscription \"", options.name, "\" to \"", Av(pattern), "\": consumer group \"",
          options.group,
          "\" exists with a different mode, payload type or filter; members must agree"));
    }
    g->AddMember(sub);
  }
  subs_[id] = std::move(sub);
  version_.fetch_add(1, std::memory_order_release);
  // The subscriber's half of the pair: orders the bump of version_ before
  // whatever the caller reads after Subscribe() returns (the projection
  // switch reads the journal's durable LSN), against the fence in Lookup().
  // So for any state X that a publisher changes before it publishes: the
  // caller reads the new X, or that publication sees the new version_ and
  // takes the slow path, which finds this subscription under mu_.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  return id;
}

std::shared_ptr<Subscription> BusCore::Find(uint64_t id) const {
  MutexLock lock(&mu_);
  auto it = subs_.find(id);
  return it == subs_.end() ? nullptr : it->second;
}

absl::Status BusCore::Unsubscribe(uint64_t id) { return Remove(id, false); }

void BusCore::RemoveStopped(uint64_t id) { Remove(id, true).IgnoreError(); }

absl::Status BusCore::Remove(uint64_t id, bool stopped) {
  // Completions that happen while the tables are locked run at the end.
  DispatchScope scope;
  std::shared_ptr<Subscription> sub;
  std::shared_ptr<ConsumerGroup> group;
  std::vector<std::shared_ptr<const EventRecord>> orphans;
  {
    MutexLock lock(&mu_);
    auto it = subs_.find(id);
    if (it == subs_.end()) {
      return absl::NotFoundError(
          absl::StrCat("bus \"", name_, "\": no subscription with id ", id));
    }
    sub = std::move(it->second);
    subs_.erase(it);
    const SubscriptionOptions& o = sub->options();
    if (o.group.empty()) {
      trie_.Remove(sub->pattern(), MatchTarget{sub, nullptr});
    } else {
      auto git = groups_.find(absl::StrCat(sub->pattern(), "\n", o.group));
      if (git != groups_.end()) {
        group = git->second;
        // Under mu_ (bus before group is the lock order), so two members
        // leaving at once cannot both miss that the group became empty.
        if (group->RemoveMember(sub.get(), &orphans)) {
          trie_.Remove(sub->pattern(), MatchTarget{nullptr, group});
          groups_.erase(git);
        }
      }
    }
    version_.fetch_add(1, std::memory_order_release);
  }
  sub->Close();
  for (auto& e : orphans) {
    DeadLetter(std::move(e),
               absl::StrCat("consumer group \"", sub->options().group,
                            "\" lost its last member (", sub->name(),
                            stopped ? " stopped" : " unsubscribed", ")"),
               0, sub->name());
  }
  return absl::OkStatus();
}

void BusCore::UnsubscribeAll() {
  std::vector<uint64_t> ids;
  {
    MutexLock lock(&mu_);
    for (const auto& [id, s] : subs_) ids.push_back(id);
  }
  for (uint64_t id : ids) Remove(id, false).IgnoreError();
}

void BusCore::DeadLetter(std::shared_ptr<const EventRecord> original, std::string reason,
                         int attempts, const std::string& subscription) {
  const std::string topic = absl::StrCat("$dlq.", original->attributes.subject);
  PublishOptions o;
  o.source = original->attributes.source;
  auto record = std::make_shared<TypedEventRecord<DeadLetterEvent>>(
      DeadLetterEvent{std::move(reason), attempts, subscription, std::move(original)});
  Publish(topic, std::move(record), std::move(o)).IgnoreError();
  counters_->dead_lettered.fetch_add(1, std::memory_order_relaxed);
}

absl::Status BusCore::Pause(uint64_t id) {
  std::shared_ptr<Subscription> s = Find(id);
  if (!s) return absl::NotFoundError(absl::StrCat("bus \"", name_, "\": no subscription with id ", id));
  s->Pause();
  return absl::OkStatus();
}

absl::Status BusCore::Resume(uint64_t id) {
  std::shared_ptr<Subscription> s = Find(id);
  if (!s) return absl::NotFoundError(absl::StrCat("bus \"", name_, "\": no subscription with id ", id));
  s->Resume();
  return absl::OkStatus();
}

absl::StatusOr<SubscriptionStats> BusCore::Stats(uint64_t id) const {
  std::shared_ptr<Subscription> s = Find(id);
  if (!s) return absl::NotFoundError(absl::StrCat("bus \"", name_, "\": no subscription with id ", id));
  return s->Stats();
}

BusStats BusCore::stats() const {
  BusStats b;
  const BusCounters& c = *counters_;
  b.published = c.published.load(std::memory_order_relaxed);
  b.unrouted = c.unrouted.load(std::memory_order_relaxed);
  b.deliveries = c.deliveries.load(std::memory_order_relaxed);
  b.dropped = c.dropped.load(std::memory_order_relaxed);
  b.rejected = c.rejected.load(std::memory_order_relaxed);
  b.timed_out = c.timed_out.load(std::memory_order_relaxed);
  b.dead_lettered = c.dead_lettered.load(std::memory_order_relaxed);
  b.discarded = c.discarded.load(std::memory_order_relaxed);
  MutexLock lock(&mu_);
  b.subscriptions = subs_.size();
  return b;
}

}  // namespace engram::internal
