#include "engram/bus/event_bus.h"

#include "engram/actors/actor_system.h"

namespace engram {

EventBus::EventBus(ActorSystem& system, std::string name)
    : core_(std::make_shared<internal::BusCore>(system, std::move(name))) {}

EventBus::~EventBus() { core_->UnsubscribeAll(); }

}  // namespace engram
