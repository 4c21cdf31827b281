#include "engram/actors/actor_ref.h"

#include "actors/internal/actor_cell.h"

namespace engram {

void ActorRef::Stop(absl::Status reason) const {
  if (cell_) cell_->RequestStop(std::move(reason));
}

bool ActorRef::alive() const noexcept { return cell_ && cell_->alive(); }

uint64_t ActorRef::id() const noexcept { return cell_ ? cell_->id() : 0; }

std::string ActorRef::name() const {
  return cell_ ? cell_->name() : std::string("<empty ref>");
}

}  // namespace engram
