// JetStream (engram/replication/jet_stream.h) on a real NATS server, through
// the NATS C client (libnats 3.4, nats-server 2.9). libnats is private to the
// library: this header does not include nats.h.
//
// Connect opens one connection and one JetStream context. After a successful
// connect the connection reconnects by itself for ever (every 100-250 ms);
// while it is down, publishes fail at once with kUnavailable, publishes that
// were in flight complete with kDeadlineExceeded after their max_wait, and
// reads fail with kUnavailable (or kDeadlineExceeded).
//
// Publishing: every publish carries its Nats-Msg-Id and, if set, its expected
// last sequence (an expectation of 0, "the stream has never held a message",
// is sent as the header Nats-Expected-Last-Sequence: 0, which nats-server
// checks as any other value; libnats itself cannot express it). Its `done`
// runs exactly once: with the acknowledgement on libnats' reply thread, or
// with a failure that happened before anything was sent on a completion
// thread of this class; never inside PublishAsync. The two threads are not
// ordered with each other: a caller that needs the outcomes in publish order
// must order them itself (by sequence). At most `max_pending` publishes
// await their acknowledgement; beyond that PublishAsync blocks up to 200 ms
// for room and then fails the publish with kUnavailable (nothing sent).
//
// Fetch reads through an ephemeral pull consumer (AckNone, from the requested
// start sequence, in memory on the server) that is kept while the caller
// continues where the last Fetch ended and replaced otherwise (or after a
// reconnect). It returns as soon as some messages are there, up to 1024;
// when none is, it waits for the first up to `wait` (at least 20 ms). Every
// delivery is checked for gaps (a consumer sequence that skips means a lost
// delivery: the consumer is replaced and the read resumes after the last
// message returned). Creating a consumer needs the JetStream meta leader;
// when that fails (an election, the consumer's server is gone) Fetch reads
// message by message from the stream leader instead (at most 256 per call)
// and tries a consumer again 2 s later.
//
// Thread-safety: every method may be called from any thread; Fetch calls are
// served one at a time. Ownership: owns the connection, its threads, the
// consumer and every `done` not yet run. The destructor completes the
// publishes still awaiting their acknowledgement with kCancelled (their
// messages may or may not be stored; call WaitForPending first for their
// real outcome) and returns only when no `done` can run any more.
#ifndef ENGRAM_REPLICATION_NATS_JET_STREAM_H_
#define ENGRAM_REPLICATION_NATS_JET_STREAM_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "engram/replication/jet_stream.h"

namespace engram {

struct NatsConnectOptions {
  // "nats://host:port", or several separated by commas (a cluster's seeds).
  std::string url = "nats://127.0.0.1:4222";
  // Credentials: user and password, or a token, or a .creds file (JWT and
  // NKey seed). None of them ever appears in an error or a log line.
  std::string user;
  std::string password;
  std::string token;
  std::string creds_file;
  // TLS when tls_ca_file is set: the CA that signed the server's
  // certificate, and optionally this client's certificate and key.
  std::string tls_ca_file;
  std::string tls_cert_file;
  std::string tls_key_file;
  // Bounds the initial connect (shared between the URLs of the list) and
  // each reconnect attempt.
  absl::Duration connect_timeout = absl::Seconds(2);
  // Bounds each JetStream API request (stream info, message get, consumer
  // creation).
  absl::Duration request_timeout = absl::Seconds(5);
  // Publishes awaiting their acknowledgement, at most.
  int max_pending = 4096;
  // The connection's name, as the server's monitoring shows it.
  std::string name;
};

class NatsJetStream final : public JetStream {
 public:
  // Connects (once through the URL list, bounded by connect_timeout).
  // kUnavailable if no server could be reached, kUnauthenticated if the
  // server refused the credentials, kInvalidArgument for bad options; the
  // error names the server URL(s).
  static absl::StatusOr<std::unique_ptr<NatsJetStream>> Connect(
      const NatsConnectOptions& options);

  ~NatsJetStream() override;
  NatsJetStream(const NatsJetStream&) = delete;
  NatsJetStream& operator=(const NatsJetStream&) = delete;

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

  // The server URL(s) as given, without any user information.
  const std::string& url() const;

 private:
  struct Impl;
  explicit NatsJetStream(std::unique_ptr<Impl> impl);

  std::unique_ptr<Impl> impl_;
};

}  // namespace engram

#endif  // ENGRAM_REPLICATION_NATS_JET_STREAM_H_
