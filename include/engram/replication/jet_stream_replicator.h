// Ships a journal to a JetStream stream: the Replicator behind
// Durability::kReplicated (docs/ARCHITECTURE.md, "The replicator").
//
// A thread reads the journal's records once they are synced here and
// publishes them asynchronously, many whole records per message (a batch
// is never split), with at most `max_in_flight` messages unacknowledged.
// Each message carries Nats-Msg-Id = <journal id>.<epoch>.<first LSN> and
// ExpectLastSeq = the stream's sequence before it, so the stream takes
// them only in order and only from this writer. The journal's replicated
// LSN is the last LSN of the longest run of acknowledged messages.
//
// On any error (wrong last sequence, timeout, no responders, a duplicate
// acknowledgement) it stops publishing, waits for every publish in flight
// to complete, reads the stream's last message and decides: resume after
// it if the stream's last epoch is this writer's or older, step down if a
// newer epoch wrote (the journal then acknowledges nothing more), refuse if
// another journal's records are there. So nothing is stored twice under
// two sequences and no LSN is skipped: a message is stored only if its
// expectation held, which means every message before it is stored.
//
// Thread-safety: state() may be called from any thread; Start and Stop are
// called by the journal. Ownership: owns its thread; shares the JetStream.
#ifndef ENGRAM_REPLICATION_JET_STREAM_REPLICATOR_H_
#define ENGRAM_REPLICATION_JET_STREAM_REPLICATOR_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "engram/journal/replicator.h"
#include "engram/replication/jet_stream.h"

namespace engram {

struct ReplicationStatus;

// What a journal at kReplicated does while its stream does not acknowledge
// (unreachable, or an error being recovered from).
enum class ReplicationOutagePolicy {
  // Commands are still journaled and synced; their outputs wait. Once more
  // than max_unreplicated_bytes are unacknowledged, new appends fail with
  // kUnavailable naming the lag, until it is back under half of that.
  kBlock,
  // New appends fail with kUnavailable at once while the stream is
  // unreachable.
  kFail,
  // After degrade_after unreachable, the durable LSN stops waiting for the
  // stream (the journal acts as kSync) and ReplicationStatus::degraded
  // says so; once the stream acknowledges again, new records wait for it
  // again (what was released meanwhile is replicated as it catches up).
  kDegrade,
};

struct JetStreamReplicatorOptions {
  std::string stream;   // the stream's name; it must exist (EnsureStream)
  std::string subject;  // what messages are published on, inside its subjects
  // Unacknowledged messages at most (also libnats' PublishAsync.MaxPending).
  size_t max_in_flight = 256;
  // A message closes once it holds this many bytes of records and the next
  // record starts a batch; a batch larger than this goes out whole in one
  // message (which the server refuses beyond its max_payload).
  size_t max_message_bytes = 256 << 10;
  // Bound on each publish's acknowledgement.
  absl::Duration max_wait = absl::Seconds(5);
  // After an error, the first pause before reading the stream's tail again;
  // doubled on each failure up to 2 s.
  absl::Duration retry_backoff = absl::Milliseconds(50);
  // Journal::Close waits at most this long for the last records to be
  // acknowledged.
  absl::Duration stop_timeout = absl::Seconds(10);
  ReplicationOutagePolicy outage = ReplicationOutagePolicy::kBlock;
  // kBlock: the unacknowledged bytes (estimated from the mean size of the
  // records shipped) past which new appends fail.
  uint64_t max_unreplicated_bytes = 64 << 20;
  // kDegrade: how long the stream may be unreachable before the journal
  // degrades to the local level.
  absl::Duration degrade_after = absl::Seconds(5);
  // Called whenever connected, degraded, refusing_appends or failed
  // changes, on the replicator's thread or an acknowledgement thread, one
  // call at a time; it must not block or call back into the replicator.
  std::function<void(const ReplicationStatus&)> on_state;
};

// What the replicator is doing, as state() reports it.
struct ReplicationStatus {
  bool running = false;
  // The last publish (or tail read) succeeded; false while the stream is
  // unreachable or the replicator is recovering from an error.
  bool connected = false;
  // Replication stopped for good (stepped down, another journal, damage).
  bool failed = false;
  uint64_t replicated_lsn = 0;     // every LSN <= it is held by the stream
  uint64_t shipped_lsn = 0;        // the last LSN published so far
  uint64_t stream_sequence = 0;    // the stream's sequence of replicated_lsn
  uint64_t in_flight_messages = 0;
  uint64_t in_flight_bytes = 0;
  uint64_t errors = 0;             // publish errors so far (each one recovered)
  absl::Status last_error;
  // The journal's records not yet acknowledged, and their estimated bytes.
  uint64_t lag_records = 0;
  uint64_t lag_bytes = 0;
  // kDegrade: the durable LSN does not wait for the stream.
  bool degraded = false;
  // New appends are refused (kFail while unreachable, kBlock over the lag
  // limit).
  bool refusing_appends = false;
};

class JetStreamReplicator final : public Replicator {
 public:
  JetStreamReplicator(std::shared_ptr<JetStream> jet_stream,
                      JetStreamReplicatorOptions options);
  ~JetStreamReplicator() override;
  JetStreamReplicator(const JetStreamReplicator&) = delete;
  JetStreamReplicator& operator=(const JetStreamReplicator&) = delete;

  // Replicator. Start fails (so Journal::Open fails) when the stream's last
  // message is another journal's, of this writer's epoch or a newer one
  // (another node took over: follow it), or past this journal's last LSN
  // (kAborted: this journal lacks records the stream holds; a copy catching
  // up to take over may catch up again and retry). An unreachable stream is
  // not an error: the thread keeps trying, and nothing is acknowledged
  // meanwhile.
  [[nodiscard]] absl::Status Start(ReplicationContext context) override;
  [[nodiscard]] absl::Status Stop(uint64_t last_lsn) override;

  ReplicationStatus state() const;

 private:
  class Impl;  // replication/jet_stream_replicator.cc
  // Shared with the publish callbacks in flight, which may outlive a Stop
  // that timed out.
  std::shared_ptr<Impl> impl_;
};

}  // namespace engram

#endif  // ENGRAM_REPLICATION_JET_STREAM_REPLICATOR_H_
