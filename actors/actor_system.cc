#include "engram/actors/actor_system.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "engram/actors/internal/actor_cell.h"

namespace engram {
namespace {

// Answers an ask from outside the actor world through its AskState.
class AskReplyTarget final : public ReplyTarget {
 public:
  AskReplyTarget(const TypeTag* expected, const TypeTag* request_type,
                 std::shared_ptr<internal::AskState> state)
      : ReplyTarget(expected), request_type_(request_type), state_(std::move(state)) {}
  ~AskReplyTarget() override {
    if (!answered_) {
      state_->Complete(nullptr, absl::InternalError(absl::StrCat(
                                    "no reply: the handler for ", request_type_->name,
                                    " returned without answering the request")));
    }
  }
  void Deliver(std::unique_ptr<Envelope> value) override {
    answered_ = true;
    state_->Complete(std::move(value), absl::OkStatus());
  }
  void Fail(absl::Status status) override {
    answered_ = true;
    state_->Complete(nullptr, std::move(status));
  }

 private:
  const TypeTag* const request_type_;
  const std::shared_ptr<internal::AskState> state_;
  bool answered_ = false;
};

}  // namespace

namespace internal {
ActorRef SpawnActor(ActorSystem* system, ActorCell* parent, SpawnOptions options,
                    ActorFactory factory) {
  return system->SpawnCell(parent, std::move(options), std::move(factory));
}
}  // namespace internal

ActorSystem::ActorSystem(ActorSystemOptions options)
    : scheduler_(std::make_unique<Scheduler>(options.scheduler)),
      timer_thread_(std::make_unique<TimerThread>()),
      executor_(scheduler_.get()),
      timers_(timer_thread_.get()),
      budget_(scheduler_->budget()) {}

ActorSystem::ActorSystem(DeterministicScheduler& scheduler)
    : deterministic_(&scheduler), executor_(&scheduler), timers_(&scheduler), budget_(1) {}

ActorSystem::~ActorSystem() {
  Shutdown();
  office_->Unref();
}

ActorRef ActorSystem::SpawnCell(internal::ActorCell* parent, SpawnOptions options,
                                internal::ActorFactory factory) {
  if (shutting_down()) return ActorRef();
  Executor* executor = executor_;
  std::unique_ptr<DedicatedThreadExecutor> dedicated;
  if (options.dedicated_thread && scheduler_ != nullptr) {
    dedicated = std::make_unique<DedicatedThreadExecutor>(budget_);
    executor = dedicated.get();
  }
  const uint64_t id = next_id_.fetch_add(1, std::memory_order_relaxed) + 1;
  auto* cell = new internal::ActorCell(this, executor, id, std::move(options),
                                       std::move(factory));
  // The mailbox leaves its initial "blocked" state before the constructor
  // runs: the spawner schedules the first turn itself (below), so a message
  // sent during construction (the constructor sending to self(), or to a
  // ref it handed out) must only queue. Were the mailbox still blocked, that
  // send would schedule the half-built cell and this spawner would schedule
  // it a second time (defect 6: a lost message and a worker spinning in
  // RunTurn on a mailbox left "blocked" while it ran).
  cell->mailbox_.StartScheduled();
  try {
    cell->Construct();
  } catch (...) {
    cell->Unref();  // the mailbox's destructor frees what was sent meanwhile
    throw;
  }
  ActorRef ref = cell->self();
  {
    MutexLock lock(&mu_);
    cell->live_next_ = live_head_;
    if (live_head_ != nullptr) live_head_->live_prev_ = cell;
    live_head_ = cell;
    ++live_count_;
    if (parent != nullptr) {
      cell->parent_ = parent->self();
      cell->next_sibling_ = parent->first_child_;
      if (parent->first_child_ != nullptr) parent->first_child_->prev_sibling_ = cell;
      parent->first_child_ = cell;
    }
    if (dedicated) {
      // Reap the threads of dedicated actors that have stopped.
      dedicated_.erase(std::remove_if(dedicated_.begin(), dedicated_.end(),
                                      [](const auto& d) { return d->finished(); }),
                       dedicated_.end());
      dedicated_.push_back(std::move(dedicated));
    }
  }
  executor->Schedule(cell);  // the first turn runs OnStart()
  return ref;
}

ActorSystem::Unlinked ActorSystem::Unlink(internal::ActorCell* cell,
                                          const absl::Status& reason) {
  Unlinked out;
  MutexLock lock(&mu_);
  cell->terminated_ = true;
  cell->final_reason_ = reason;
  stopped_cv_.SignalAll();
  if (cell->live_prev_ != nullptr) {
    cell->live_prev_->live_next_ = cell->live_next_;
  } else {
    live_head_ = cell->live_next_;
  }
  if (cell->live_next_ != nullptr) cell->live_next_->live_prev_ = cell->live_prev_;
  cell->live_prev_ = cell->live_next_ = nullptr;
  --live_count_;
  if (internal::ActorCell* parent = cell->parent_.cell()) {
    if (cell->prev_sibling_ != nullptr) {
      cell->prev_sibling_->next_sibling_ = cell->next_sibling_;
    } else {
      parent->first_child_ = cell->next_sibling_;
    }
    if (cell->next_sibling_ != nullptr) {
      cell->next_sibling_->prev_sibling_ = cell->prev_sibling_;
    }
    cell->prev_sibling_ = cell->next_sibling_ = nullptr;
  }
  out.parent = std::move(cell->parent_);
  for (internal::ActorCell* c = cell->first_child_; c != nullptr; c = c->next_sibling_) {
    out.children.push_back(c->self());
  }
  if (cell->watchers_) {
    out.watchers = std::move(*cell->watchers_);
    cell->watchers_.reset();
  }
  return out;
}

std::vector<ActorRef> ActorSystem::ChildrenOf(internal::ActorCell* cell) {
  std::vector<ActorRef> children;
  MutexLock lock(&mu_);
  for (internal::ActorCell* c = cell->first_child_; c != nullptr; c = c->next_sibling_) {
    children.push_back(c->self());
  }
  return children;
}

void ActorSystem::AddWatcher(internal::ActorCell* target,
                             internal::ActorCell* watcher) {
  ActorRef target_ref;
  absl::Status reason;
  {
    MutexLock lock(&mu_);
    if (target != nullptr && !target->terminated_) {
      if (!target->watchers_) {
        target->watchers_ = std::make_unique<std::vector<ActorRef>>();
      }
      target->watchers_->push_back(watcher->self());
      return;
    }
    if (target != nullptr) {
      target_ref = target->self();
      reason = target->final_reason_;
    }
  }
  watcher->Enqueue(new TypedEnvelope<Down>(Down{
      target_ref,
      absl::NotFoundError(absl::StrCat(
          target_ref.name(), " is not running",
          target_ref ? absl::StrCat(" (it stopped: ", reason.ToString(), ")")
                     : std::string()))}));
}

void ActorSystem::RemoveWatcher(internal::ActorCell* target,
                                internal::ActorCell* watcher) {
  if (target == nullptr) return;
  MutexLock lock(&mu_);
  if (!target->watchers_) return;
  auto& w = *target->watchers_;
  w.erase(std::remove_if(w.begin(), w.end(),
                         [watcher](const ActorRef& r) { return r.cell() == watcher; }),
          w.end());
}

bool ActorSystem::AwaitStopped(const ActorRef& ref, absl::Duration timeout) {
  internal::ActorCell* cell = ref.cell();
  if (cell == nullptr) return true;
  const absl::Time deadline = timeout == absl::InfiniteDuration()
                                  ? absl::InfiniteFuture()
                                  : absl::Now() + timeout;
  MutexLock lock(&mu_);
  while (!cell->terminated_) {
    if (stopped_cv_.WaitWithDeadline(&mu_, deadline)) return cell->terminated_;
  }
  return true;
}

size_t ActorSystem::live_actors() const {
  MutexLock lock(&mu_);
  return live_count_;
}

std::shared_ptr<internal::AskState> ActorSystem::StartAsk(
    const ActorRef& to, std::unique_ptr<Envelope> request, const TypeTag* expected,
    absl::Duration timeout) {
  auto state = std::make_shared<internal::AskState>();
  const TypeTag* request_type = request->type();
  request->reply() = std::make_unique<AskReplyTarget>(expected, request_type, state);
  if (timeout != absl::InfiniteDuration()) {
    const TimerId id = timers_->Schedule(
        timeout, absl::ZeroDuration(),
        [state, message = absl::StrCat("ask ", request_type->name, " to ", to.name(),
                                       " timed out after ",
                                       absl::FormatDuration(timeout))] {
          state->Complete(nullptr, absl::DeadlineExceededError(message));
        });
    state->set_timer(timers_, id);
  }
  internal::Deliver(to.cell(), request.release());
  return state;
}

void ActorSystem::RecordUnhandledFailure(const ActorRef& actor,
                                         const absl::Status& reason) {
  unhandled_failures_.fetch_add(1, std::memory_order_relaxed);
  MutexLock lock(&hook_mu_);
  if (failure_hook_) failure_hook_(actor, reason);
}

void ActorSystem::SetDeadLetterHook(absl::AnyInvocable<void(const DeadLetter&)> hook) {
  office_->SetHook(std::move(hook));
}

void ActorSystem::SetFailureHook(
    absl::AnyInvocable<void(const ActorRef&, const absl::Status&)> hook) {
  MutexLock lock(&hook_mu_);
  failure_hook_ = std::move(hook);
}

void ActorSystem::Shutdown() {
  if (shutting_down_.exchange(true, std::memory_order_acq_rel)) return;
  if (timer_thread_) timer_thread_->Shutdown();
  if (scheduler_) scheduler_->Shutdown();
  std::vector<std::unique_ptr<DedicatedThreadExecutor>> dedicated;
  {
    MutexLock lock(&mu_);
    dedicated.swap(dedicated_);
  }
  for (auto& d : dedicated) d->Shutdown();
  // No thread runs actors any more: stop what is left, here.
  const absl::Status reason = absl::CancelledError("actor system shut down");
  for (;;) {
    ActorRef next;
    {
      MutexLock lock(&mu_);
      if (live_head_ == nullptr) break;
      next = live_head_->self();
    }
    next.cell()->TerminateNow(reason);
  }
}

}  // namespace engram
