// An in-memory JetStream for tests, behaving as nats-server 2.9.10 was
// measured to:
//  - the duplicate check runs before the expectation check: a message id
//    seen inside the duplicate window is acknowledged as a duplicate with
//    the original sequence, even when its ExpectLastSeq is stale;
//  - a new id with a stale ExpectLastSeq is rejected (kAborted, 10071), and
//    since a rejected message does not advance the stream, every pipelined
//    message after it, expecting one more, is rejected too;
//  - a message to a subject no stream listens on gets no responders.
// Acknowledgements are delivered in publish order by a thread of its own,
// never inside PublishAsync. Faults are injected with the setters below.
//
// Thread-safety: every method may be called from any thread. Ownership:
// owns the delivery thread (joined by the destructor) and the messages.
#ifndef ENGRAM_REPLICATION_FAKE_JET_STREAM_H_
#define ENGRAM_REPLICATION_FAKE_JET_STREAM_H_

#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <thread>
#include <utility>

#include "engram/base/internal/mutex.h"
#include "engram/replication/jet_stream.h"

namespace engram {

class FakeJetStream final : public JetStream {
 public:
  FakeJetStream();
  ~FakeJetStream() override;
  FakeJetStream(const FakeJetStream&) = delete;
  FakeJetStream& operator=(const FakeJetStream&) = delete;

  absl::Status EnsureStream(const JetStreamConfig& config) override;
  absl::StatusOr<JetStreamInfo> StreamInfo(const std::string& stream) override;
  void PublishAsync(JetStreamPublish publish, JetStreamPublishDone done) override;
  absl::Status WaitForPending(absl::Duration timeout) override;
  absl::StatusOr<JetStreamMessage> GetMessage(const std::string& stream,
                                              uint64_t sequence) override;
  absl::StatusOr<std::optional<JetStreamMessage>> LastMessage(
      const std::string& stream) override;
  absl::StatusOr<std::vector<JetStreamMessage>> Fetch(const std::string& stream,
                                                      uint64_t from_sequence,
                                                      size_t max_messages,
                                                      absl::Duration wait) override;

  // Fault injection.
  // The server is down: publishes fail with kUnavailable (nothing stored),
  // reads fail with kUnavailable.
  void SetDown(bool down);
  // The next `n` publishes are stored but their acknowledgements are lost:
  // each completes with kDeadlineExceeded (at once, not after max_wait).
  void LoseAcks(int n);
  // While true, acknowledgements are held back (messages are still stored
  // at once), so a test can build up a pipeline; false releases them.
  void HoldAcks(bool hold);
  // Appends a message as another writer would (no id check, no callback).
  uint64_t AppendExternal(const std::string& stream, JetStreamMessage message);
  // Publishes that have been stored (not counting duplicates or rejects).
  uint64_t stored_count() const;

 private:
  struct Stream {
    JetStreamConfig config;
    std::map<uint64_t, JetStreamMessage> messages;
    uint64_t last_sequence = 0;
    std::map<std::string, uint64_t> ids;  // msg id -> sequence (the window)
  };
  struct Completion {
    JetStreamPublishDone done;
    absl::StatusOr<JetStreamAck> result;
  };

  // The stream whose subjects match `subject`, or null.
  Stream* StreamFor(const std::string& subject) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Stream* Find(const std::string& name) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<JetStreamAck> Store(JetStreamPublish& publish)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void DeliveryLoop();

  mutable Mutex mu_;
  CondVar cv_;  // completions queued, delivery progress, new messages
  std::map<std::string, Stream> streams_ ABSL_GUARDED_BY(mu_);
  std::deque<Completion> completions_ ABSL_GUARDED_BY(mu_);
  uint64_t published_ ABSL_GUARDED_BY(mu_) = 0;  // PublishAsync calls
  uint64_t delivered_ ABSL_GUARDED_BY(mu_) = 0;  // callbacks run
  uint64_t stored_ ABSL_GUARDED_BY(mu_) = 0;
  bool down_ ABSL_GUARDED_BY(mu_) = false;
  bool hold_ ABSL_GUARDED_BY(mu_) = false;
  int lose_acks_ ABSL_GUARDED_BY(mu_) = 0;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread delivery_;
};

}  // namespace engram

#endif  // ENGRAM_REPLICATION_FAKE_JET_STREAM_H_
