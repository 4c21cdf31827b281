// The journal's side of Durability::kReplicated: what a replicator is
// given and what it reports. The journal knows nothing of NATS; a
// replicator (engram/replication/jet_stream_replicator.h) ships records to
// other machines and tells the journal how far they hold them, and the
// journal's durable LSN (WaitDurable, OnDurable, output gating) then
// advances only to what is both synced here and held there.
//
// Ownership: JournalOptions::replicator shares the replicator with the
// caller; one replicator serves one open journal at a time.
#ifndef ENGRAM_JOURNAL_REPLICATOR_H_
#define ENGRAM_JOURNAL_REPLICATOR_H_

#include <cstdint>
#include <string>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"

namespace engram {

// What Journal::Open hands its replicator.
struct ReplicationContext {
  std::string dir;
  uint64_t journal_id = 0;
  // This writer's epoch; its epoch record is appended right after Start
  // returns, at LSN last_lsn + 1.
  uint64_t epoch = 0;
  // The last LSN recovery kept (0: none).
  uint64_t last_lsn = 0;
  // The journal's last LSN now (Journal::last_lsn); callable from any
  // thread while the replicator runs.
  absl::AnyInvocable<uint64_t()> committed_lsn;
  // Every LSN <= `lsn` is held by the replicas. Called with increasing
  // LSNs, from one thread at a time, never above what the replicator read
  // as locally durable; it must not block.
  absl::AnyInvocable<void(uint64_t lsn)> acknowledged;
  // Replication cannot go on for this writer (a newer epoch wrote the
  // stream, another journal's records are there): nothing more will be
  // acknowledged, and every waiter gets `why`. Called at most once.
  absl::AnyInvocable<void(absl::Status why)> failed;
  // New appends fail with `why` (not OK: e.g. kUnavailable naming the
  // replication lag) or are accepted again (OK). The journal's own records
  // (epochs) are never refused. From one thread at a time.
  absl::AnyInvocable<void(absl::Status why)> refuse_appends;
  // While true, the durable LSN no longer waits for the replicas: it is
  // what is synced here (degraded to kSync). Turned off, the durable LSN
  // waits for them again from where it stands (it never goes back).
  absl::AnyInvocable<void(bool degraded)> degrade;
};

class Replicator {
 public:
  virtual ~Replicator() = default;
  // Called by Journal::Open once recovery is done, before the epoch record:
  // checks the replicas against the journal and starts shipping records
  // from where the replicas end, as they become durable here. An error
  // (a higher epoch or another journal there, replicas ahead of this
  // journal, replicas unreachable and the policy says fail) fails Open.
  [[nodiscard]] virtual absl::Status Start(ReplicationContext context) = 0;
  // Called by Journal::Close after its final sync with the last LSN: ships
  // what is left (bounded by the replicator's own timeout) and stops; the
  // context's callbacks are not called after it returns. The error, if
  // some records could not be shipped, names them.
  [[nodiscard]] virtual absl::Status Stop(uint64_t last_lsn) = 0;
};

}  // namespace engram

#endif  // ENGRAM_JOURNAL_REPLICATOR_H_
