// The part of NATS JetStream that replication needs, as an interface: one
// stream, asynchronous publishes with a message id and an expected last
// sequence, and reads of stored messages. Two implementations:
// NatsJetStream (engram/replication/nats_jet_stream.h, a real server through
// libnats) and FakeJetStream (engram/replication/fake_jet_stream.h, in
// memory, behaving as nats-server 2.9.10 was measured to), so that the
// replicator's tests can drive every failure and the contract tests can run
// the same cases against both.
//
// Errors, the same from both implementations:
//   kAborted           the stream's last sequence was not the expected one
//                      (JetStream error 10071, "wrong last sequence");
//   kDeadlineExceeded  no acknowledgement within the publish's max_wait (the
//                      message may or may not be stored);
//   kUnavailable       not connected, no responders, stream offline;
//   kNotFound          no such stream or message;
//   anything else      as the server said, with its error code in the text.
//
// Thread-safety: every method may be called from any thread. Ownership:
// the implementation owns its connection and the callbacks it has not yet
// run.
#ifndef ENGRAM_REPLICATION_JET_STREAM_H_
#define ENGRAM_REPLICATION_JET_STREAM_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace engram {

// A stream as replication creates it: file storage, limits retention.
struct JetStreamConfig {
  std::string name;                   // e.g. "ENGRAM_BANK"
  std::vector<std::string> subjects;  // e.g. {"engram.bank.>"}
  int replicas = 1;                   // 1 or 3 (odd, at most 5)
  // Window in which a repeated Nats-Msg-Id is acknowledged as a duplicate
  // of the stored message instead of being stored again.
  absl::Duration duplicate_window = absl::Minutes(2);
};

// One stored message.
struct JetStreamMessage {
  uint64_t sequence = 0;
  std::string subject;
  std::string msg_id;  // its Nats-Msg-Id header ("" if none)
  std::string data;
};

// What the stream answered to one publish.
struct JetStreamAck {
  uint64_t sequence = 0;   // where it is stored
  // The id was seen inside the duplicate window: nothing was stored, and
  // `sequence` is the original message's (whose payload may differ).
  bool duplicate = false;
};

// The stream's extent.
struct JetStreamInfo {
  uint64_t first_sequence = 0;
  uint64_t last_sequence = 0;  // 0: never held a message
  uint64_t messages = 0;
  uint64_t bytes = 0;
  int replicas = 0;
  // The server that leads the stream (its name; "" when not clustered).
  std::string leader;
};

struct JetStreamPublish {
  std::string subject;
  std::string msg_id;                 // Nats-Msg-Id; "" for none
  // ExpectLastSeq on the whole stream (never the per-subject variant:
  // nats-server 2.9 checks that one on the stream leader only).
  std::optional<uint64_t> expected_last_sequence;
  std::string data;
  // Always bounded: without it a lost acknowledgement never completes.
  absl::Duration max_wait = absl::Seconds(5);
};

// Runs exactly once per publish, on a thread of the implementation (never
// inside PublishAsync itself); it must not block.
using JetStreamPublishDone = absl::AnyInvocable<void(absl::StatusOr<JetStreamAck>)>;

class JetStream {
 public:
  virtual ~JetStream() = default;

  // Creates the stream if it does not exist; an existing stream is kept if
  // its subjects and replicas match, else kFailedPrecondition naming both.
  virtual absl::Status EnsureStream(const JetStreamConfig& config) = 0;
  virtual absl::StatusOr<JetStreamInfo> StreamInfo(const std::string& stream) = 0;

  // Publishes without waiting; `done` gets the acknowledgement or the
  // error. Publishes from one thread reach the stream in call order.
  virtual void PublishAsync(JetStreamPublish publish, JetStreamPublishDone done) = 0;
  // Waits until every `done` of the publishes made so far has run.
  // kDeadlineExceeded if that takes longer than `timeout`.
  virtual absl::Status WaitForPending(absl::Duration timeout) = 0;

  // The stored message at `sequence` (kNotFound if none), and the last
  // stored message (nullopt: the stream is empty).
  virtual absl::StatusOr<JetStreamMessage> GetMessage(const std::string& stream,
                                                      uint64_t sequence) = 0;
  virtual absl::StatusOr<std::optional<JetStreamMessage>> LastMessage(
      const std::string& stream) = 0;
  // Up to `max_messages` stored messages from `from_sequence` on, in
  // sequence order; waits up to `wait` for the first one when none is there
  // yet (then returns an empty vector). A follower calls it in a loop with
  // from_sequence = the last sequence it got + 1.
  virtual absl::StatusOr<std::vector<JetStreamMessage>> Fetch(const std::string& stream,
                                                              uint64_t from_sequence,
                                                              size_t max_messages,
                                                              absl::Duration wait) = 0;
};

}  // namespace engram

#endif  // ENGRAM_REPLICATION_JET_STREAM_H_
