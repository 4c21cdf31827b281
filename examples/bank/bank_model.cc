#include "bank/bank_model.h"

namespace bank {

Account::Account() {
  OnCommand([this](const Open& o) {
    if (!state().opened) Emit(AccountOpened{o.initial});
  });
  OnCommand([this](const Debit& d) {
    bool ok = true;
    if (!state().debits.contains(d.transfer)) {
      ok = !state().frozen && state().balance >= d.amount;
      if (ok) Emit(Debited{d.transfer, d.amount});
    }
    SendGated(d.reply_to, DebitResult{ok});
  });
  OnCommand([this](const Credit& c) {
    bool ok = true;
    if (!state().credits.contains(c.transfer)) {
      ok = !state().frozen;
      if (ok) Emit(Credited{c.transfer, c.amount});
    }
    SendGated(c.reply_to, CreditResult{ok});
  });
  OnCommand([this](const Refund& r) {
    if (!state().refunds.contains(r.transfer)) Emit(Refunded{r.transfer, r.amount});
    SendGated(r.reply_to, RefundResult{});
  });
  OnCommand([this](Freeze) {
    if (!state().frozen) Emit(AccountFrozen{});
  });
  OnCommand([this](GetBalance) { return state().balance; });

  OnEvent([](AccountState& s, const AccountOpened& e) {
    s.opened = true;
    s.balance = e.initial;
  });
  OnEvent([](AccountState& s, const Debited& e) {
    s.balance -= e.amount;
    s.debits.insert(e.transfer);
  });
  OnEvent([](AccountState& s, const Credited& e) {
    s.balance += e.amount;
    s.credits.insert(e.transfer);
  });
  OnEvent([](AccountState& s, const Refunded& e) {
    s.balance += e.amount;
    s.refunds.insert(e.transfer);
  });
  OnEvent([](AccountState& s, const AccountFrozen&) { s.frozen = true; });
}

Transfer::Transfer() {
  OnCommand([this](const Start& st) -> absl::Status {
    if (state().phase != Phase::kNew) return absl::OkStatus();  // a retry
    if (st.amount <= 0 || st.from == st.to) {
      return absl::InvalidArgumentError("a transfer needs a positive amount and two accounts");
    }
    Emit(TransferStarted{st.from, st.to, st.amount});
    SendStepOf(Phase::kStarted, st.from, st.to, st.amount);
    return absl::OkStatus();
  });
  OnCommand([this](const DebitResult& r) {
    if (state().phase != Phase::kStarted) return;  // duplicate answer
    if (r.ok) {
      Emit(TransferDebited{});
      SendStep(Phase::kDebited);
    } else {
      Emit(TransferFailed{});
    }
  });
  OnCommand([this](const CreditResult& r) {
    if (state().phase != Phase::kDebited) return;
    if (r.ok) {
      Emit(TransferCompleted{});
    } else {
      Emit(TransferCompensating{});
      SendStep(Phase::kCompensating);
    }
  });
  OnCommand([this](RefundResult) {
    if (state().phase == Phase::kCompensating) Emit(TransferCompensated{});
  });
  OnCommand([this](Resume) { SendStep(state().phase); });
  OnCommand([this](GetPhase) { return state().phase; });

  OnEvent([](TransferState& s, const TransferStarted& e) {
    s.phase = Phase::kStarted;
    s.from = e.from;
    s.to = e.to;
    s.amount = e.amount;
  });
  OnEvent([](TransferState& s, const TransferDebited&) { s.phase = Phase::kDebited; });
  OnEvent([](TransferState& s, const TransferFailed&) { s.phase = Phase::kFailed; });
  OnEvent([](TransferState& s, const TransferCompleted&) { s.phase = Phase::kCompleted; });
  OnEvent([](TransferState& s, const TransferCompensating&) {
    s.phase = Phase::kCompensating;
  });
  OnEvent([](TransferState& s, const TransferCompensated&) {
    s.phase = Phase::kCompensated;
  });
}

void Transfer::SendStep(Phase phase) {
  SendStepOf(phase, state().from, state().to, state().amount);
}

void Transfer::SendStepOf(Phase phase, uint64_t from, uint64_t to, int64_t amount) {
  const uint64_t id = stream_id();
  auto account = [this](uint64_t stream) {
    absl::StatusOr<engram::ActorRef> ref = image().Find(stream);
    return ref.ok() ? *ref : engram::ActorRef();
  };
  switch (phase) {
    case Phase::kStarted:
      SendGated(account(from), Debit{id, amount, self()});
      break;
    case Phase::kDebited:
      SendGated(account(to), Credit{id, amount, self()});
      break;
    case Phase::kCompensating:
      SendGated(account(from), Refund{id, amount, self()});
      break;
    default:
      break;  // nothing in flight
  }
}

absl::Status RegisterEvents(engram::EventRegistry& r) {
  for (absl::Status s : {
           r.Register<AccountOpened>("bank.AccountOpened"),
           r.Register<Debited>("bank.Debited"),
           r.Register<Credited>("bank.Credited"),
           r.Register<Refunded>("bank.Refunded"),
           r.Register<AccountFrozen>("bank.AccountFrozen"),
           r.Register<TransferStarted>("bank.TransferStarted"),
           r.Register<TransferDebited>("bank.TransferDebited"),
           r.Register<TransferFailed>("bank.TransferFailed"),
           r.Register<TransferCompleted>("bank.TransferCompleted"),
           r.Register<TransferCompensating>("bank.TransferCompensating"),
           r.Register<TransferCompensated>("bank.TransferCompensated"),
       }) {
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

void RegisterKinds(engram::MemoryImage& image) {
  image.RegisterKind<Account>("account");
  image.RegisterKind<Transfer>("transfer");
}

}  // namespace bank
