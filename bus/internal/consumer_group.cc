#include "bus/internal/consumer_group.h"

#include <algorithm>
#include <utility>

#include "absl/hash/hash.h"
#include "absl/strings/string_view.h"

namespace engram::internal {

bool PassesFilter(const EventFilter& filter, const TypeTag* payload_type,
                  const EventRecord& event) noexcept;

ConsumerGroup::ConsumerGroup(std::string pattern, std::string name, GroupMode mode,
                             const TypeTag* payload_type, EventFilter filter)
    : pattern_(std::move(pattern)),
      name_(std::move(name)),
      mode_(mode),
      payload_type_(payload_type),
      filter_(std::move(filter)) {
  const int n = mode_ == GroupMode::kKeyHash     ? kKeyPartitions
                : mode_ == GroupMode::kExclusive ? 1
                                                 : 0;
  MutexLock lock(&mu_);
  partitions_ = std::vector<Partition>(static_cast<size_t>(n));  // no moves: Partition is move-only
}

bool ConsumerGroup::Accepts(const EventRecord& event) const noexcept {
  return PassesFilter(filter_, payload_type_, event);
}

void ConsumerGroup::AddMember(std::shared_ptr<Subscription> member) {
  MutexLock lock(&mu_);
  members_.push_back(std::move(member));
}

size_t ConsumerGroup::member_count() const {
  MutexLock lock(&mu_);
  return members_.size();
}

bool ConsumerGroup::IsMember(const Subscription* s) const {
  for (const auto& m : members_) {
    if (m.get() == s) return true;
  }
  return false;
}

std::shared_ptr<Subscription> ConsumerGroup::Assigned(int partition) const {
  if (mode_ == GroupMode::kExclusive) return members_.front();
  return members_[static_cast<size_t>(partition) % members_.size()];
}

int ConsumerGroup::PartitionOf(const EventRecord& event) const noexcept {
  if (mode_ == GroupMode::kExclusive) return 0;
  const std::string& key = *event.attributes.partition_key;
  const size_t h = absl::Hash<absl::string_view>()(absl::string_view(key));
  return static_cast<int>(h % kKeyPartitions);
}

bool ConsumerGroup::RemoveMember(const Subscription* member,
                                 std::vector<std::shared_ptr<const EventRecord>>* orphans) {
  DispatchScope scope;
  MutexLock lock(&mu_);
  members_.erase(std::remove_if(members_.begin(), members_.end(),
                                [&](const auto& m) { return m.get() == member; }),
                 members_.end());
  for (size_t p = 0; p < partitions_.size(); ++p) Flush(static_cast<int>(p), orphans);
  return members_.empty();
}

OfferResult ConsumerGroup::Offer(const std::shared_ptr<const EventRecord>& event) {
  if (mode_ == GroupMode::kRoundRobin ||
      (mode_ == GroupMode::kKeyHash && !event->attributes.partition_key.has_value())) {
    for (size_t tries = 0;; ++tries) {
      std::shared_ptr<Subscription> m;
      {
        MutexLock lock(&mu_);
        if (members_.empty() || tries >= members_.size()) return OfferResult::kClosed;
        m = members_[next_++ % members_.size()];
      }
      const OfferResult r = m->Offer(event, shared_from_this(), -1, /*force=*/false);
      if (r != OfferResult::kClosed) return r;
    }
  }
  const int p = PartitionOf(*event);
  MutexLock lock(&mu_);
  if (members_.empty()) return OfferResult::kClosed;
  Partition& part = partitions_[p];
  if ((part.in_flight > 0 && !IsMember(part.owner.get())) || !part.retrying.empty()) {
    // The owner left with events of this partition still in flight, or one
    // of them waits out a retry: hold this one until they finish, so it
    // cannot overtake them.
    part.held.push_back(event);
    return OfferResult::kAccepted;
  }
  if (part.in_flight == 0) part.owner = Assigned(p);
  return OfferToOwner(p, event, /*force=*/false);
}

OfferResult ConsumerGroup::OfferToOwner(int partition,
                                        const std::shared_ptr<const EventRecord>& event,
                                        bool force) {
  Partition& part = partitions_[partition];
  std::optional<Delivery> d;
  const OfferResult r = part.owner->Offer(event, shared_from_this(), partition, force, &d);
  if (r != OfferResult::kAccepted) return r;
  ++part.in_flight;
  if (d.has_value()) Send(part, std::move(*d));  // else held by a paused owner
  return r;
}

void ConsumerGroup::Send(Partition& part, Delivery d) {
  if (d.sub->kind() == Subscription::Kind::kActor) {
    if (part.sent > 0 || !part.parked.empty()) {
      part.parked.push_back(std::move(d));
      return;
    }
    ++part.sent;
    d.in_window = true;
  }
  std::shared_ptr<Subscription> sub = d.sub;
  sub->Dispatch(std::move(d));
}

void ConsumerGroup::Release(Partition& part) {
  if (!part.retrying.empty()) return;
  while (!part.parked.empty()) {
    if (part.parked.front().sub->kind() == Subscription::Kind::kActor && part.sent > 0) return;
    Delivery d = std::move(part.parked.front());
    part.parked.pop_front();
    if (d.sub->kind() == Subscription::Kind::kActor) {
      ++part.sent;
      d.in_window = true;
    }
    std::shared_ptr<Subscription> sub = d.sub;
    sub->Dispatch(std::move(d));
  }
}

void ConsumerGroup::HoldForRetry(int partition, const EventRecord* event) {
  if (partition < 0) return;
  MutexLock lock(&mu_);
  partitions_[partition].retrying.push_back(event);
}

bool ConsumerGroup::Park(Delivery& d) {
  if (d.partition < 0) return false;
  MutexLock lock(&mu_);
  Partition& part = partitions_[d.partition];
  if (part.retrying.empty()) return false;
  if (std::find(part.retrying.begin(), part.retrying.end(), d.event.get()) !=
      part.retrying.end()) {
    return false;  // the retry itself
  }
  part.parked.push_back(std::move(d));
  return true;
}

void ConsumerGroup::Done(int partition, const EventRecord* finished, bool in_window,
                         std::shared_ptr<const EventRecord> reroute,
                         std::vector<std::shared_ptr<const EventRecord>>* orphans) {
  if (partition < 0) return;
  DispatchScope scope;
  MutexLock lock(&mu_);
  Partition& part = partitions_[partition];
  if (part.in_flight > 0) --part.in_flight;
  if (in_window && part.sent > 0) --part.sent;
  auto r = std::find(part.retrying.begin(), part.retrying.end(), finished);
  if (r != part.retrying.end()) part.retrying.erase(r);
  // The deliveries that waited (behind the retry, or for the window) go
  // out first: they were admitted before anything held.
  Release(part);
  if (reroute) {
    // Back in publication order among the held events (several can come
    // back from a stopped member, each in its own completion).
    auto pos = part.held.begin();
    while (pos != part.held.end() &&
           (*pos)->attributes.sequence < reroute->attributes.sequence) {
      ++pos;
    }
    part.held.insert(pos, std::move(reroute));
  }
  Flush(partition, orphans);
}

void ConsumerGroup::Flush(int partition,
                          std::vector<std::shared_ptr<const EventRecord>>* orphans) {
  Partition& part = partitions_[partition];
  if (part.held.empty() || !part.retrying.empty()) return;
  const bool owner_here = part.owner && IsMember(part.owner.get());
  if (part.in_flight > 0 && !owner_here) return;  // wait for the departed owner
  if (members_.empty()) {
    for (auto& e : part.held) orphans->push_back(std::move(e));
    part.held.clear();
    return;
  }
  if (part.in_flight == 0) part.owner = Assigned(partition);
  while (!part.held.empty()) {
    std::shared_ptr<const EventRecord> e = std::move(part.held.front());
    part.held.pop_front();
    // Forced: these events were admitted to the group already; blocking
    // here (possibly on a consumer's thread) could deadlock.
    if (OfferToOwner(partition, e, /*force=*/true) != OfferResult::kAccepted) {
      orphans->push_back(std::move(e));
    }
  }
}

}  // namespace engram::internal
