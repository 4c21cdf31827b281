#include "engram/actors/actor.h"

#include "actors/internal/actor_cell.h"
#include "engram/actors/actor_system.h"
#include "engram/base/log.h"

namespace engram {
namespace {

internal::ActorCell* CellBeingConstructed() noexcept {
  internal::ActorCell* cell = internal::ActorCell::Constructing();
  if (cell == nullptr) {
    // A programming error that no status can report: the object has no
    // cell to run on. Log() aborts after the sink returns.
    Log(LogSeverity::kFatal,
        "an Actor was constructed outside ActorSystem::Spawn; spawn actors "
        "with system.Spawn<T>() or Spawn<T>() in an actor");
  }
  return cell;
}

}  // namespace

Actor::Actor() : cell_(CellBeingConstructed()) {}

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

ActorRef Actor::self() const { return cell_->self(); }

ActorSystem& Actor::system() const { return *cell_->system(); }

absl::Time Actor::Now() const { return cell_->system()->clock().Now(); }

void Actor::Stop(absl::Status reason) { cell_->StopSelf(std::move(reason)); }

void Actor::Monitor(const ActorRef& other) { cell_->Monitor(other); }

void Actor::Demonitor(const ActorRef& other) { cell_->Demonitor(other); }

void Actor::StartRequest(const ActorRef& to, std::unique_ptr<Envelope> request,
                         const TypeTag* expected, absl::Duration timeout,
                         internal::RequestCallback callback) {
  cell_->StartRequest(to, std::move(request), expected, timeout,
                      std::move(callback));
}

std::unique_ptr<ReplyTarget> Actor::TakeCurrentReply() {
  return cell_->TakeCurrentReply();
}

bool Actor::CancelTimer(TimerId id) { return cell_->system()->CancelTimer(id); }

}  // namespace engram
