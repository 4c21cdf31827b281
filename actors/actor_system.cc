#include "engram/actors/actor_system.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "actors/internal/actor_cell.h"
#include "actors/internal/actor_registry.h"
#include "actors/internal/dead_letter_office.h"
#include "runtime/internal/dedicated_thread_executor.h"
#include "runtime/internal/scheduler.h"
#include "runtime/internal/timer_thread.h"

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
      budget_(scheduler_->budget()),
      office_(new internal::DeadLetterOffice()),
      registry_(std::make_unique<internal::ActorRegistry>(this)) {}

ActorSystem::ActorSystem(DeterministicScheduler& scheduler)
    : deterministic_(&scheduler),
      executor_(&scheduler),
      timers_(&scheduler),
      budget_(1),
      office_(new internal::DeadLetterOffice()),
      registry_(std::make_unique<internal::ActorRegistry>(this)) {}

ActorSystem::~ActorSystem() {
  Shutdown();
  office_->Unref();
}

WorkerPool* ActorSystem::scheduler() { return scheduler_.get(); }

ActorRef ActorSystem::SpawnCell(internal::ActorCell* parent, SpawnOptions options,
                                internal::ActorFactory factory) {
  if (registry_->closed()) return ActorRef();
  Executor* executor = executor_;
  std::unique_ptr<DedicatedThreadExecutor> dedicated;
  if (options.dedicated_thread && scheduler_ != nullptr) {
    dedicated = std::make_unique<DedicatedThreadExecutor>(budget_);
    executor = dedicated.get();
  }
  const uint64_t id = next_id_.fetch_add(1, std::memory_order_relaxed) + 1;
  auto* cell = new internal::ActorCell(registry_.get(), office_, executor, id,
                                       std::move(options), std::move(factory));
  // The mailbox leaves its initial "blocked" state before the constructor
  // runs: the spawner schedules the first turn itself (below), so a message
  // sent during construction (the constructor sending to self(), or to a
  // ref it handed out) must only queue. Were the mailbox still blocked, that
  // send would schedule the half-built cell and this spawner would schedule
  // it a second time (defect 6: a lost message and a worker spinning in
  // RunTurn on a mailbox left "blocked" while it ran).
  cell->StartScheduled();
  try {
    cell->Construct();
  } catch (...) {
    cell->Unref();  // the mailbox's destructor frees what was sent meanwhile
    throw;
  }
  ActorRef ref = cell->self();
  registry_->Add(cell, parent);
  if (dedicated) {
    MutexLock lock(&dedicated_mu_);
    // Reap the threads of dedicated actors that have stopped.
    dedicated_.erase(std::remove_if(dedicated_.begin(), dedicated_.end(),
                                    [](const auto& d) { return d->finished(); }),
                     dedicated_.end());
    dedicated_.push_back(std::move(dedicated));
  }
  executor->Schedule(cell);  // the first turn runs OnStart()
  return ref;
}

bool ActorSystem::AwaitStopped(const ActorRef& ref, absl::Duration timeout) {
  return registry_->AwaitStopped(internal::ActorRefAccess::Cell(ref), timeout);
}

size_t ActorSystem::live_actors() const { return registry_->live_count(); }

uint64_t ActorSystem::dead_letters() const { return office_->dead_letters(); }
uint64_t ActorSystem::dropped() const { return office_->dropped(); }
uint64_t ActorSystem::rejected() const { return office_->rejected(); }
uint64_t ActorSystem::unhandled_failures() const {
  return registry_->unhandled_failures();
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
  internal::Deliver(internal::ActorRefAccess::Cell(to), request.release());
  return state;
}

void ActorSystem::SetDeadLetterHook(absl::AnyInvocable<void(const DeadLetter&)> hook) {
  office_->SetHook(std::move(hook));
}

void ActorSystem::SetFailureHook(
    absl::AnyInvocable<void(const ActorRef&, const absl::Status&)> hook) {
  registry_->SetFailureHook(std::move(hook));
}

void ActorSystem::Shutdown() {
  if (!registry_->Close()) return;
  if (timer_thread_) timer_thread_->Shutdown();
  if (scheduler_) scheduler_->Shutdown();
  std::vector<std::unique_ptr<DedicatedThreadExecutor>> dedicated;
  {
    MutexLock lock(&dedicated_mu_);
    dedicated.swap(dedicated_);
  }
  for (auto& d : dedicated) d->Shutdown();
  // No thread runs actors any more: stop what is left, here.
  const absl::Status reason = absl::CancelledError("actor system shut down");
  for (ActorRef next = registry_->AnyLive(); next; next = registry_->AnyLive()) {
    internal::ActorRefAccess::Cell(next)->TerminateNow(reason);
  }
}

}  // namespace engram
