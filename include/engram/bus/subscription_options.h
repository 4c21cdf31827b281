#ifndef ENGRAM_BUS_SUBSCRIPTION_OPTIONS_H_
#define ENGRAM_BUS_SUBSCRIPTION_OPTIONS_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "absl/time/time.h"
#include "engram/actors/spawn_options.h"

namespace engram {

// Narrows a subscription to events whose attributes match: every field that
// is set must be equal (type, source, and each listed extension attribute).
// An event that does not pass is not delivered to this subscription and is
// not counted against it.
struct EventFilter {
  std::optional<std::string> type;
  std::optional<std::string> source;
  std::map<std::string, std::string> extensions;

  friend bool operator==(const EventFilter&, const EventFilter&) = default;
};

// How a consumer group shares its events among members.
enum class GroupMode {
  // Each event to one member; events with a partition key go to the member
  // that owns the key's partition, so events of one key are handled in
  // publication order, also while members join and leave. Events without
  // a key are spread round-robin.
  kKeyHash,
  // Each event to the next member in turn.
  kRoundRobin,
  // Every event to one active member (the longest-standing); the others
  // stand by and the next one takes over when the active member
  // unsubscribes or its actor stops. Publication order is kept across the
  // hand-over.
  kExclusive,
};

// Retry of a failed delivery (the handler threw, returned an error status,
// or the actor subscriber failed the event). Attempt n+1 waits
// min(initial_backoff * multiplier^(n-1), max_backoff) on the ActorSystem's
// TimerService (fake time under the DeterministicScheduler).
struct RetryPolicy {
  int max_attempts = 1;  // 1: no retry
  absl::Duration initial_backoff = absl::Milliseconds(10);
  double multiplier = 2.0;
  absl::Duration max_backoff = absl::Seconds(10);
};

// What happens to an event whose last attempt failed.
enum class ExhaustedPolicy {
  kDeadLetter,  // published to "$dlq.<topic>" as a DeadLetterEvent; counted
  kDiscard,     // dropped; counted in `discarded`
};

struct SubscriptionOptions {
  // Shown in stats, errors and dead letters; "sub#<id>" if empty.
  std::string name;
  // Empty: broadcast (this subscription gets every matching event).
  // Otherwise the consumer group this subscription joins; a group is
  // identified by (pattern, group) and all members must agree on mode,
  // payload type and filter.
  std::string group;
  GroupMode group_mode = GroupMode::kKeyHash;
  EventFilter filter;
  RetryPolicy retry;
  ExhaustedPolicy exhausted = ExhaustedPolicy::kDeadLetter;
  // Backpressure: 0 = unbounded; otherwise the most events accepted for this
  // subscription and not yet finished (queued, being handled, waiting for a
  // retry, or held while paused). When full, `overflow` decides, as for
  // bounded mailboxes: kBlock (the publisher waits, up to block_timeout,
  // then DEADLINE_EXCEEDED), kDropNewest (counted drop), kFail
  // (RESOURCE_EXHAUSTED to the publisher).
  uint32_t capacity = 0;
  OverflowPolicy overflow = OverflowPolicy::kFail;
  absl::Duration block_timeout = absl::InfiniteDuration();
};

// Counters of one subscription (monotonic; read with relaxed loads, so a
// snapshot taken while events flow is not a consistent cut).
struct SubscriptionStats {
  uint64_t accepted = 0;      // events admitted (first attempts)
  uint64_t delivered = 0;     // handled successfully
  uint64_t failed_attempts = 0;  // attempts that failed (incl. the last)
  uint64_t retried = 0;       // retries scheduled
  uint64_t dead_lettered = 0; // sent to $dlq.<topic>
  uint64_t discarded = 0;     // exhausted under kDiscard, or failed on a $dlq topic
  uint64_t dropped = 0;       // refused when full, kDropNewest
  uint64_t rejected = 0;      // refused when full, kFail
  uint64_t timed_out = 0;     // refused when full, kBlock after block_timeout
  uint64_t rerouted = 0;      // taken back from a stopped group member
  uint64_t in_flight = 0;     // accepted and not finished (bounded only)
  bool paused = false;
};

// Counters of a whole bus.
struct BusStats {
  uint64_t published = 0;        // successful Publish() calls
  uint64_t unrouted = 0;         // published events no subscription took
  uint64_t deliveries = 0;       // events handed to subscribers (first attempts)
  uint64_t dropped = 0;          // sum over subscriptions, incl. removed ones
  uint64_t rejected = 0;
  uint64_t timed_out = 0;
  uint64_t dead_lettered = 0;
  uint64_t discarded = 0;
  uint64_t subscriptions = 0;    // live subscriptions
};

}  // namespace engram

#endif  // ENGRAM_BUS_SUBSCRIPTION_OPTIONS_H_
