#include "engram/replication/nats_jet_stream.h"

#include <nats/nats.h>

#include <algorithm>
#include <cstdint>
#include <deque>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/random/random.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "engram/base/internal/mutex.h"
#include "engram/base/log.h"

namespace engram {
namespace {

constexpr char kMsgIdHeader[] = "Nats-Msg-Id";
// libnats sets it only for ExpectLastSeq > 0 (0 means "unset" there); an
// expectation of 0 is written by hand. nats-server 2.9.10 checks any value
// it finds, 0 included, against the stream's last sequence
// (stream.go, processJetStreamMsg: getExpectedLastSeq).
constexpr char kExpectedLastSeqHeader[] = "Nats-Expected-Last-Sequence";

// Fetch: the shortest wait (libnats shortens a pull request's expiry by
// 10 ms, and a wait of 0 would return before the server answered), the
// longest, the most messages per pull request.
constexpr absl::Duration kMinFetchWait = absl::Milliseconds(20);
constexpr absl::Duration kMaxFetchWait = absl::Hours(1);
constexpr size_t kMaxFetchBatch = 1024;
// An abandoned Fetch consumer is removed by the server after this long.
constexpr absl::Duration kConsumerInactiveThreshold = absl::Minutes(5);
// Creating a consumer needs the JetStream meta leader (clustered); without
// one Fetch reads message by message from the stream leader, and tries a
// consumer again after this long.
constexpr absl::Duration kConsumerRetryAfter = absl::Seconds(2);
constexpr absl::Duration kMinConsumerCreateWait = absl::Milliseconds(500);
// Deleting a dropped consumer is best effort (the threshold above removes
// it anyway): never wait long for it.
constexpr int64_t kConsumerDeleteWaitMs = 250;
// Fetch without a consumer polls the stream's last sequence this often, and
// reads at most this many messages (one request each) per call.
constexpr absl::Duration kFallbackPoll = absl::Milliseconds(50);
constexpr size_t kMaxFallbackBatch = 256;
// The destructor's bound for `done`s already running.
constexpr absl::Duration kShutdownBound = absl::Seconds(30);

int64_t Millis(absl::Duration d) {
  return std::max<int64_t>(1, absl::ToInt64Milliseconds(d));
}

// "nats://user:pw@host:4222" -> "nats://host:4222".
std::string StripUserInfo(absl::string_view url) {
  const size_t scheme = url.find("://");
  const size_t start = scheme == absl::string_view::npos ? 0 : scheme + 3;
  const size_t end = url.find_first_of("/?#", start);
  const size_t at = url.rfind('@', end == absl::string_view::npos ? url.size() : end);
  if (at == absl::string_view::npos || at < start) return std::string(url);
  return absl::StrCat(url.substr(0, start), url.substr(at + 1));
}

const char* ConnStatusName(natsConnStatus s) {
  switch (s) {
    case NATS_CONN_STATUS_DISCONNECTED: return "disconnected";
    case NATS_CONN_STATUS_CONNECTING: return "connecting";
    case NATS_CONN_STATUS_CONNECTED: return "connected";
    case NATS_CONN_STATUS_CLOSED: return "closed";
    case NATS_CONN_STATUS_RECONNECTING: return "reconnecting";
    case NATS_CONN_STATUS_DRAINING_SUBS: return "draining subscriptions";
    case NATS_CONN_STATUS_DRAINING_PUBS: return "draining publishes";
  }
  return "unknown";
}

// The text of the error libnats recorded for `s` on this thread, or the
// status' generic text.
std::string LastErrorText(natsStatus s) {
  natsStatus last = NATS_OK;
  const char* text = nats_GetLastError(&last);
  if (text == nullptr || *text == '\0' || last != s) return natsStatus_GetText(s);
  // Without libnats' "(conn.c:1905): " prefix.
  absl::string_view t(text);
  if (absl::StartsWith(t, "(")) {
    const size_t end = t.find("): ");
    if (end != absl::string_view::npos) t.remove_prefix(end + 3);
  }
  return std::string(t);
}

bool IsUnavailableJsError(int code) {
  switch (code) {
    case JSClusterIncompleteErr:
    case JSClusterNoPeersErr:
    case JSClusterNotAvailErr:
    case JSClusterNotLeaderErr:
    case JSStreamOfflineErr:
    case JSConsumerOfflineErr:
      return true;
    default:
      return false;
  }
}

// Maps a libnats status and JetStream error code to the interface's codes
// (see jet_stream.h). `context` says what was being done, `detail` what
// went wrong (the server's text; libnats' if empty).
absl::Status MapError(natsStatus s, int js_code, absl::string_view context,
                      std::string detail = "") {
  if (detail.empty()) detail = LastErrorText(s);
  std::string message = absl::StrCat(context, ": ", detail);
  if (js_code != 0) absl::StrAppend(&message, " (JetStream error ", js_code, ")");
  if (js_code == JSStreamWrongLastSequenceErr) return absl::AbortedError(message);
  if (js_code == JSStreamNotFoundErr || js_code == JSNoMessageFoundErr ||
      js_code == JSConsumerNotFoundErr) {
    return absl::NotFoundError(message);
  }
  if (IsUnavailableJsError(js_code)) return absl::UnavailableError(message);
  if (js_code != 0) return absl::FailedPreconditionError(message);
  switch (s) {
    case NATS_TIMEOUT:
      return absl::DeadlineExceededError(message);
    case NATS_NO_RESPONDERS:
    case NATS_CONNECTION_CLOSED:
    case NATS_CONNECTION_DISCONNECTED:
    case NATS_NO_SERVER:
    case NATS_NOT_YET_CONNECTED:
    case NATS_IO_ERROR:
    case NATS_STALE_CONNECTION:
    case NATS_INSUFFICIENT_BUFFER:  // the reconnect buffer is full
    case NATS_DRAINING:
      return absl::UnavailableError(message);
    case NATS_NOT_FOUND:
      return absl::NotFoundError(message);
    case NATS_CONNECTION_AUTH_FAILED:
      return absl::UnauthenticatedError(message);
    case NATS_NOT_PERMITTED:
      return absl::PermissionDeniedError(message);
    case NATS_INVALID_ARG:
    case NATS_INVALID_SUBJECT:
    case NATS_MAX_PAYLOAD:
    case NATS_ADDRESS_MISSING:
      return absl::InvalidArgumentError(message);
    case NATS_SECURE_CONNECTION_WANTED:
    case NATS_SECURE_CONNECTION_REQUIRED:
    case NATS_SSL_ERROR:
      return absl::FailedPreconditionError(message);
    default:
      return absl::InternalError(message);
  }
}

std::string Header(natsMsg* msg, const char* key) {
  const char* value = nullptr;
  if (natsMsgHeader_Get(msg, key, &value) != NATS_OK || value == nullptr) return "";
  return value;
}

JetStreamMessage ToMessage(natsMsg* msg, uint64_t sequence) {
  JetStreamMessage m;
  m.sequence = sequence;
  const char* subject = natsMsg_GetSubject(msg);
  if (subject != nullptr) m.subject = subject;
  m.msg_id = Header(msg, kMsgIdHeader);
  const char* data = natsMsg_GetData(msg);
  const int length = natsMsg_GetDataLength(msg);
  if (data != nullptr && length > 0) m.data.assign(data, static_cast<size_t>(length));
  return m;
}

// Connection events come from libnats' callback thread, possibly after the
// NatsJetStream is gone (closing the connection posts a last
// "disconnected"). Their closure is therefore an id looked up here, never a
// pointer; an unregistered id is ignored.
class ConnectionEvents {
 public:
  static ConnectionEvents& Get() {
    static ConnectionEvents* events = new ConnectionEvents;
    return *events;
  }
  uint64_t Register(std::string url) {
    MutexLock lock(&mu_);
    const uint64_t id = next_id_++;
    urls_[id] = std::move(url);
    return id;
  }
  void Unregister(uint64_t id) {
    MutexLock lock(&mu_);
    urls_.erase(id);
  }
  // Logs `what` about connection `id`, if it is still registered.
  void Report(void* closure, LogSeverity severity, absl::string_view what) {
    const uint64_t id = reinterpret_cast<uintptr_t>(closure);
    MutexLock lock(&mu_);
    auto it = urls_.find(id);
    if (it == urls_.end()) return;
    Log(severity, absl::StrCat("NATS connection to ", it->second, ": ", what));
  }

  static void OnDisconnected(natsConnection*, void* closure) {
    Get().Report(closure, LogSeverity::kWarning, "lost; reconnecting");
  }
  static void OnReconnected(natsConnection* nc, void* closure) {
    char url[512] = {0};
    natsConnection_GetConnectedUrl(nc, url, sizeof(url));
    Get().Report(closure, LogSeverity::kInfo,
                 absl::StrCat("reconnected to ", StripUserInfo(url)));
  }
  static void OnError(natsConnection*, natsSubscription*, natsStatus err, void* closure) {
    Get().Report(closure, LogSeverity::kWarning,
                 absl::StrCat("asynchronous error: ", natsStatus_GetText(err)));
  }

 private:
  Mutex mu_;
  absl::flat_hash_map<uint64_t, std::string> urls_ ABSL_GUARDED_BY(mu_);
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
};

}  // namespace

struct NatsJetStream::Impl {
  // A publish handed to libnats, until its acknowledgement handler runs.
  struct Pending {
    JetStreamPublishDone done;
    int64_t max_wait_ms = 0;
  };
  struct Completion {
    JetStreamPublishDone done;
    absl::StatusOr<JetStreamAck> result;
  };
  // Fetch's pull consumer, kept while reads continue where they ended.
  struct Consumer {
    std::string stream;
    std::string name;
    natsSubscription* sub = nullptr;
    uint64_t next_sequence = 0;       // what the caller reads next
    uint64_t delivered = 0;           // last consumer sequence received
    uint64_t reconnects = 0;          // the connection's count at creation
  };

  ~Impl() {
    // First: closing the connection posts a "disconnected" that is ours.
    if (events_id != 0) ConnectionEvents::Get().Unregister(events_id);
    if (js != nullptr) jsCtx_Destroy(js);
    if (nc != nullptr) natsConnection_Destroy(nc);
    if (opts != nullptr) natsOptions_Destroy(opts);
    MutexLock lock(&stats_mu);
    if (stats != nullptr) natsStatistics_Destroy(stats);
  }

  // Scrubs secrets out of a text that libnats or the server produced.
  std::string Scrub(std::string text) const {
    for (const auto& [raw, clean] : url_rewrites) {
      text = absl::StrReplaceAll(text, {{raw, clean}});
    }
    for (const std::string& secret : secrets) {
      if (secret.size() >= 3) text = absl::StrReplaceAll(text, {{secret, "<redacted>"}});
    }
    return text;
  }
  absl::Status Error(natsStatus s, int js_code, absl::string_view context,
                     std::string detail = "") const {
    if (detail.empty()) detail = LastErrorText(s);
    return MapError(s, js_code, context, Scrub(std::move(detail)));
  }
  // OK if the connection is up; else kUnavailable naming the server.
  absl::Status CheckConnected(absl::string_view context) const {
    const natsConnStatus status = natsConnection_Status(nc);
    if (status == NATS_CONN_STATUS_CONNECTED) return absl::OkStatus();
    return absl::UnavailableError(absl::StrCat(context, ": not connected to ", url, " (",
                                               ConnStatusName(status), ")"));
  }
  uint64_t Reconnects() {
    MutexLock lock(&stats_mu);
    uint64_t reconnects = 0;
    if (natsConnection_GetStats(nc, stats) != NATS_OK) return 0;
    natsStatistics_GetCounts(stats, nullptr, nullptr, nullptr, nullptr, &reconnects);
    return reconnects;
  }

  // Queues `done` for the completion thread.
  void Complete(JetStreamPublishDone done, absl::StatusOr<JetStreamAck> result) {
    MutexLock lock(&mu);
    queue.push_back(Completion{std::move(done), std::move(result)});
    cv.SignalAll();
  }
  void CompletionLoop() {
    MutexLock lock(&mu);
    while (true) {
      while (queue.empty() && !stop) cv.Wait(&mu);
      if (queue.empty()) return;  // stop
      Completion c = std::move(queue.front());
      queue.pop_front();
      mu.Unlock();
      c.done(std::move(c.result));
      c.done = nullptr;
      mu.Lock();
      --outstanding;
      cv.SignalAll();
    }
  }

  // libnats' jsPubAckHandler: runs once for every message js_PublishMsgAsync
  // accepted, on the reply subscription's thread; owns `msg`. It may run
  // while js_PublishMsgAsync is still reading `msg` (libnats registers the
  // message, and arms its MaxWait timer, before it encodes it; the encoding
  // can block on a full socket): the message is then destroyed by
  // PublishAsync once that call returned.
  static void OnAck(jsCtx*, natsMsg* msg, jsPubAck* pa, jsPubAckErr* pae, void* closure) {
    Impl* self = static_cast<Impl*>(closure);
    // Read msg before handing it over: once PublishAsync may destroy it,
    // this thread must not touch it.
    const char* raw_subject = natsMsg_GetSubject(msg);
    const std::string subject = raw_subject == nullptr ? "?" : raw_subject;
    Pending pending;
    bool found = false;
    bool destroy = true;
    {
      MutexLock lock(&self->mu);
      auto it = self->pending.find(msg);
      if (it != self->pending.end()) {
        pending = std::move(it->second);
        self->pending.erase(it);
        found = true;
      }
      auto in_call = self->publishing.find(msg);
      if (in_call != self->publishing.end()) {
        in_call->second = true;  // PublishAsync destroys it
        destroy = false;
      }
    }
    absl::StatusOr<JetStreamAck> result;
    if (!found) {
      result = absl::InternalError("acknowledgement for an unknown publish");
    } else if (pa != nullptr) {
      result = JetStreamAck{pa->Sequence, pa->Duplicate};
    } else {
      result = self->PublishError(subject, pae, pending.max_wait_ms);
    }
    if (destroy) natsMsg_Destroy(msg);
    if (!found) {
      Log(LogSeverity::kError, absl::StrCat("NatsJetStream: ", result.status().message()));
      return;
    }
    pending.done(std::move(result));
    pending.done = nullptr;
    MutexLock lock(&self->mu);
    --self->outstanding;
    self->cv.SignalAll();
  }

  absl::Status PublishError(const std::string& subject, const jsPubAckErr* pae,
                            int64_t max_wait_ms) const {
    const std::string context = absl::StrCat("publish to ", subject, " at ", url);
    if (pae == nullptr) return absl::InternalError(absl::StrCat(context, ": no result"));
    if (pae->Err == NATS_TIMEOUT) {
      return absl::DeadlineExceededError(
          absl::StrCat(context, ": no acknowledgement within ", max_wait_ms,
                       " ms (the message may or may not be stored)"));
    }
    if (pae->Err == NATS_NO_RESPONDERS) {
      return absl::UnavailableError(
          absl::StrCat(context, ": no responders (no stream listens on the subject, or it "
                                "is offline)"));
    }
    return Error(pae->Err, pae->ErrCode, context,
                 pae->ErrText != nullptr ? pae->ErrText : "");
  }

  // Fetch's consumer.
  void DropConsumer() ABSL_EXCLUSIVE_LOCKS_REQUIRED(fetch_mu) {
    if (!consumer.has_value()) return;
    natsSubscription_Destroy(consumer->sub);
    if (natsConnection_Status(nc) == NATS_CONN_STATUS_CONNECTED) {
      jsOptions jo;
      jsOptions_Init(&jo);
      jo.Wait = kConsumerDeleteWaitMs;
      jsErrCode jerr = static_cast<jsErrCode>(0);
      // Best effort: the server removes it after kConsumerInactiveThreshold.
      js_DeleteConsumer(js, consumer->stream.c_str(), consumer->name.c_str(), &jo, &jerr);
    }
    consumer.reset();
  }
  // Creates the consumer, waiting at most `wait` for each of its two
  // requests.
  absl::Status CreateConsumer(const std::string& stream, uint64_t from_sequence,
                              absl::Duration wait) ABSL_EXCLUSIVE_LOCKS_REQUIRED(fetch_mu) {
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = Millis(wait);
    const std::string context =
        absl::StrCat("Fetch from stream ", stream, " at ", url, ": creating a consumer");
    Consumer c;
    c.stream = stream;
    c.name = absl::StrCat("engram_fetch_", absl::Hex(absl::Uniform<uint64_t>(bitgen),
                                                      absl::kZeroPad16));
    c.next_sequence = from_sequence;
    c.reconnects = Reconnects();

    jsConsumerConfig cc;
    jsConsumerConfig_Init(&cc);
    cc.Name = c.name.c_str();
    cc.DeliverPolicy = js_DeliverByStartSequence;
    cc.OptStartSeq = from_sequence;
    cc.AckPolicy = js_AckNone;
    cc.ReplayPolicy = js_ReplayInstant;
    cc.InactiveThreshold = absl::ToInt64Nanoseconds(kConsumerInactiveThreshold);
    cc.MemoryStorage = true;
    cc.Replicas = 1;
    jsConsumerInfo* info = nullptr;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    natsStatus s = js_AddConsumer(&info, js, stream.c_str(), &cc, &jo, &jerr);
    if (s != NATS_OK) return Error(s, jerr, context);
    jsConsumerInfo_Destroy(info);

    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = stream.c_str();
    so.Consumer = c.name.c_str();
    // Bound to an existing consumer, libnats compares these with its config.
    so.Config.MemoryStorage = true;
    jerr = static_cast<jsErrCode>(0);
    s = js_PullSubscribe(&c.sub, js, nullptr, nullptr, &jo, &so, &jerr);
    if (s != NATS_OK) {
      absl::Status status = Error(s, jerr, context);
      jo.Wait = kConsumerDeleteWaitMs;
      js_DeleteConsumer(js, stream.c_str(), c.name.c_str(), &jo, &jerr);
      return status;
    }
    // What one pull request brings is bounded by its batch; never drop any.
    natsSubscription_SetPendingLimits(c.sub, -1, -1);
    consumer = std::move(c);
    return absl::OkStatus();
  }

  std::string url;  // the server URL(s), without user information
  std::vector<std::pair<std::string, std::string>> url_rewrites;  // raw -> clean
  std::vector<std::string> secrets;
  int64_t request_timeout_ms = 5000;
  int max_pending = 0;
  uint64_t events_id = 0;

  natsOptions* opts = nullptr;
  natsConnection* nc = nullptr;
  jsCtx* js = nullptr;
  Mutex stats_mu;
  natsStatistics* stats ABSL_GUARDED_BY(stats_mu) = nullptr;

  Mutex mu;
  CondVar cv;  // signalled when outstanding drops, queue grows, stop is set
  std::unordered_map<natsMsg*, Pending> pending ABSL_GUARDED_BY(mu);
  // Messages inside js_PublishMsgAsync -> whether OnAck already ran for it
  // (and left the message to PublishAsync to destroy).
  std::unordered_map<natsMsg*, bool> publishing ABSL_GUARDED_BY(mu);
  std::deque<Completion> queue ABSL_GUARDED_BY(mu);
  // Publishes whose `done` has not yet returned.
  uint64_t outstanding ABSL_GUARDED_BY(mu) = 0;
  bool stop ABSL_GUARDED_BY(mu) = false;
  std::thread completer;

  Mutex fetch_mu;  // one Fetch at a time
  std::optional<Consumer> consumer ABSL_GUARDED_BY(fetch_mu);
  // No consumer creation before this (the last one found no meta leader).
  absl::Time consumer_retry_after ABSL_GUARDED_BY(fetch_mu) = absl::InfinitePast();
  absl::BitGen bitgen ABSL_GUARDED_BY(fetch_mu);
};

absl::StatusOr<std::unique_ptr<NatsJetStream>> NatsJetStream::Connect(
    const NatsConnectOptions& options) {
  auto impl = std::make_unique<Impl>();
  std::vector<std::string> raw_urls;
  std::vector<std::string> clean_urls;
  for (absl::string_view part : absl::StrSplit(options.url, ',')) {
    part = absl::StripAsciiWhitespace(part);
    if (part.empty()) continue;
    raw_urls.emplace_back(part);
    clean_urls.push_back(StripUserInfo(part));
    if (raw_urls.back() != clean_urls.back()) {
      impl->url_rewrites.emplace_back(raw_urls.back(), clean_urls.back());
    }
  }
  impl->url = absl::StrJoin(clean_urls, ",");
  if (raw_urls.empty()) {
    return absl::InvalidArgumentError("NatsJetStream::Connect: no server URL");
  }
  impl->secrets = {options.password, options.token};
  impl->request_timeout_ms = Millis(options.request_timeout);
  impl->max_pending = options.max_pending;
  const std::string context = absl::StrCat("cannot connect to NATS at ", impl->url);
  if (options.max_pending < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(context, ": max_pending ", options.max_pending, " is negative"));
  }
  if (options.connect_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat(context, ": connect_timeout must be positive"));
  }

  natsStatus s = natsOptions_Create(&impl->opts);
  natsOptions* o = impl->opts;
  std::vector<const char*> servers;
  for (const std::string& u : raw_urls) servers.push_back(u.c_str());
  if (s == NATS_OK) s = natsOptions_SetServers(o, servers.data(), static_cast<int>(servers.size()));
  if (s == NATS_OK && !options.name.empty()) s = natsOptions_SetName(o, options.name.c_str());
  if (s == NATS_OK && !options.user.empty()) {
    s = natsOptions_SetUserInfo(o, options.user.c_str(), options.password.c_str());
  }
  if (s == NATS_OK && !options.token.empty()) s = natsOptions_SetToken(o, options.token.c_str());
  if (s == NATS_OK && !options.creds_file.empty()) {
    s = natsOptions_SetUserCredentialsFromFiles(o, options.creds_file.c_str(), nullptr);
  }
  if (s == NATS_OK && !options.tls_ca_file.empty()) {
    s = natsOptions_SetSecure(o, true);
    if (s == NATS_OK) s = natsOptions_LoadCATrustedCertificates(o, options.tls_ca_file.c_str());
    if (s == NATS_OK && !options.tls_cert_file.empty()) {
      s = natsOptions_LoadCertificatesChain(o, options.tls_cert_file.c_str(),
                                            options.tls_key_file.c_str());
    }
  }
  // The initial connect goes once through the list; each server gets its
  // share of connect_timeout (TCP connect, TLS, INFO/CONNECT/PING).
  const int64_t per_server_ms =
      std::max<int64_t>(50, Millis(options.connect_timeout) / static_cast<int64_t>(servers.size()));
  if (s == NATS_OK) s = natsOptions_SetTimeout(o, per_server_ms);
  if (s == NATS_OK) s = natsOptions_SetRetryOnFailedConnect(o, false, nullptr, nullptr);
  // Once connected: reconnect for ever, every 100 ms plus up to 150 ms of
  // jitter.
  if (s == NATS_OK) s = natsOptions_SetAllowReconnect(o, true);
  if (s == NATS_OK) s = natsOptions_SetMaxReconnect(o, -1);
  if (s == NATS_OK) s = natsOptions_SetReconnectWait(o, 100);
  if (s == NATS_OK) s = natsOptions_SetReconnectJitter(o, 150, 150);
  // Requests in flight fail when the connection drops instead of waiting
  // for their timeout.
  if (s == NATS_OK) s = natsOptions_SetFailRequestsOnDisconnect(o, true);
  // Each publish goes to the socket at once: libnats' default buffers it for
  // a flusher thread, which costs about 1 ms per acknowledgement when
  // nothing else is being published (measured: replication_bench's
  // append-to-release p50 went from 1,000 us to the fsync + round trip).
  if (s == NATS_OK) s = natsOptions_SetSendAsap(o, true);
  // A silent server (a partition rather than a crash) is noticed in ~10 s.
  if (s == NATS_OK) s = natsOptions_SetPingInterval(o, 5000);
  if (s == NATS_OK) s = natsOptions_SetMaxPingsOut(o, 2);
  if (s == NATS_OK) {
    impl->events_id = ConnectionEvents::Get().Register(impl->url);
    void* closure = reinterpret_cast<void*>(static_cast<uintptr_t>(impl->events_id));
    s = natsOptions_SetDisconnectedCB(o, &ConnectionEvents::OnDisconnected, closure);
    if (s == NATS_OK) s = natsOptions_SetReconnectedCB(o, &ConnectionEvents::OnReconnected, closure);
    if (s == NATS_OK) s = natsOptions_SetErrorHandler(o, &ConnectionEvents::OnError, closure);
  }
  if (s == NATS_OK) s = natsStatistics_Create(&impl->stats);
  if (s != NATS_OK) return impl->Error(s, 0, absl::StrCat(context, ": bad options"));

  s = natsConnection_Connect(&impl->nc, o);
  if (s != NATS_OK) {
    impl->nc = nullptr;
    std::string detail = absl::StrCat(LastErrorText(s), " (connect_timeout ",
                                      absl::FormatDuration(options.connect_timeout), ")");
    return impl->Error(s, 0, context, std::move(detail));
  }

  jsOptions jo;
  jsOptions_Init(&jo);
  jo.Wait = impl->request_timeout_ms;
  jo.PublishAsync.MaxPending = options.max_pending;
  jo.PublishAsync.AckHandler = &Impl::OnAck;
  jo.PublishAsync.AckHandlerClosure = impl.get();
  s = natsConnection_JetStream(&impl->js, impl->nc, &jo);
  if (s != NATS_OK) {
    impl->js = nullptr;
    return impl->Error(s, 0, absl::StrCat("JetStream context on ", impl->url));
  }
  Impl* raw = impl.get();
  impl->completer = std::thread([raw] { raw->CompletionLoop(); });
  return std::unique_ptr<NatsJetStream>(new NatsJetStream(std::move(impl)));
}

NatsJetStream::NatsJetStream(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

NatsJetStream::~NatsJetStream() {
  Impl* impl = impl_.get();
  {
    MutexLock lock(&impl->fetch_mu);
    impl->DropConsumer();
  }
  // Take back the messages libnats still holds: their handler will never
  // run, so their `done` is ours to run.
  natsMsgList list = {nullptr, 0};
  std::vector<JetStreamPublishDone> cancelled;
  bool any_pending = false;
  {
    MutexLock lock(&impl->mu);
    any_pending = !impl->pending.empty();
  }
  // Only then: libnats 3.4.1 dereferences its pending table, which exists
  // only once something was published, without checking.
  if (any_pending && js_PublishAsyncGetPendingList(&list, impl->js) == NATS_OK) {
    MutexLock lock(&impl->mu);
    for (int i = 0; i < list.Count; ++i) {
      auto node = impl->pending.extract(list.Msgs[i]);
      if (!node.empty()) cancelled.push_back(std::move(node.mapped().done));
    }
  }
  natsMsgList_Destroy(&list);
  for (JetStreamPublishDone& done : cancelled) {
    done(absl::CancelledError(absl::StrCat(
        "publish to ", impl->url,
        ": cancelled by the destructor before its acknowledgement (the message may or may "
        "not be stored)")));
    done = nullptr;
  }
  // Wait for the handlers that had already taken their message and for the
  // completion queue.
  bool drained = false;
  {
    MutexLock lock(&impl->mu);
    impl->outstanding -= cancelled.size();
    const absl::Time deadline = absl::Now() + kShutdownBound;
    while (impl->outstanding > 0) {
      if (impl->cv.WaitWithDeadline(&impl->mu, deadline)) break;
    }
    drained = impl->outstanding == 0;
    impl->stop = true;
    impl->cv.SignalAll();
  }
  if (!drained) {
    // A `done` blocks: a later one could still call into impl, which must
    // then stay alive (and the connection with it).
    Log(LogSeverity::kError,
        absl::StrCat("NatsJetStream for ", impl->url, ": publish callbacks still running after ",
                     absl::FormatDuration(kShutdownBound), "; leaking the connection"));
    impl->completer.detach();
    impl_.release();
    return;
  }
  impl->completer.join();
  // impl's destructor destroys the context, then the connection.
}

const std::string& NatsJetStream::url() const { return impl_->url; }

absl::Status NatsJetStream::EnsureStream(const JetStreamConfig& config) {
  Impl* impl = impl_.get();
  const std::string context = absl::StrCat("EnsureStream ", config.name, " at ", impl->url);
  if (absl::Status st = impl->CheckConnected(context); !st.ok()) return st;
  std::vector<std::string> wanted = config.subjects;
  std::sort(wanted.begin(), wanted.end());
  // Twice: another client may create the stream between our look-up and
  // our create.
  for (int attempt = 0; attempt < 2; ++attempt) {
    jsStreamInfo* si = nullptr;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    natsStatus s = js_GetStreamInfo(&si, impl->js, config.name.c_str(), nullptr, &jerr);
    if (s == NATS_OK) {
      std::vector<std::string> have;
      int replicas = 0;
      if (si->Config != nullptr) {
        for (int i = 0; i < si->Config->SubjectsLen; ++i) have.emplace_back(si->Config->Subjects[i]);
        replicas = static_cast<int>(si->Config->Replicas);
      }
      jsStreamInfo_Destroy(si);
      std::sort(have.begin(), have.end());
      // The server reports 1 for a stream created with replicas 0 (default).
      const int wanted_replicas = std::max(1, config.replicas);
      if (have != wanted || std::max(1, replicas) != wanted_replicas) {
        return absl::FailedPreconditionError(absl::StrCat(
            context, ": the stream exists with subjects [", absl::StrJoin(have, ", "), "] and ",
            replicas, " replicas, wanted subjects [", absl::StrJoin(wanted, ", "), "] and ",
            wanted_replicas, " replicas"));
      }
      return absl::OkStatus();
    }
    if (s != NATS_NOT_FOUND) return impl->Error(s, jerr, context);

    std::vector<const char*> subjects;
    for (const std::string& subject : config.subjects) subjects.push_back(subject.c_str());
    jsStreamConfig sc;
    jsStreamConfig_Init(&sc);
    sc.Name = config.name.c_str();
    sc.Subjects = subjects.data();
    sc.SubjectsLen = static_cast<int>(subjects.size());
    sc.Storage = js_FileStorage;
    sc.Retention = js_LimitsPolicy;
    sc.Replicas = config.replicas;
    sc.Duplicates = absl::ToInt64Nanoseconds(config.duplicate_window);
    si = nullptr;
    jerr = static_cast<jsErrCode>(0);
    s = js_AddStream(&si, impl->js, &sc, nullptr, &jerr);
    if (s == NATS_OK) {
      jsStreamInfo_Destroy(si);
      return absl::OkStatus();
    }
    if (jerr != JSStreamNameExistErr) return impl->Error(s, jerr, context);
  }
  return absl::UnavailableError(
      absl::StrCat(context, ": the stream keeps appearing and disappearing"));
}

absl::StatusOr<JetStreamInfo> NatsJetStream::StreamInfo(const std::string& stream) {
  Impl* impl = impl_.get();
  const std::string context = absl::StrCat("StreamInfo ", stream, " at ", impl->url);
  if (absl::Status st = impl->CheckConnected(context); !st.ok()) return st;
  jsStreamInfo* si = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  natsStatus s = js_GetStreamInfo(&si, impl->js, stream.c_str(), nullptr, &jerr);
  if (s != NATS_OK) return impl->Error(s, jerr, context);
  JetStreamInfo info;
  info.first_sequence = si->State.FirstSeq;
  info.last_sequence = si->State.LastSeq;
  info.messages = si->State.Msgs;
  info.bytes = si->State.Bytes;
  info.replicas = si->Config != nullptr ? static_cast<int>(si->Config->Replicas) : 0;
  if (si->Cluster != nullptr && si->Cluster->Leader != nullptr) info.leader = si->Cluster->Leader;
  jsStreamInfo_Destroy(si);
  return info;
}

void NatsJetStream::PublishAsync(JetStreamPublish publish, JetStreamPublishDone done) {
  Impl* impl = impl_.get();
  {
    MutexLock lock(&impl->mu);
    ++impl->outstanding;
  }
  const std::string context = absl::StrCat("publish to ", publish.subject, " at ", impl->url);
  if (absl::Status st = impl->CheckConnected(context); !st.ok()) {
    impl->Complete(std::move(done), std::move(st));
    return;
  }
  natsMsg* msg = nullptr;
  natsStatus s = natsMsg_Create(&msg, publish.subject.c_str(), nullptr, publish.data.data(),
                                static_cast<int>(publish.data.size()));
  if (s == NATS_OK && publish.expected_last_sequence == uint64_t{0}) {
    s = natsMsgHeader_Set(msg, kExpectedLastSeqHeader, "0");
  }
  if (s != NATS_OK) {
    absl::Status st = impl->Error(s, 0, context);
    natsMsg_Destroy(msg);
    impl->Complete(std::move(done), std::move(st));
    return;
  }
  jsPubOptions po;
  jsPubOptions_Init(&po);
  // Always bounded: without it a lost acknowledgement never completes.
  po.MaxWait = Millis(publish.max_wait);
  if (!publish.msg_id.empty()) po.MsgId = publish.msg_id.c_str();
  if (publish.expected_last_sequence.has_value() && *publish.expected_last_sequence > 0) {
    po.ExpectLastSeq = *publish.expected_last_sequence;
  }
  {
    // Before the call: the acknowledgement may arrive before it returns.
    MutexLock lock(&impl->mu);
    impl->pending.emplace(msg, Impl::Pending{std::move(done), po.MaxWait});
    impl->publishing.emplace(msg, false);
  }
  natsMsg* handed = msg;  // js_PublishMsgAsync clears it when it takes msg
  s = js_PublishMsgAsync(impl->js, &handed, &po);
  bool acked = false;
  {
    MutexLock lock(&impl->mu);
    acked = impl->publishing[msg];
    impl->publishing.erase(msg);
  }
  if (s == NATS_OK) {
    // libnats owns msg and runs OnAck for it, which destroys it unless it
    // ran already.
    if (acked) natsMsg_Destroy(msg);
    return;
  }
  // libnats did not take msg (and never calls OnAck for it).
  std::string detail = LastErrorText(s);
  JetStreamPublishDone failed;
  {
    MutexLock lock(&impl->mu);
    auto node = impl->pending.extract(msg);
    failed = std::move(node.mapped().done);
  }
  natsMsg_Destroy(msg);
  absl::Status st;
  if (s == NATS_TIMEOUT) {
    // _registerPubMsg waited StallWait for room under MaxPending.
    st = absl::UnavailableError(absl::StrCat(context, ": ", impl->max_pending,
                                             " publishes already await their acknowledgement "
                                             "(max_pending); nothing sent"));
  } else {
    st = impl->Error(s, 0, context, detail);
  }
  impl->Complete(std::move(failed), std::move(st));
}

absl::Status NatsJetStream::WaitForPending(absl::Duration timeout) {
  Impl* impl = impl_.get();
  const absl::Time deadline = absl::Now() + timeout;
  MutexLock lock(&impl->mu);
  while (impl->outstanding > 0) {
    if (impl->cv.WaitWithDeadline(&impl->mu, deadline) && impl->outstanding > 0) {
      return absl::DeadlineExceededError(
          absl::StrCat("WaitForPending at ", impl->url, ": ", impl->outstanding,
                       " publishes not completed after ", absl::FormatDuration(timeout)));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<JetStreamMessage> NatsJetStream::GetMessage(const std::string& stream,
                                                           uint64_t sequence) {
  Impl* impl = impl_.get();
  const std::string context =
      absl::StrCat("GetMessage ", sequence, " from stream ", stream, " at ", impl->url);
  if (sequence == 0) return absl::NotFoundError(absl::StrCat(context, ": no sequence 0"));
  if (absl::Status st = impl->CheckConnected(context); !st.ok()) return st;
  natsMsg* msg = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  natsStatus s = js_GetMsg(&msg, impl->js, stream.c_str(), sequence, nullptr, &jerr);
  if (s != NATS_OK) {
    if (jerr == JSNoMessageFoundErr) {
      return absl::NotFoundError(absl::StrCat(context, ": no message there (JetStream error ",
                                              jerr, ")"));
    }
    return impl->Error(s, jerr, context);
  }
  JetStreamMessage m = ToMessage(msg, natsMsg_GetSequence(msg));
  natsMsg_Destroy(msg);
  return m;
}

absl::StatusOr<std::optional<JetStreamMessage>> NatsJetStream::LastMessage(
    const std::string& stream) {
  Impl* impl = impl_.get();
  const std::string context = absl::StrCat("LastMessage of stream ", stream, " at ", impl->url);
  if (absl::Status st = impl->CheckConnected(context); !st.ok()) return st;
  // One request, atomic on the server: the last message on any subject
  // (2.9.10's last_by_subj takes wildcards). No race with a deletion of the
  // last sequence, as StreamInfo + GetMessage would have.
  natsMsg* msg = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  natsStatus s = js_GetLastMsg(&msg, impl->js, stream.c_str(), ">", nullptr, &jerr);
  if (s != NATS_OK) {
    if (jerr == JSNoMessageFoundErr) return std::optional<JetStreamMessage>();
    return impl->Error(s, jerr, context);
  }
  JetStreamMessage m = ToMessage(msg, natsMsg_GetSequence(msg));
  natsMsg_Destroy(msg);
  return std::optional<JetStreamMessage>(std::move(m));
}

namespace {

// Fetch without a consumer: StreamInfo and GetMessage, both answered by the
// stream leader alone. Slower (a request per message) but needs no meta
// leader. Skips deleted messages; polls for the first one until `deadline`.
absl::StatusOr<std::vector<JetStreamMessage>> FetchWithoutConsumer(
    JetStream& js, const std::string& stream, uint64_t from_sequence, size_t max_messages,
    absl::Time deadline) {
  std::vector<JetStreamMessage> out;
  while (true) {
    absl::StatusOr<JetStreamInfo> info = js.StreamInfo(stream);
    if (!info.ok()) return info.status();
    if (info->last_sequence >= from_sequence) {
      const size_t limit = std::min(max_messages, kMaxFallbackBatch);
      for (uint64_t seq = std::max(from_sequence, info->first_sequence);
           seq <= info->last_sequence && out.size() < limit; ++seq) {
        absl::StatusOr<JetStreamMessage> m = js.GetMessage(stream, seq);
        if (m.ok()) {
          out.push_back(std::move(*m));
        } else if (!absl::IsNotFound(m.status())) {  // NotFound: deleted
          if (out.empty()) return m.status();
          break;
        }
      }
      return out;
    }
    if (absl::Now() + kFallbackPoll >= deadline) return out;
    absl::SleepFor(kFallbackPoll);
  }
}

}  // namespace

absl::StatusOr<std::vector<JetStreamMessage>> NatsJetStream::Fetch(const std::string& stream,
                                                                   uint64_t from_sequence,
                                                                   size_t max_messages,
                                                                   absl::Duration wait) {
  Impl* impl = impl_.get();
  std::vector<JetStreamMessage> out;
  if (max_messages == 0) return out;
  from_sequence = std::max<uint64_t>(from_sequence, 1);
  const std::string context =
      absl::StrCat("Fetch from stream ", stream, " at ", impl->url, " from sequence ",
                   from_sequence);
  wait = std::clamp(wait, kMinFetchWait, kMaxFetchWait);
  const absl::Time deadline = absl::Now() + wait;
  const int batch = static_cast<int>(std::min(max_messages, kMaxFetchBatch));

  MutexLock lock(&impl->fetch_mu);
  // Twice at most: a consumer the server lost (restart, inactivity) is
  // replaced once.
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (absl::Status st = impl->CheckConnected(context); !st.ok()) {
      impl->DropConsumer();
      return st;
    }
    auto& c = impl->consumer;
    // A reconnect may have lost deliveries that nothing after them would
    // reveal: start over from where the caller is.
    if (c.has_value() && (c->stream != stream || c->next_sequence != from_sequence ||
                          c->reconnects != impl->Reconnects())) {
      impl->DropConsumer();
    }
    if (!c.has_value()) {
      if (absl::Now() < impl->consumer_retry_after) {
        return FetchWithoutConsumer(*this, stream, from_sequence, max_messages, deadline);
      }
      // Half the wait at most, so that the fallback below has the rest.
      const absl::Duration create_wait =
          std::clamp((deadline - absl::Now()) / 2, kMinConsumerCreateWait,
                     absl::Milliseconds(impl->request_timeout_ms));
      absl::Status st = impl->CreateConsumer(stream, from_sequence, create_wait);
      if (absl::IsUnavailable(st) || absl::IsDeadlineExceeded(st)) {
        // No meta leader (an election, a lost quorum) or the consumer went
        // to a server that is gone: the stream leader may still serve.
        impl->consumer_retry_after = absl::Now() + kConsumerRetryAfter;
        return FetchWithoutConsumer(*this, stream, from_sequence, max_messages, deadline);
      }
      if (!st.ok()) return st;
    }
    jsFetchRequest req;
    jsFetchRequest_Init(&req);
    req.Batch = batch;
    // nats-server 2.9: no_wait with an expiry waits up to the expiry for
    // the first message and ends the request (408) as soon as what is
    // there has been delivered.
    req.NoWait = true;
    req.Expires =
        absl::ToInt64Nanoseconds(std::max(deadline - absl::Now(), kMinFetchWait));
    natsMsgList list = {nullptr, 0};
    const natsStatus s = natsSubscription_FetchRequest(&list, c->sub, &req);
    if (s == NATS_OK) {
      bool gap = false;
      for (int i = 0; i < list.Count; ++i) {
        natsMsg* msg = list.Msgs[i];
        jsMsgMetaData* meta = nullptr;
        if (gap || natsMsg_GetMetaData(&meta, msg) != NATS_OK) {
          gap = true;
          continue;
        }
        const uint64_t stream_seq = meta->Sequence.Stream;
        const uint64_t consumer_seq = meta->Sequence.Consumer;
        jsMsgMetaData_Destroy(meta);
        if (consumer_seq != c->delivered + 1) {
          gap = true;  // a delivery was lost
          continue;
        }
        c->delivered = consumer_seq;
        // The server starts a consumer whose start is beyond the stream's
        // end at the end: skip what comes before from_sequence.
        if (stream_seq < c->next_sequence) continue;
        out.push_back(ToMessage(msg, stream_seq));
        c->next_sequence = stream_seq + 1;
      }
      natsMsgList_Destroy(&list);
      if (gap) impl->DropConsumer();
      if (!out.empty() || !gap) return out;
      continue;  // nothing usable: once more with a new consumer
    }
    if (s == NATS_TIMEOUT || s == NATS_NOT_FOUND) return out;  // nothing there
    // The consumer is gone (no responders, "consumer deleted"), the
    // subscription is broken, or the connection dropped.
    absl::Status st = impl->Error(s, 0, context);
    impl->DropConsumer();
    if (attempt == 1 || absl::Now() >= deadline) return st;
  }
  return out;
}

}  // namespace engram
