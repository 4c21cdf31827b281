#ifndef ENGRAM_EXAMPLES_BANK_BANK_MODEL_H_
#define ENGRAM_EXAMPLES_BANK_BANK_MODEL_H_

// The bank: accounts are persistent actors; a transfer is a persistent saga
// (debit, then credit, refund on failure) whose progress survives a crash,
// so that after a restart every transfer is completed or compensated and
// money is never created or lost.
//
// Every step command carries the transfer id, and accounts remember which
// transfers they applied, so a step re-sent after a restart is applied at
// most once.

#include <cstdint>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "engram/image/event_codec.h"
#include "engram/actors/actor_ref.h"
#include "engram/image/event_registry.h"
#include "engram/image/memory_image.h"
#include "engram/image/persistent_actor.h"
#include "engram/image/state_hash.h"

namespace bank {

// ---- events (journaled; trivially copyable) ----
struct AccountOpened { int64_t initial; };
struct Debited { uint64_t transfer; int64_t amount; };
struct Credited { uint64_t transfer; int64_t amount; };
struct Refunded { uint64_t transfer; int64_t amount; };
struct AccountFrozen {};
struct TransferStarted { uint64_t from; uint64_t to; int64_t amount; };
struct TransferDebited {};
struct TransferFailed {};
struct TransferCompleted {};
struct TransferCompensating {};
struct TransferCompensated {};

// ---- commands ----
struct Open { int64_t initial; };
struct Debit { uint64_t transfer; int64_t amount; engram::ActorRef reply_to; };
struct Credit { uint64_t transfer; int64_t amount; engram::ActorRef reply_to; };
struct Refund { uint64_t transfer; int64_t amount; engram::ActorRef reply_to; };
struct Freeze {};
struct GetBalance {};
struct DebitResult { bool ok; };
struct CreditResult { bool ok; };
struct RefundResult {};
struct Start { uint64_t from; uint64_t to; int64_t amount; };
struct Resume {};
struct GetPhase {};

enum class Phase : int {
  kNew = 0,
  kStarted,
  kDebited,
  kCompensating,
  kCompleted,
  kFailed,
  kCompensated,
};
inline bool Finished(Phase p) { return p >= Phase::kCompleted; }

struct AccountState {
  int64_t balance = 0;
  bool opened = false;
  bool frozen = false;
  absl::flat_hash_set<uint64_t> debits, credits, refunds;
  // The canonical hash (engram/image/state_hash.h): every field, the sets
  // by their contents in any order.
  friend void HashState(engram::StateHashWriter& w, const AccountState& s) {
    w.Add(s.balance);
    w.Add(s.opened);
    w.Add(s.frozen);
    w.AddUnordered(s.debits);
    w.AddUnordered(s.credits);
    w.AddUnordered(s.refunds);
  }
};

class Account : public engram::PersistentActor<AccountState> {
 public:
  Account();
};

struct TransferState {
  Phase phase = Phase::kNew;
  uint64_t from = 0, to = 0;
  int64_t amount = 0;
  // Field by field: the 4 bytes of padding after `phase` are no value.
  friend void HashState(engram::StateHashWriter& w, const TransferState& s) {
    w.Add(s.phase);
    w.Add(s.from);
    w.Add(s.to);
    w.Add(s.amount);
  }
};

class Transfer : public engram::PersistentActor<TransferState> {
 public:
  Transfer();

 private:
  // Sends the command of a step (after the events so far are durable).
  void SendStep(Phase phase);
  void SendStepOf(Phase phase, uint64_t from, uint64_t to, int64_t amount);
};

// Registers the bank's event types and actor kinds.
absl::Status RegisterEvents(engram::EventRegistry& registry);
void RegisterKinds(engram::MemoryImage& image);

// Account streams are 1..N; transfer streams start here.
inline constexpr uint64_t kFirstTransferId = uint64_t{1} << 32;
inline constexpr int64_t kInitialBalance = 1000;

}  // namespace bank

// Text forms of the bank's events, for `bank journal dump` (the byte codec
// stays the default one).
namespace engram {
template <>
struct EventCodec<bank::AccountOpened> : TriviallyCopyableCodec<bank::AccountOpened> {
  static std::string ToText(const bank::AccountOpened& e) {
    return absl::StrCat("initial=", e.initial);
  }
};
template <>
struct EventCodec<bank::Debited> : TriviallyCopyableCodec<bank::Debited> {
  static std::string ToText(const bank::Debited& e) {
    return absl::StrCat("transfer=", e.transfer, " amount=", e.amount);
  }
};
template <>
struct EventCodec<bank::Credited> : TriviallyCopyableCodec<bank::Credited> {
  static std::string ToText(const bank::Credited& e) {
    return absl::StrCat("transfer=", e.transfer, " amount=", e.amount);
  }
};
template <>
struct EventCodec<bank::Refunded> : TriviallyCopyableCodec<bank::Refunded> {
  static std::string ToText(const bank::Refunded& e) {
    return absl::StrCat("transfer=", e.transfer, " amount=", e.amount);
  }
};
template <>
struct EventCodec<bank::TransferStarted> : TriviallyCopyableCodec<bank::TransferStarted> {
  static std::string ToText(const bank::TransferStarted& e) {
    return absl::StrCat("from=", e.from, " to=", e.to, " amount=", e.amount);
  }
};
}  // namespace engram

#endif  // ENGRAM_EXAMPLES_BANK_BANK_MODEL_H_
