#include "actors/internal/actor_registry.h"

#include <algorithm>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "actors/internal/actor_cell.h"
#include "engram/actors/messages.h"

namespace engram::internal {

ActorRegistry::Node& ActorRegistry::NodeOf(ActorCell* cell) noexcept {
  return cell->registry_node();
}

void ActorRegistry::Add(ActorCell* cell, ActorCell* parent) {
  Lock lock(this);
  Node& n = NodeOf(cell);
  n.live_next = live_head_;
  if (live_head_ != nullptr) NodeOf(live_head_).live_prev = cell;
  live_head_ = cell;
  ++live_count_;
  if (parent != nullptr) {
    Node& p = NodeOf(parent);
    n.parent = parent->self();
    n.next_sibling = p.first_child;
    if (p.first_child != nullptr) NodeOf(p.first_child).prev_sibling = cell;
    p.first_child = cell;
  }
}

ActorRegistry::Unlinked ActorRegistry::Remove(ActorCell* cell,
                                              const absl::Status& reason) {
  Unlinked out;
  Lock lock(this);
  Node& n = NodeOf(cell);
  n.terminated = true;
  n.final_reason = reason;
  stopped_cv_.SignalAll();
  if (n.live_prev != nullptr) {
    NodeOf(n.live_prev).live_next = n.live_next;
  } else {
    live_head_ = n.live_next;
  }
  if (n.live_next != nullptr) NodeOf(n.live_next).live_prev = n.live_prev;
  n.live_prev = n.live_next = nullptr;
  --live_count_;
  if (ActorCell* parent = ActorRefAccess::Cell(n.parent)) {
    if (n.prev_sibling != nullptr) {
      NodeOf(n.prev_sibling).next_sibling = n.next_sibling;
    } else {
      NodeOf(parent).first_child = n.next_sibling;
    }
    if (n.next_sibling != nullptr) {
      NodeOf(n.next_sibling).prev_sibling = n.prev_sibling;
    }
    n.prev_sibling = n.next_sibling = nullptr;
  }
  out.parent = std::move(n.parent);
  out.children = ChildrenLocked(cell);
  if (n.watchers) {
    out.watchers = std::move(*n.watchers);
    n.watchers.reset();
  }
  return out;
}

std::vector<ActorRef> ActorRegistry::ChildrenLocked(ActorCell* cell) {
  std::vector<ActorRef> children;
  for (ActorCell* c = NodeOf(cell).first_child; c != nullptr;
       c = NodeOf(c).next_sibling) {
    children.push_back(c->self());
  }
  return children;
}

std::vector<ActorRef> ActorRegistry::ChildrenOf(ActorCell* cell) {
  Lock lock(this);
  return ChildrenLocked(cell);
}

void ActorRegistry::AddWatcher(ActorCell* target, ActorCell* watcher) {
  ActorRef target_ref;
  absl::Status reason;
  {
    Lock lock(this);
    if (target != nullptr) {
      Node& t = NodeOf(target);
      if (!t.terminated) {
        if (!t.watchers) t.watchers = std::make_unique<std::vector<ActorRef>>();
        t.watchers->push_back(watcher->self());
        return;
      }
      target_ref = target->self();
      reason = t.final_reason;
    }
  }
  watcher->Enqueue(new TypedEnvelope<Down>(Down{
      target_ref,
      absl::NotFoundError(absl::StrCat(
          target_ref.name(), " is not running",
          target_ref ? absl::StrCat(" (it stopped: ", reason.ToString(), ")")
                     : std::string()))}));
}

void ActorRegistry::RemoveWatcher(ActorCell* target, ActorCell* watcher) {
  if (target == nullptr) return;
  Lock lock(this);
  Node& t = NodeOf(target);
  if (!t.watchers) return;
  auto& w = *t.watchers;
  w.erase(std::remove_if(w.begin(), w.end(),
                         [watcher](const ActorRef& r) {
                           return ActorRefAccess::Cell(r) == watcher;
                         }),
          w.end());
}

bool ActorRegistry::AwaitStopped(ActorCell* cell, absl::Duration timeout) {
  if (cell == nullptr) return true;
  const absl::Time deadline = timeout == absl::InfiniteDuration()
                                  ? absl::InfiniteFuture()
                                  : absl::Now() + timeout;
  Lock lock(this);
  Node& n = NodeOf(cell);
  while (!n.terminated) {
    if (stopped_cv_.WaitWithDeadline(&mu_, deadline)) return n.terminated;
  }
  return true;
}

size_t ActorRegistry::live_count() const {
  Lock lock(this);
  return live_count_;
}

ActorRef ActorRegistry::AnyLive() {
  Lock lock(this);
  return live_head_ != nullptr ? live_head_->self() : ActorRef();
}

void ActorRegistry::EscalateToRoot(const ActorRef& actor,
                                   const absl::Status& reason) {
  unhandled_failures_.fetch_add(1, std::memory_order_relaxed);
  MutexLock lock(&hook_mu_);
  if (failure_hook_) failure_hook_(actor, reason);
}

void ActorRegistry::SetFailureHook(
    absl::AnyInvocable<void(const ActorRef&, const absl::Status&)> hook) {
  MutexLock lock(&hook_mu_);
  failure_hook_ = std::move(hook);
}

}  // namespace engram::internal
