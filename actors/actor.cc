#include "engram/actors/actor.h"

#include <cstdio>
#include <cstdlib>

#include "engram/actors/actor_system.h"

namespace engram {

Actor::Actor() : cell_(internal::ActorCell::Constructing()) {
  if (cell_ == nullptr) {
    std::fprintf(stderr,
                 "engram: an Actor was constructed outside ActorSystem::Spawn; "
                 "spawn actors with system.Spawn<T>() or Spawn<T>() in an actor\n");
    std::abort();
  }
}

Actor::~Actor() = default;

void Actor::AddHandler(const TypeTag* type,
                       std::unique_ptr<internal::HandlerBase> h) {
  for (HandlerEntry& e : handlers_) {
    if (e.type == type) {
      e.handler = std::move(h);
      return;
    }
  }
  handlers_.push_back({type, std::move(h)});
}

absl::Time Actor::Now() const { return cell_->system()->clock().Now(); }

void Actor::Monitor(const ActorRef& other) {
  cell_->system()->AddWatcher(other.cell(), cell_);
}

void Actor::Demonitor(const ActorRef& other) {
  cell_->system()->RemoveWatcher(other.cell(), cell_);
}

bool Actor::CancelTimer(TimerId id) { return cell_->system()->CancelTimer(id); }

}  // namespace engram
