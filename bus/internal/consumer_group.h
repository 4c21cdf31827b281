#ifndef ENGRAM_BUS_INTERNAL_CONSUMER_GROUP_H_
#define ENGRAM_BUS_INTERNAL_CONSUMER_GROUP_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "bus/internal/delivery.h"
#include "bus/internal/subscription.h"
#include "engram/actors/type_tag.h"
#include "engram/base/internal/mutex.h"
#include "engram/bus/event.h"
#include "engram/bus/subscription_options.h"

namespace engram::internal {

// A consumer group: the subscriptions sharing (pattern, group name), of
// which each event reaches exactly one.
//
// Key-hash and exclusive groups route through partitions (64 for key hash,
// one for exclusive). A partition has an owner member and a count of its
// events in flight. While events are in flight the owner stays (sticky);
// when the owner has left, new events for the partition are held until its
// in-flight events finish, and only then go to the new owner. Ownership
// moves to the member the current membership assigns (partition mod member
// count; the oldest member for exclusive) only when nothing is in flight.
// So events of one key are handled in publication order whatever joins or
// leaves.
//
// A retry holds its partition: while a delivery of the partition waits out
// its retry backoff, new events of the partition are held here, and events
// already handed to a callback subscriber's runner are parked here when
// their turn comes (Park()); both go out, in order, once the retried event
// has finished (handled, dead-lettered, discarded or re-routed). So later
// events of a key never overtake a retry of an earlier one.
//
// An event in an actor's mailbox cannot be taken back, so a partition
// hands an actor member one event at a time (a window of one): the others
// are admitted (they hold their slots, so capacity and overflow policies
// apply as before) and parked here, bound to that member, and go out one
// by one as each finishes. A retry keeps its place in the window, so later
// events of its key wait behind it. Callback members get every event at
// once (their runner asks Park() before running each one).
//
// Thread-safety: all methods take the group's mutex. Lock order: group
// mutex before a subscription's mutex; never the bus mutex inside.
// Ownership: shared by the bus's tables, match caches and deliveries.
class ConsumerGroup : public std::enable_shared_from_this<ConsumerGroup> {
 public:
  static constexpr int kKeyPartitions = 64;

  ConsumerGroup(std::string pattern, std::string name, GroupMode mode,
                const TypeTag* payload_type, EventFilter filter);

  const std::string& name() const noexcept { return name_; }
  GroupMode mode() const noexcept { return mode_; }
  const TypeTag* payload_type() const noexcept { return payload_type_; }
  const EventFilter& filter() const noexcept { return filter_; }

  bool Accepts(const EventRecord& event) const noexcept;

  void AddMember(std::shared_ptr<Subscription> member);
  // Removes `member`. If the group is now empty, moves the events it still
  // held into `orphans` (the caller dead-letters them) and returns true.
  bool RemoveMember(const Subscription* member,
                    std::vector<std::shared_ptr<const EventRecord>>* orphans);
  size_t member_count() const;

  // Routes `event` to one member. kClosed if the group has no member.
  OfferResult Offer(const std::shared_ptr<const EventRecord>& event);

  // A delivery of `partition` will be retried after a backoff: the
  // partition is held until Done() reports `event` finished.
  void HoldForRetry(int partition, const EventRecord* event);

  // Asked by a callback subscription's runner before it runs `d` (a
  // delivery of partition d.partition): if the partition is held by a retry
  // of another event, takes `d` (it is dispatched again, in order, when the
  // retry finishes) and returns true. Otherwise leaves `d` and returns false.
  bool Park(Delivery& d);

  // A delivery of `partition` finished; `finished` is its event, `in_window`
  // whether it held the partition's actor window. `reroute`:
  // the event came back from a member that stopped; it is routed again
  // ahead of held events. Events that can no longer be routed (no members)
  // go to `orphans`.
  void Done(int partition, const EventRecord* finished, bool in_window,
            std::shared_ptr<const EventRecord> reroute,
            std::vector<std::shared_ptr<const EventRecord>>* orphans);

 private:
  struct Partition {
    std::shared_ptr<Subscription> owner;
    uint32_t in_flight = 0;  // admitted and unfinished (parked ones included)
    std::deque<std::shared_ptr<const EventRecord>> held;  // not yet admitted
    // Events waiting out a retry backoff (usually none or one; an actor
    // member may fail several before the first retry runs).
    std::vector<const EventRecord*> retrying;
    // Deliveries of actor members handed to a mailbox and unfinished: the
    // window, 0 or 1 (a paused member's resumed events bypass it).
    uint32_t sent = 0;
    // Admitted deliveries waiting for the window (actor members) or behind
    // a retry (callback members, see Park()), in publication order.
    std::deque<Delivery> parked;
  };

  int PartitionOf(const EventRecord& event) const noexcept;
  bool IsMember(const Subscription* s) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::shared_ptr<Subscription> Assigned(int partition) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Admits `event` to the partition's owner and sends or parks it (the
  // window). `force`: skip the overflow policy.
  OfferResult OfferToOwner(int partition, const std::shared_ptr<const EventRecord>& event,
                           bool force) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Hands `d` to its subscriber, or parks it while the actor window is full.
  void Send(Partition& part, Delivery d) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Sends parked deliveries while no retry holds the partition and the
  // window allows.
  void Release(Partition& part) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Sends the partition's held events to its (new) owner while nothing of
  // it is in flight or the owner is a member, unless a retry holds it.
  void Flush(int partition, std::vector<std::shared_ptr<const EventRecord>>* orphans)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string pattern_;
  const std::string name_;
  const GroupMode mode_;
  const TypeTag* const payload_type_;
  const EventFilter filter_;

  mutable Mutex mu_;
  std::vector<std::shared_ptr<Subscription>> members_ ABSL_GUARDED_BY(mu_);  // join order
  uint64_t next_ ABSL_GUARDED_BY(mu_) = 0;  // round-robin cursor
  std::vector<Partition> partitions_ ABSL_GUARDED_BY(mu_);
};

}  // namespace engram::internal

#endif  // ENGRAM_BUS_INTERNAL_CONSUMER_GROUP_H_
