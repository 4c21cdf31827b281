#include "engram/bus/event_bus.h"

#include "bus/internal/bus_core.h"
#include "engram/actors/actor_system.h"

namespace engram {

EventBus::EventBus(ActorSystem& system, std::string name)
    : core_(std::make_shared<internal::BusCore>(system, std::move(name))) {}

EventBus::~EventBus() { core_->UnsubscribeAll(); }

absl::StatusOr<PublishReceipt> EventBus::PublishRecord(
    std::string_view topic, std::shared_ptr<internal::EventRecord>&& record,
    PublishOptions&& options) {
  return core_->Publish(topic, std::move(record), std::move(options));
}

absl::StatusOr<SubscriptionId> EventBus::SubscribeCallback(std::string_view pattern,
                                                           SubscriptionOptions options,
                                                           const TypeTag* payload_type,
                                                           internal::EventCallback callback) {
  return core_->Subscribe(pattern, std::move(options), payload_type,
                          internal::Subscription::Kind::kCallback, ActorRef(),
                          std::move(callback));
}

absl::StatusOr<SubscriptionId> EventBus::SubscribeActorRef(std::string_view pattern,
                                                           SubscriptionOptions options,
                                                           const TypeTag* payload_type,
                                                           const ActorRef& actor) {
  return core_->Subscribe(pattern, std::move(options), payload_type,
                          internal::Subscription::Kind::kActor, actor, nullptr);
}

absl::Status EventBus::Unsubscribe(SubscriptionId id) { return core_->Unsubscribe(id); }
absl::Status EventBus::Pause(SubscriptionId id) { return core_->Pause(id); }
absl::Status EventBus::Resume(SubscriptionId id) { return core_->Resume(id); }
absl::StatusOr<SubscriptionStats> EventBus::Stats(SubscriptionId id) const {
  return core_->Stats(id);
}
BusStats EventBus::stats() const { return core_->stats(); }
const std::string& EventBus::name() const { return core_->name(); }

}  // namespace engram
