#ifndef ENGRAM_BUS_INTERNAL_CONSUMER_GROUP_H_
#define ENGRAM_BUS_INTERNAL_CONSUMER_GROUP_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "engram/actors/type_tag.h"
#include "engram/base/internal/mutex.h"
#include "engram/bus/event.h"
#include "engram/bus/internal/subscription.h"
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
// leaves (a retried event is the exception: it is re-delivered after its
// backoff, behind later events of its key).
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

  // A delivery of `partition` finished. `reroute`: the event came back
  // from a member that stopped; it is routed again ahead of held events.
  // Events that can no longer be routed (no members) go to `orphans`.
  void Done(int partition, std::shared_ptr<const EventRecord> reroute,
            std::vector<std::shared_ptr<const EventRecord>>* orphans);

 private:
  struct Partition {
    std::shared_ptr<Subscription> owner;
    uint32_t in_flight = 0;
    std::deque<std::shared_ptr<const EventRecord>> held;
  };

  int PartitionOf(const EventRecord& event) const noexcept;
  bool IsMember(const Subscription* s) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::shared_ptr<Subscription> Assigned(int partition) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Sends the partition's held events to its (new) owner while nothing of
  // it is in flight or the owner is a member.
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
