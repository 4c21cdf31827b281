#include "actors/internal/actor_cell.h"

#include <exception>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "engram/actors/actor.h"
#include "engram/actors/actor_system.h"
#include "engram/actors/messages.h"

namespace engram::internal {
namespace {

thread_local ActorCell* tls_constructing = nullptr;

// Answers an actor-to-actor request by sending a Response into the
// requester's mailbox; destroyed unanswered, it answers with an error.
class ActorReplyTarget final : public ReplyTarget {
 public:
  ActorReplyTarget(const TypeTag* expected, const TypeTag* request_type,
                   ActorRef requester, uint64_t id)
      : ReplyTarget(expected),
        request_type_(request_type),
        requester_(std::move(requester)),
        id_(id) {}
  ~ActorReplyTarget() override {
    if (!answered_) {
      Answer(nullptr, absl::InternalError(absl::StrCat(
                          "no reply: the handler for ", request_type_->name,
                          " returned without answering the request")));
    }
  }
  void Deliver(std::unique_ptr<Envelope> value) override {
    Answer(std::move(value), absl::OkStatus());
  }
  void Fail(absl::Status status) override { Answer(nullptr, std::move(status)); }

 private:
  void Answer(std::unique_ptr<Envelope> value, absl::Status status) {
    if (answered_) return;
    answered_ = true;
    ActorRefAccess::Cell(requester_)->EnqueueSystem(new TypedEnvelope<Response>(
        Response{id_, std::move(value), std::move(status)}));
  }

  const TypeTag* const request_type_;
  const ActorRef requester_;
  const uint64_t id_;
  bool answered_ = false;
};

absl::Status CurrentExceptionStatus(const std::string& where) {
  try {
    throw;
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat(where, " threw: ", e.what()));
  } catch (...) {
    return absl::UnknownError(absl::StrCat(where, " threw a non-standard exception"));
  }
}

bool IsInternalType(const TypeTag* t) {
  return t == TypeOf<Response>() || t == TypeOf<RequestTimeout>() ||
         t == TypeOf<StopSignal>() || t == TypeOf<ChildFailed>();
}

}  // namespace

void RefCell(ActorCell* cell) noexcept { cell->Ref(); }
void UnrefCell(ActorCell* cell) noexcept { cell->Unref(); }

SendResult Deliver(ActorCell* cell, Envelope* e) noexcept {
  if (cell == nullptr) {
    if (e->reply()) {
      e->reply()->Fail(absl::FailedPreconditionError(absl::StrCat(
          "request ", e->type()->name, " sent to an empty ActorRef")));
    }
    delete e;
    return SendResult::kDeadLetter;
  }
  return cell->Enqueue(e);
}

ActorCell* ActorCell::Constructing() noexcept { return tls_constructing; }

ActorCell::ActorCell(ActorRegistry* registry, DeadLetterOffice* office,
                     Executor* executor, uint64_t id, SpawnOptions&& options,
                     ActorFactory factory)
    : registry_(registry),
      office_(office),
      executor_(executor),
      id_(id),
      factory_(std::move(factory)),
      options_(std::move(options)) {
  office_->Ref();
  if (options_.mailbox_capacity > 0) {
    bounded_ = std::make_unique<BoundedState>(
        options_.mailbox_capacity, options_.overflow, options_.block_timeout);
  }
}

ActorCell::~ActorCell() {
  delete stop_request_.load(std::memory_order_acquire);
  office_->Unref();
}

std::string ActorCell::name() const {
  return options_.name.empty() ? absl::StrCat("actor#", id_) : options_.name;
}

void ActorCell::Construct() {
  ActorCell* outer = std::exchange(tls_constructing, this);
  absl::Cleanup restore = [outer] { tls_constructing = outer; };
  actor_ = factory_();
}

SendResult ActorCell::Enqueue(Envelope* e) noexcept {
  if (bounded_ != nullptr) [[unlikely]] {
    const SendResult admitted = bounded_->Admit();
    if (admitted != SendResult::kDelivered) {
      DeadLetter(e, admitted,
                 absl::ResourceExhaustedError(absl::StrCat(
                     "mailbox of ", name(), " is full (capacity ",
                     bounded_->capacity(), ")")));
      return admitted;
    }
    e->bounded_slot_ = true;
  }
  switch (mailbox_.Push(e)) {
    case Mailbox::PushResult::kPushed:
      return SendResult::kDelivered;
    case Mailbox::PushResult::kUnblocked:
      // Only an open mailbox unblocks, and a mailbox is open only while the
      // actor, and so its system, is alive.
      if (!registry_->closed()) executor_->Schedule(this);
      return SendResult::kDelivered;
    case Mailbox::PushResult::kClosed:
      break;
  }
  if (e->bounded_slot_) bounded_->Release();
  DeadLetter(e, SendResult::kDeadLetter,
             absl::UnavailableError(absl::StrCat(name(), " has stopped")));
  return SendResult::kDeadLetter;
}

void ActorCell::EnqueueSystem(Envelope* e) noexcept {
  switch (mailbox_.Push(e)) {
    case Mailbox::PushResult::kPushed:
      return;
    case Mailbox::PushResult::kUnblocked:
      if (!registry_->closed()) executor_->Schedule(this);
      return;
    case Mailbox::PushResult::kClosed:
      delete e;  // runtime-internal: nobody is left to tell
      return;
  }
}

void ActorCell::DeadLetter(Envelope* e, SendResult why,
                           const absl::Status& reason) noexcept {
  if (e->reply()) {
    auto target = std::move(e->reply());
    target->Fail(reason);
  }
  office_->Record(engram::DeadLetter{name(), e->type(), why, reason});
  delete e;
}

void ActorCell::RequestStop(absl::Status reason) {
  auto* request = new absl::Status(std::move(reason));
  absl::Status* expected = nullptr;
  // Writer: the first stopper. Release publishes the reason to the owner.
  if (!stop_request_.compare_exchange_strong(expected, request,
                                             std::memory_order_acq_rel)) {
    delete request;  // already requested
    return;
  }
  EnqueueSystem(new TypedEnvelope<StopSignal>());
}

void ActorCell::StopSelf(absl::Status reason) {
  if (stopping_) return;
  stopping_ = true;
  stop_reason_ = std::move(reason);
}

TurnResult ActorCell::RunTurn(int budget) noexcept {
  if (!started_) {
    started_ = true;
    try {
      actor_->OnStart();
    } catch (...) {
      HandleFailure(CurrentExceptionStatus(absl::StrCat(name(), ": OnStart")));
    }
  }
  for (int done = 0; done < budget;) {
    if (stopping_ || stop_request_.load(std::memory_order_acquire) != nullptr) {
      break;
    }
    Envelope* e = mailbox_.Pop();
    if (e == nullptr) {
      if (mailbox_.TryBlock()) return TurnResult::kIdle;
      continue;  // a message arrived meanwhile
    }
    ++done;
    Dispatch(e);
  }
  if (stopping_) {
    Terminate(std::move(stop_reason_), escalate_);
    return TurnResult::kStopped;
  }
  if (absl::Status* request = stop_request_.load(std::memory_order_acquire)) {
    Terminate(*request, false);
    return TurnResult::kStopped;
  }
  if (mailbox_.TryBlock()) return TurnResult::kIdle;
  return TurnResult::kYield;
}

void ActorCell::Dispatch(Envelope* e) noexcept {
  if (e->bounded_slot_) bounded_->Release();
  std::unique_ptr<Envelope> owned(e);
  current_ = e;
  absl::Status error;
  try {
    if (internal::HandlerBase* h = actor_->FindHandler(e->type())) {
      h->Invoke(*e);
    } else if (!DispatchSystem(*e)) {
      DeadLetter(owned.release(), SendResult::kDeadLetter,
                 absl::NotFoundError(absl::StrCat(name(), " has no handler for ",
                                                  e->type()->name)));
    }
  } catch (...) {
    error = CurrentExceptionStatus(absl::StrCat(
        name(), ": the handler for ", owned ? owned->type()->name : "?"));
  }
  current_ = nullptr;
  if (!error.ok()) {
    if (owned && owned->reply()) {
      auto target = std::move(owned->reply());
      target->Fail(error);
    }
    owned.reset();
    HandleFailure(std::move(error));
  }
}

bool ActorCell::DispatchSystem(Envelope& e) {
  const TypeTag* t = e.type();
  if (t == TypeOf<Response>()) {
    Response& r = PayloadOf<Response>(e);
    if (!pending_) return true;
    auto it = pending_->find(r.request_id);
    if (it == pending_->end()) return true;  // timed out already
    Pending p = std::move(it->second);
    pending_->erase(it);
    if (p.timer != 0) system()->timers().Cancel(p.timer);
    if (r.status.ok()) {
      p.callback(r.value.get());
    } else {
      p.callback(std::move(r.status));
    }
    return true;
  }
  if (t == TypeOf<RequestTimeout>()) {
    const uint64_t id = PayloadOf<RequestTimeout>(e).request_id;
    if (!pending_) return true;
    auto it = pending_->find(id);
    if (it == pending_->end()) return true;  // answered already
    Pending p = std::move(it->second);
    pending_->erase(it);
    p.callback(absl::DeadlineExceededError(absl::StrCat(
        "request ", p.request_type->name, " to ", p.target, " timed out after ",
        absl::FormatDuration(p.timeout))));
    return true;
  }
  if (t == TypeOf<StopSignal>()) return true;  // the flag does the work
  if (t == TypeOf<ChildFailed>()) {
    ChildFailed& f = PayloadOf<ChildFailed>(e);
    HandleFailure(absl::Status(
        f.reason.code(),
        absl::StrCat("child ", f.child.name(), " escalated: ", f.reason.message())));
    return true;
  }
  return false;
}

void ActorCell::StartRequest(const ActorRef& to, std::unique_ptr<Envelope> request,
                             const TypeTag* expected, absl::Duration timeout,
                             RequestCallback callback) {
  const uint64_t id = ++next_request_id_;
  request->reply() =
      std::make_unique<ActorReplyTarget>(expected, request->type(), self(), id);
  TimerId timer = 0;
  if (timeout != absl::InfiniteDuration()) {
    timer = system()->timers().Schedule(
        timeout, absl::ZeroDuration(), [me = self(), id] {
          ActorRefAccess::Cell(me)->EnqueueSystem(
              new TypedEnvelope<RequestTimeout>(RequestTimeout{id}));
        });
  }
  if (!pending_) pending_ = std::make_unique<absl::flat_hash_map<uint64_t, Pending>>();
  pending_->emplace(id, Pending{std::move(callback), timer, request->type(),
                                to ? to.name() : std::string("<empty ref>"), timeout});
  Deliver(ActorRefAccess::Cell(to), request.release());
}

void ActorCell::Monitor(const ActorRef& other) {
  registry_->AddWatcher(ActorRefAccess::Cell(other), this);
}

void ActorCell::Demonitor(const ActorRef& other) {
  registry_->RemoveWatcher(ActorRefAccess::Cell(other), this);
}

std::unique_ptr<ReplyTarget> ActorCell::TakeCurrentReply() {
  if (current_ == nullptr) return nullptr;
  return std::move(current_->reply());
}

void ActorCell::DropPending() noexcept {
  if (!pending_) return;
  for (auto& [id, p] : *pending_) {
    if (p.timer != 0) system()->timers().Cancel(p.timer);
  }
  pending_.reset();
}

void ActorCell::HandleFailure(absl::Status error) noexcept {
  const SupervisionPolicy& policy = options_.supervision;
  switch (policy.directive) {
    case Directive::kRestart: {
      const absl::Time now = system()->clock().Now();
      if (!restarts_) restarts_ = std::make_unique<std::deque<absl::Time>>();
      while (!restarts_->empty() && now - restarts_->front() >= policy.within) {
        restarts_->pop_front();
      }
      if (static_cast<int>(restarts_->size()) >= policy.max_restarts) {
        StopSelf(absl::Status(
            error.code(),
            absl::StrCat("restart budget exhausted (", policy.max_restarts,
                         " restarts within ", absl::FormatDuration(policy.within),
                         "): ", error.message())));
        return;
      }
      restarts_->push_back(now);
      Restart(error);
      return;
    }
    case Directive::kStop:
      StopSelf(std::move(error));
      return;
    case Directive::kEscalate:
      StopSelf(std::move(error));
      escalate_ = true;
      return;
  }
}

void ActorCell::Restart(const absl::Status& error) noexcept {
  DropPending();
  for (const ActorRef& child : registry_->ChildrenOf(this)) {
    child.Stop(absl::CancelledError(absl::StrCat("parent ", name(), " restarted")));
  }
  actor_.reset();
  try {
    Construct();
    actor_->OnStart();
  } catch (...) {
    StopSelf(CurrentExceptionStatus(absl::StrCat(name(), ": restart")));
  }
}

void ActorCell::Terminate(absl::Status reason, bool escalate) noexcept {
  current_ = nullptr;
  if (actor_ != nullptr && started_) {
    try {
      actor_->OnStop();
    } catch (...) {
      // The actor is going anyway; its OnStop error is not the stop reason.
    }
  }
  DropPending();
  Envelope* rest = mailbox_.Close();
  const absl::Status gone =
      absl::UnavailableError(absl::StrCat(name(), " stopped before handling it"));
  while (rest != nullptr) {
    Envelope* next = Mailbox::TakeNext(rest);
    if (rest->bounded_slot_) bounded_->Release();
    if (IsInternalType(rest->type())) {
      delete rest;
    } else {
      DeadLetter(rest, SendResult::kDeadLetter, gone);
    }
    rest = next;
  }
  actor_.reset();
  factory_ = nullptr;
  ActorRef me = self();
  // Writer: here, once (release): alive() readers see a stopped actor.
  stopped_.store(true, std::memory_order_release);
  ActorRegistry::Unlinked links = registry_->Remove(this, reason);
  for (const ActorRef& child : links.children) {
    child.Stop(absl::CancelledError(absl::StrCat("parent ", name(), " stopped")));
  }
  for (const ActorRef& w : links.watchers) w.Send(Down{me, reason});
  if (escalate) {
    if (links.parent) {
      ActorRefAccess::Cell(links.parent)->EnqueueSystem(
          new TypedEnvelope<ChildFailed>(ChildFailed{me, reason}));
    } else {
      registry_->EscalateToRoot(me, reason);
    }
  }
  links = {};
  me = ActorRef();
  Unref();  // the system's reference; may delete this
}

void ActorCell::TerminateNow(absl::Status reason) noexcept {
  Terminate(std::move(reason), false);
}

}  // namespace engram::internal
