#ifndef ENGRAM_BUS_INTERNAL_BUS_CORE_H_
#define ENGRAM_BUS_INTERNAL_BUS_CORE_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "bus/internal/consumer_group.h"
#include "bus/internal/delivery_sink.h"
#include "bus/internal/subscription.h"
#include "bus/internal/topic_trie.h"
#include "engram/actors/actor_ref.h"
#include "engram/base/internal/mutex.h"
#include "engram/bus/event.h"
#include "engram/bus/internal/event_callback.h"
#include "engram/bus/publish_options.h"
#include "engram/bus/subscription_options.h"

namespace engram {
class ActorSystem;
}

namespace engram::internal {

// One entry of the trie and of a match list: a broadcast subscription or a
// consumer group.
struct MatchTarget {
  std::shared_ptr<Subscription> sub;
  std::shared_ptr<ConsumerGroup> group;
  friend bool operator==(const MatchTarget& a, const MatchTarget& b) {
    return a.sub == b.sub && a.group == b.group;
  }
};
using MatchList = std::vector<MatchTarget>;

// The event bus proper (EventBus is its owning handle): the pattern trie,
// the subscription and group tables, the match cache and publication.
//
// Matching: the trie is guarded by mu_ and changed only by subscribe and
// unsubscribe, each of which bumps version_. A publisher keeps a
// thread-local cache topic -> match list tagged with (bus id, version);
// while the version is unchanged a publication takes no lock at all: one
// seq_cst fence, one acquire load and one hash lookup. A change invalidates
// every thread's cache at once (their tag no longer equals version_). Match
// lists are immutable and shared, so a list a publisher holds stays valid
// after an unsubscribe; the unsubscribed subscription refuses the offer
// (closed).
//
// Thread-safety: every method may be called from any thread, including
// from inside subscriber callbacks and actor handlers. mu_ is a leaf lock.
// Ownership: owned by EventBus through a shared_ptr; subscriptions hold a
// weak_ptr (to its DeliverySink side), so deliveries that finish after the
// bus is gone are counted but not re-published.
class BusCore final : public DeliverySink, public std::enable_shared_from_this<BusCore> {
 public:
  BusCore(ActorSystem& system, std::string name);
  ~BusCore() override;

  const std::string& name() const noexcept { return name_; }

  // `options` is consumed (its fields are moved into the event).
  absl::StatusOr<PublishReceipt> Publish(std::string_view topic,
                                         std::shared_ptr<EventRecord> record,
                                         PublishOptions&& options);

  absl::StatusOr<uint64_t> Subscribe(std::string_view pattern, SubscriptionOptions options,
                                     const TypeTag* payload_type, Subscription::Kind kind,
                                     ActorRef target, EventCallback callback);
  absl::Status Unsubscribe(uint64_t id);
  // Unsubscribes everything (the bus is being destroyed).
  void UnsubscribeAll();

  // DeliverySink: a subscriber stopped (unsubscribe it, idempotent); an
  // event to publish to "$dlq.<topic>" as a DeadLetterEvent.
  void RemoveStopped(uint64_t id) override;
  void DeadLetter(std::shared_ptr<const EventRecord> original, std::string reason,
                  int attempts, const std::string& subscription) override;

  absl::Status Pause(uint64_t id);
  absl::Status Resume(uint64_t id);
  absl::StatusOr<SubscriptionStats> Stats(uint64_t id) const;
  BusStats stats() const;

 private:
  absl::Status Lookup(std::string_view topic, std::shared_ptr<const MatchList>* out);
  std::shared_ptr<Subscription> Find(uint64_t id) const;
  absl::Status Remove(uint64_t id, bool stopped);

  ActorSystem& system_;
  const std::string name_;
  const uint64_t bus_id_;  // unique per process: tags the thread-local caches
  const std::shared_ptr<BusCounters> counters_ = std::make_shared<BusCounters>();

  // Writer: each publication (relaxed fetch_add; only uniqueness and
  // per-publisher monotonicity are needed).
  std::atomic<uint64_t> sequence_{0};
  // Writer: subscribe/unsubscribe under mu_ (release, after the trie
  // changed); readers: publishers (acquire) to validate their cache.
  // Subscribe() issues a seq_cst fence after its bump and Lookup() one
  // before its load: the Dekker pair that makes a subscription and state
  // read right after it agree with every later publication (see Subscribe).
  std::atomic<uint64_t> version_{1};

  mutable Mutex mu_;
  TopicTrie<MatchTarget> trie_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<uint64_t, std::shared_ptr<Subscription>> subs_ ABSL_GUARDED_BY(mu_);
  // (pattern + '\n' + group name) -> group
  absl::flat_hash_map<std::string, std::shared_ptr<ConsumerGroup>> groups_ ABSL_GUARDED_BY(mu_);
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace engram::internal

#endif  // ENGRAM_BUS_INTERNAL_BUS_CORE_H_
