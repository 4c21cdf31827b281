#ifndef ENGRAM_ACTORS_INTERNAL_ACTOR_REGISTRY_H_
#define ENGRAM_ACTORS_INTERNAL_ACTOR_REGISTRY_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "engram/actors/actor_ref.h"
#include "engram/base/internal/mutex.h"

namespace engram {

class ActorSystem;

namespace internal {

class ActorCell;

// Stands for "the registry links of cells" in clang's thread-safety
// analysis, which cannot name the mutex of the registry a Node belongs to
// from inside the Node. ActorRegistry::Lock acquires it together with the
// registry's mutex, so the analysis checks that every Node field is touched
// with a registry lock held. It is no lock itself and has no state. (It
// does not tell registries apart: a Node is only ever reached through the
// registry of its own system, by the ActorRegistry methods below.)
class ABSL_LOCKABLE RegistryLinks {};
inline RegistryLinks registry_links;

// The registry of one ActorSystem: which actors are live, the supervision
// tree (each actor's parent and children), who watches whom, whether the
// system still accepts new actors, and what happens to a failure that
// escalates past the top of the tree.
//
// Storage: the per-actor part (Node) is embedded in each ActorCell, so a
// spawn or a stop costs a few pointer writes under the mutex and no
// allocation; only ActorRegistry reads or writes a Node's fields.
//
// Ownership: the ActorSystem owns its registry. The live list and the child
// lists hold plain pointers: a cell is in them from Add() to Remove(), a
// span during which the system's own reference keeps it alive. A Node
// holds a reference (ActorRef) to its parent cell and to each watcher.
//
// Thread-safety: every method from any thread. mu_ guards the registry's
// fields and, through registry_links, every Node.
class ActorRegistry {
 public:
  // One cell's links. Opaque to the cell that embeds it.
  class Node {
   public:
    Node() = default;
    Node(const Node&) = delete;
    Node& operator=(const Node&) = delete;

   private:
    friend class ActorRegistry;
    ActorCell* live_prev ABSL_GUARDED_BY(registry_links) = nullptr;
    ActorCell* live_next ABSL_GUARDED_BY(registry_links) = nullptr;
    ActorRef parent ABSL_GUARDED_BY(registry_links);  // empty: top level
    ActorCell* first_child ABSL_GUARDED_BY(registry_links) = nullptr;
    ActorCell* prev_sibling ABSL_GUARDED_BY(registry_links) = nullptr;
    ActorCell* next_sibling ABSL_GUARDED_BY(registry_links) = nullptr;
    std::unique_ptr<std::vector<ActorRef>> watchers
        ABSL_GUARDED_BY(registry_links);
    // Set once, by Remove(); AwaitStopped() and AddWatcher() read them.
    bool terminated ABSL_GUARDED_BY(registry_links) = false;
    absl::Status final_reason ABSL_GUARDED_BY(registry_links);
  };

  // What a removed cell must notify.
  struct Unlinked {
    std::vector<ActorRef> children;
    std::vector<ActorRef> watchers;
    ActorRef parent;
  };

  // `system` is the owner, handed to cells that ask (ActorCell::system()).
  explicit ActorRegistry(ActorSystem* system) : system_(system) {}
  ActorRegistry(const ActorRegistry&) = delete;
  ActorRegistry& operator=(const ActorRegistry&) = delete;

  ActorSystem* system() const noexcept { return system_; }

  // Adds a constructed cell to the live actors, as a child of `parent`
  // (null: a top-level actor).
  void Add(ActorCell* cell, ActorCell* parent);
  // Removes a terminating cell: it counts as stopped with `reason` from now
  // on (AwaitStopped() returns, new watchers get NOT_FOUND at once). Returns
  // its children, watchers and parent for the cell to notify.
  Unlinked Remove(ActorCell* cell, const absl::Status& reason);
  // The children of `cell` now (refs, so they stay valid).
  std::vector<ActorRef> ChildrenOf(ActorCell* cell);

  // Makes `watcher` get a Down when `target` stops; if it has stopped (or
  // `target` is null, an empty ref), sends `watcher` a NOT_FOUND Down now.
  void AddWatcher(ActorCell* target, ActorCell* watcher);
  void RemoveWatcher(ActorCell* target, ActorCell* watcher);

  // Waits until `cell` was removed; false on timeout.
  bool AwaitStopped(ActorCell* cell, absl::Duration timeout);
  size_t live_count() const;
  // A ref to some live actor, or an empty ref if none is left.
  ActorRef AnyLive();

  // Shutdown has begun: no new actors, and cells stop scheduling themselves.
  // Returns true the first time.
  bool Close() noexcept {
    return !closed_.exchange(true, std::memory_order_acq_rel);
  }
  bool closed() const noexcept {
    return closed_.load(std::memory_order_acquire);
  }

  // A failure escalated by a top-level actor: counted, then handed to the
  // failure hook.
  void EscalateToRoot(const ActorRef& actor, const absl::Status& reason);
  void SetFailureHook(
      absl::AnyInvocable<void(const ActorRef&, const absl::Status&)> hook);
  uint64_t unhandled_failures() const noexcept {
    return unhandled_failures_.load(std::memory_order_relaxed);
  }

 private:
  // Holds mu_ and, for the analysis, registry_links.
  class ABSL_SCOPED_LOCKABLE Lock {
   public:
    explicit Lock(const ActorRegistry* r)
        ABSL_EXCLUSIVE_LOCK_FUNCTION(r->mu_, registry_links)
        : mu_(&r->mu_) {
      mu_->Lock();
    }
    ~Lock() ABSL_UNLOCK_FUNCTION() { mu_->Unlock(); }
    Lock(const Lock&) = delete;
    Lock& operator=(const Lock&) = delete;

   private:
    Mutex* const mu_;
  };

  static Node& NodeOf(ActorCell* cell) noexcept;
  // Refs to the children of `cell`, newest first.
  std::vector<ActorRef> ChildrenLocked(ActorCell* cell)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_, registry_links);

  ActorSystem* const system_;

  mutable Mutex mu_;
  CondVar stopped_cv_;  // signalled whenever a cell is removed
  ActorCell* live_head_ ABSL_GUARDED_BY(mu_) = nullptr;
  size_t live_count_ ABSL_GUARDED_BY(mu_) = 0;

  // Writer: Close() (acq_rel exchange, once); readers: spawns and cells
  // about to schedule themselves (acquire).
  std::atomic<bool> closed_{false};
  // Counter; relaxed: it orders nothing.
  std::atomic<uint64_t> unhandled_failures_{0};
  Mutex hook_mu_;
  absl::AnyInvocable<void(const ActorRef&, const absl::Status&)> failure_hook_
      ABSL_GUARDED_BY(hook_mu_);
};

}  // namespace internal
}  // namespace engram

#endif  // ENGRAM_ACTORS_INTERNAL_ACTOR_REGISTRY_H_
