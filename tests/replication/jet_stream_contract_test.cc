// The JetStream contract (engram/replication/jet_stream.h), run against both
// implementations: every case that both can run is one TEST_CASE with a
// SECTION per implementation ("fake", "nats-server"), so a failure names the
// one at fault. The cases that need a real process (kill -9, a refused
// connect, a frozen server) run against nats-server only.
//
// These are the nats-server 2.9.10 behaviours replication relies on.
#include <sys/types.h>

#include <atomic>
#include <condition_variable>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "engram/replication/fake_jet_stream.h"
#include "engram/replication/jet_stream.h"
#include "engram/replication/nats_jet_stream.h"
#include "tests/replication/nats_server.h"

namespace engram {
namespace {

using testing::NatsServer;
using testing::NatsServerOptions;

constexpr absl::Duration kBound = absl::Seconds(30);  // every wait in this file

JetStreamConfig Config() {
  JetStreamConfig c;
  c.name = "T";
  c.subjects = {"t.>"};
  return c;
}

std::string Id(int k) { return absl::StrFormat("m-%04d", k); }

JetStreamPublish Msg(const std::string& id, std::optional<uint64_t> expect = std::nullopt,
                     std::string data = "") {
  JetStreamPublish p;
  p.subject = "t.x";
  p.msg_id = id;
  p.expected_last_sequence = expect;
  p.data = data.empty() ? "data-" + id : std::move(data);
  return p;
}

// Set while this thread is inside PublishAsync: a `done` that sees it set
// ran inside PublishAsync, which the contract forbids.
thread_local bool t_in_publish = false;

void PublishTo(JetStream& js, JetStreamPublish publish, JetStreamPublishDone done) {
  t_in_publish = true;
  js.PublishAsync(std::move(publish), std::move(done));
  t_in_publish = false;
}

// Publishes and waits (bounded) for `done`.
absl::StatusOr<JetStreamAck> Publish(JetStream& js, JetStreamPublish publish) {
  auto promise = std::make_shared<std::promise<absl::StatusOr<JetStreamAck>>>();
  std::future<absl::StatusOr<JetStreamAck>> future = promise->get_future();
  PublishTo(js, std::move(publish), [promise](absl::StatusOr<JetStreamAck> ack) {
    if (t_in_publish) ack = absl::InternalError("test: done ran inside PublishAsync");
    promise->set_value(std::move(ack));
  });
  if (future.wait_for(absl::ToChronoSeconds(kBound)) != std::future_status::ready) {
    return absl::InternalError("test: done did not run within the bound");
  }
  return future.get();
}

// The results of a pipeline of publishes, by index; each slot is set once.
class Results {
 public:
  explicit Results(size_t n) : results_(n), calls_(n, 0) {}
  JetStreamPublishDone Slot(size_t i) {
    return [this, i](absl::StatusOr<JetStreamAck> ack) {
      std::lock_guard<std::mutex> lock(mu_);
      if (t_in_publish) ++inline_calls_;
      if (ack.ok()) ++acked_;
      ++completed_;
      results_[i] = std::move(ack);
      ++calls_[i];
      cv_.notify_all();
    };
  }
  // Waits (bounded) until some publish was acknowledged.
  bool WaitForAnAck() {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, absl::ToChronoSeconds(kBound), [&] { return acked_ > 0; });
  }
  // Waits (bounded) until `n` publishes completed.
  bool WaitForCompleted(int n) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, absl::ToChronoSeconds(kBound), [&] { return completed_ >= n; });
  }
  // Every slot set exactly once, none inside PublishAsync.
  bool AllOnce() const {
    std::lock_guard<std::mutex> lock(mu_);
    for (int c : calls_) {
      if (c != 1) return false;
    }
    return inline_calls_ == 0;
  }
  absl::StatusOr<JetStreamAck> at(size_t i) const {
    std::lock_guard<std::mutex> lock(mu_);
    return results_[i].value_or(absl::InternalError("test: not completed"));
  }
  size_t size() const { return results_.size(); }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  int acked_ = 0;
  int completed_ = 0;
  int inline_calls_ = 0;  // `done`s that ran inside PublishAsync
  std::vector<std::optional<absl::StatusOr<JetStreamAck>>> results_;
  std::vector<int> calls_;
};

std::unique_ptr<NatsServer> StartServer(NatsServerOptions options = {}) {
  absl::StatusOr<std::unique_ptr<NatsServer>> server = NatsServer::Start(std::move(options));
  if (!server.ok()) FAIL("cannot start nats-server: " << server.status().ToString());
  return std::move(*server);
}

NatsConnectOptions ConnectOptions(const NatsServer& server) {
  NatsConnectOptions o;
  o.url = server.url();
  o.name = "engram-contract-test";
  return o;
}

std::unique_ptr<NatsJetStream> Connect(const NatsConnectOptions& options) {
  absl::StatusOr<std::unique_ptr<NatsJetStream>> js = NatsJetStream::Connect(options);
  if (!js.ok()) FAIL("cannot connect to " << options.url << ": " << js.status().ToString());
  return std::move(*js);
}

std::unique_ptr<NatsJetStream> Connect(const NatsServer& server) {
  return Connect(ConnectOptions(server));
}

// Waits (bounded) until `js` answers again after its server came back.
absl::Status WaitConnected(JetStream& js, const std::string& stream) {
  const absl::Time deadline = absl::Now() + kBound;
  absl::Status last;
  while (absl::Now() < deadline) {
    last = js.StreamInfo(stream).status();
    if (last.ok()) return last;
    absl::SleepFor(absl::Milliseconds(20));  // polls a reconnect; nothing signals it
  }
  return last;
}

// One implementation under test.
struct Target {
  JetStream& js;
  FakeJetStream* fake = nullptr;  // set for the fake
  NatsServer* server = nullptr;   // set for nats-server
};

// Runs `body` once against the fake and once against a fresh nats-server,
// each in a SECTION named after it.
template <typename Body>
void ForEachJetStream(Body body) {
  SECTION("fake") {
    FakeJetStream fake;
    body(Target{fake, &fake, nullptr});
  }
  SECTION("nats-server") {
    std::unique_ptr<NatsServer> server = StartServer();
    std::unique_ptr<NatsJetStream> js = Connect(*server);
    body(Target{*js, nullptr, server.get()});
  }
}

void RequireMessage(const absl::StatusOr<JetStreamMessage>& m, uint64_t sequence,
                    const std::string& id, const std::string& data) {
  REQUIRE(m.ok());
  CHECK(m->sequence == sequence);
  CHECK(m->subject == "t.x");
  CHECK(m->msg_id == id);
  CHECK(m->data == data);
}

TEST_CASE("a published message is stored at the next sequence and read back with its id and bytes",
          "[replication][contract]") {
  ForEachJetStream([](Target t) {
    REQUIRE(t.js.EnsureStream(Config()).ok());
    absl::StatusOr<std::optional<JetStreamMessage>> empty = t.js.LastMessage("T");
    REQUIRE(empty.ok());
    CHECK_FALSE(empty->has_value());
    absl::StatusOr<JetStreamInfo> info = t.js.StreamInfo("T");
    REQUIRE(info.ok());
    CHECK(info->last_sequence == 0);
    CHECK(info->messages == 0);

    const std::string binary("\0\x01\xff bytes \r\n", 12);
    absl::StatusOr<JetStreamAck> a = Publish(t.js, Msg("id-a", std::nullopt, binary));
    REQUIRE(a.ok());
    CHECK(a->sequence == 1);
    CHECK_FALSE(a->duplicate);
    absl::StatusOr<JetStreamAck> b = Publish(t.js, Msg("id-b"));
    REQUIRE(b.ok());
    CHECK(b->sequence == 2);
    CHECK_FALSE(b->duplicate);

    RequireMessage(t.js.GetMessage("T", 1), 1, "id-a", binary);
    RequireMessage(t.js.GetMessage("T", 2), 2, "id-b", "data-id-b");
    absl::StatusOr<std::optional<JetStreamMessage>> last = t.js.LastMessage("T");
    REQUIRE(last.ok());
    REQUIRE(last->has_value());
    RequireMessage(**last, 2, "id-b", "data-id-b");
    absl::StatusOr<std::vector<JetStreamMessage>> fetched =
        t.js.Fetch("T", 1, 10, absl::Seconds(5));
    REQUIRE(fetched.ok());
    REQUIRE(fetched->size() == 2);
    RequireMessage((*fetched)[0], 1, "id-a", binary);
    RequireMessage((*fetched)[1], 2, "id-b", "data-id-b");

    info = t.js.StreamInfo("T");
    REQUIRE(info.ok());
    CHECK(info->first_sequence == 1);
    CHECK(info->last_sequence == 2);
    CHECK(info->messages == 2);
    CHECK(info->replicas == 1);

    CHECK(absl::IsNotFound(t.js.GetMessage("T", 3).status()));
    CHECK(absl::IsNotFound(t.js.GetMessage("NOPE", 1).status()));
    CHECK(absl::IsNotFound(t.js.StreamInfo("NOPE").status()));
    CHECK(absl::IsNotFound(t.js.LastMessage("NOPE").status()));
  });
}

TEST_CASE("a repeated msg id inside the window is acknowledged as a duplicate of the original, "
          "even with a stale expectation",
          "[replication][contract]") {
  ForEachJetStream([](Target t) {
    REQUIRE(t.js.EnsureStream(Config()).ok());
    REQUIRE(Publish(t.js, Msg("a", 0)).ok());
    REQUIRE(Publish(t.js, Msg("b", 1)).ok());
    // Stale: the stream's last sequence is 2.
    absl::StatusOr<JetStreamAck> again = Publish(t.js, Msg("a", 0, "other payload"));
    REQUIRE(again.ok());
    CHECK(again->sequence == 1);
    CHECK(again->duplicate);
    again = Publish(t.js, Msg("b", 1));
    REQUIRE(again.ok());
    CHECK(again->sequence == 2);
    CHECK(again->duplicate);
    // And without an expectation.
    again = Publish(t.js, Msg("a"));
    REQUIRE(again.ok());
    CHECK(again->sequence == 1);
    CHECK(again->duplicate);
    absl::StatusOr<JetStreamInfo> info = t.js.StreamInfo("T");
    REQUIRE(info.ok());
    CHECK(info->last_sequence == 2);
    CHECK(info->messages == 2);
    RequireMessage(t.js.GetMessage("T", 1), 1, "a", "data-a");
  });
}

TEST_CASE("a new id with a stale expectation is rejected with kAborted and the stream is unchanged",
          "[replication][contract]") {
  ForEachJetStream([](Target t) {
    REQUIRE(t.js.EnsureStream(Config()).ok());
    REQUIRE(Publish(t.js, Msg("a")).ok());
    REQUIRE(Publish(t.js, Msg("b")).ok());
    absl::StatusOr<JetStreamAck> stale = Publish(t.js, Msg("c", 1));
    CHECK(absl::IsAborted(stale.status()));
    INFO(stale.status().ToString());
    stale = Publish(t.js, Msg("c", 5));  // ahead is as wrong as behind
    CHECK(absl::IsAborted(stale.status()));
    stale = Publish(t.js, Msg("c", 0));  // "never held a message"
    CHECK(absl::IsAborted(stale.status()));
    absl::StatusOr<JetStreamInfo> info = t.js.StreamInfo("T");
    REQUIRE(info.ok());
    CHECK(info->last_sequence == 2);
    CHECK(info->messages == 2);
    absl::StatusOr<std::optional<JetStreamMessage>> last = t.js.LastMessage("T");
    REQUIRE(last.ok());
    REQUIRE(last->has_value());
    CHECK((*last)->msg_id == "b");
    // The rejected id was not recorded: with the right expectation it is stored.
    absl::StatusOr<JetStreamAck> right = Publish(t.js, Msg("c", 2));
    REQUIRE(right.ok());
    CHECK(right->sequence == 3);
    CHECK_FALSE(right->duplicate);
  });
}

TEST_CASE("an expectation of 0 holds only for a stream that never held a message",
          "[replication][contract]") {
  ForEachJetStream([](Target t) {
    REQUIRE(t.js.EnsureStream(Config()).ok());
    absl::StatusOr<JetStreamAck> first = Publish(t.js, Msg("a", 0));
    REQUIRE(first.ok());
    CHECK(first->sequence == 1);
    CHECK(absl::IsAborted(Publish(t.js, Msg("b", 0)).status()));
    absl::StatusOr<JetStreamInfo> info = t.js.StreamInfo("T");
    REQUIRE(info.ok());
    CHECK(info->last_sequence == 1);
  });
}

TEST_CASE("one bad expectation in a pipeline fails that publish and every one after it",
          "[replication][contract]") {
  ForEachJetStream([](Target t) {
    REQUIRE(t.js.EnsureStream(Config()).ok());
    for (int i = 0; i < 3; ++i) REQUIRE(Publish(t.js, Msg(absl::StrCat("pre-", i))).ok());
    const uint64_t s0 = 3;
    constexpr int kCount = 50;
    constexpr int kBad = 20;
    Results results(kCount);
    if (t.fake != nullptr) t.fake->HoldAcks(true);  // a real pipeline: nothing acknowledged yet
    for (int k = 0; k < kCount; ++k) {
      const uint64_t expect = k == kBad ? s0 + k + 1000 : s0 + k;
      PublishTo(t.js, Msg(Id(k), expect), results.Slot(k));
    }
    if (t.fake != nullptr) t.fake->HoldAcks(false);
    REQUIRE(t.js.WaitForPending(kBound).ok());
    REQUIRE(results.AllOnce());
    for (int k = 0; k < kCount; ++k) {
      INFO("publish " << k << ": " << results.at(k).status().ToString());
      if (k < kBad) {
        REQUIRE(results.at(k).ok());
        CHECK(results.at(k)->sequence == s0 + k + 1);
        CHECK_FALSE(results.at(k)->duplicate);
      } else {
        CHECK(absl::IsAborted(results.at(k).status()));
      }
    }
    absl::StatusOr<JetStreamInfo> info = t.js.StreamInfo("T");
    REQUIRE(info.ok());
    CHECK(info->last_sequence == s0 + kBad);
    CHECK(info->messages == s0 + kBad);
    for (int k = 0; k < kBad; ++k) {
      absl::StatusOr<JetStreamMessage> m = t.js.GetMessage("T", s0 + k + 1);
      REQUIRE(m.ok());
      CHECK(m->msg_id == Id(k));
    }
  });
}

TEST_CASE("a publish to a subject no stream listens on fails with kUnavailable",
          "[replication][contract]") {
  ForEachJetStream([](Target t) {
    REQUIRE(t.js.EnsureStream(Config()).ok());
    JetStreamPublish p = Msg("a");
    p.subject = "nobody.listens";
    absl::StatusOr<JetStreamAck> ack = Publish(t.js, std::move(p));
    INFO(ack.status().ToString());
    CHECK(absl::IsUnavailable(ack.status()));
  });
}

TEST_CASE("EnsureStream keeps a stream with the same subjects and replicas and refuses another",
          "[replication][contract]") {
  ForEachJetStream([](Target t) {
    REQUIRE(t.js.EnsureStream(Config()).ok());
    REQUIRE(Publish(t.js, Msg("a")).ok());
    CHECK(t.js.EnsureStream(Config()).ok());
    JetStreamConfig other = Config();
    other.subjects = {"u.>"};
    absl::Status st = t.js.EnsureStream(other);
    INFO(st.ToString());
    CHECK(absl::IsFailedPrecondition(st));
    CHECK(absl::StrContains(st.message(), "t.>"));
    CHECK(absl::StrContains(st.message(), "u.>"));
    JetStreamConfig replicated = Config();
    replicated.replicas = 3;
    st = t.js.EnsureStream(replicated);
    INFO(st.ToString());
    CHECK(absl::IsFailedPrecondition(st));
    // Kept as it was.
    absl::StatusOr<JetStreamInfo> info = t.js.StreamInfo("T");
    REQUIRE(info.ok());
    CHECK(info->messages == 1);
  });
}

TEST_CASE("Fetch from a middle sequence returns the messages in order and waits when none is there",
          "[replication][contract]") {
  ForEachJetStream([](Target t) {
    REQUIRE(t.js.EnsureStream(Config()).ok());
    for (int k = 0; k < 10; ++k) REQUIRE(Publish(t.js, Msg(Id(k))).ok());
    auto expect_run = [](const absl::StatusOr<std::vector<JetStreamMessage>>& got,
                         uint64_t first, size_t count) {
      INFO(got.status().ToString());
      REQUIRE(got.ok());
      REQUIRE(got->size() == count);
      for (size_t i = 0; i < count; ++i) {
        CHECK((*got)[i].sequence == first + i);
        CHECK((*got)[i].msg_id == Id(static_cast<int>(first + i - 1)));
      }
    };
    expect_run(t.js.Fetch("T", 4, 3, absl::Seconds(5)), 4, 3);
    expect_run(t.js.Fetch("T", 7, 100, absl::Seconds(5)), 7, 4);  // continues
    // Nothing there yet: an empty result after the (bounded) wait.
    absl::StatusOr<std::vector<JetStreamMessage>> none =
        t.js.Fetch("T", 11, 10, absl::Milliseconds(200));
    REQUIRE(none.ok());
    CHECK(none->empty());
    expect_run(t.js.Fetch("T", 2, 2, absl::Seconds(5)), 2, 2);  // back again

    // A message published while a Fetch waits is returned by it.
    std::promise<absl::StatusOr<std::vector<JetStreamMessage>>> waited;
    std::thread reader([&] { waited.set_value(t.js.Fetch("T", 11, 10, kBound)); });
    absl::StatusOr<JetStreamAck> ack = Publish(t.js, Msg(Id(10)));
    std::future<absl::StatusOr<std::vector<JetStreamMessage>>> result = waited.get_future();
    const bool ready =
        result.wait_for(absl::ToChronoSeconds(kBound + absl::Seconds(5))) == std::future_status::ready;
    reader.join();
    REQUIRE(ack.ok());
    REQUIRE(ready);
    expect_run(result.get(), 11, 1);
    CHECK(absl::IsNotFound(t.js.Fetch("NOPE", 1, 10, absl::Milliseconds(50)).status()));
  });
}

TEST_CASE("while the server is down, publishes and reads fail with kUnavailable, and work again "
          "once it is back",
          "[replication][contract]") {
  ForEachJetStream([](Target t) {
    REQUIRE(t.js.EnsureStream(Config()).ok());
    REQUIRE(Publish(t.js, Msg("a")).ok());
    if (t.fake != nullptr) t.fake->SetDown(true);
    if (t.server != nullptr) REQUIRE(t.server->Kill().ok());
    // A real client may not have noticed the crash for its first request,
    // which then times out instead.
    auto down = [](const absl::Status& st) {
      return absl::IsUnavailable(st) || absl::IsDeadlineExceeded(st);
    };
    JetStreamPublish p = Msg("b", 1);
    p.max_wait = absl::Seconds(1);
    absl::Status st = Publish(t.js, std::move(p)).status();
    INFO(st.ToString());
    CHECK(down(st));
    st = t.js.StreamInfo("T").status();
    INFO(st.ToString());
    CHECK(down(st));
    CHECK(down(t.js.GetMessage("T", 1).status()));
    CHECK(down(t.js.LastMessage("T").status()));
    CHECK(down(t.js.Fetch("T", 1, 10, absl::Milliseconds(100)).status()));
    // Now the client knows: a publish fails at once, with kUnavailable.
    if (t.server != nullptr) {
      absl::Status unavailable = Publish(t.js, Msg("b", 1)).status();
      INFO(unavailable.ToString());
      CHECK(absl::IsUnavailable(unavailable));
    }

    if (t.fake != nullptr) t.fake->SetDown(false);
    if (t.server != nullptr) REQUIRE(t.server->Restart().ok());
    REQUIRE(WaitConnected(t.js, "T").ok());
    // No expectation here: the first "b" may have been buffered by the
    // client before it noticed the crash, and replayed on reconnect.
    absl::StatusOr<JetStreamAck> ack = Publish(t.js, Msg("c"));
    INFO(ack.status().ToString());
    REQUIRE(ack.ok());
    CHECK(ack->sequence >= 2);
    absl::StatusOr<std::vector<JetStreamMessage>> all = t.js.Fetch("T", 1, 10, absl::Seconds(5));
    INFO(all.status().ToString());
    REQUIRE(all.ok());
    REQUIRE(all->size() == ack->sequence);
    CHECK(all->front().msg_id == "a");
    CHECK(all->back().msg_id == "c");
    CHECK(all->back().sequence == ack->sequence);
  });
}

// ---- nats-server only ----

TEST_CASE("a server killed with SIGKILL while 200 publishes are in flight completes every publish "
          "and keeps a prefix without gaps",
          "[replication][nats]") {
  std::unique_ptr<NatsServer> server = StartServer();
  std::unique_ptr<NatsJetStream> js = Connect(*server);
  REQUIRE(js->EnsureStream(Config()).ok());
  constexpr int kCount = 200;
  Results results(kCount);
  for (int k = 0; k < kCount; ++k) {
    // Half sent, and the server is storing them: kill it.
    if (k == kCount / 2) {
      REQUIRE(results.WaitForAnAck());
      REQUIRE(server->Kill().ok());
    }
    // Large enough that the server is still storing when it dies.
    JetStreamPublish p = Msg(Id(k), static_cast<uint64_t>(k), std::string(64 << 10, 'a' + k % 26));
    p.max_wait = absl::Seconds(2);
    PublishTo(*js, std::move(p), results.Slot(k));
  }
  REQUIRE(js->WaitForPending(kBound).ok());
  REQUIRE(results.AllOnce());
  int acked = 0;
  for (int k = 0; k < kCount; ++k) {
    const absl::StatusOr<JetStreamAck> r = results.at(k);
    INFO("publish " << k << ": " << r.status().ToString());
    if (r.ok()) {
      ++acked;
      CHECK(r->sequence == static_cast<uint64_t>(k) + 1);
      CHECK_FALSE(r->duplicate);
    } else {
      CHECK((absl::IsUnavailable(r.status()) || absl::IsDeadlineExceeded(r.status())));
    }
  }

  REQUIRE(server->Restart().ok());
  // Read through a new connection; the old one reconnects by itself (and
  // may replay what it had buffered, which the expectations keep in order).
  std::unique_ptr<NatsJetStream> reader = Connect(*server);
  absl::StatusOr<JetStreamInfo> info = reader->StreamInfo("T");
  REQUIRE(info.ok());
  const uint64_t n = info->last_sequence;
  INFO("stored " << n << ", acknowledged " << acked);
  CHECK(n >= static_cast<uint64_t>(acked));
  CHECK(n <= static_cast<uint64_t>(kCount));
  CHECK(info->first_sequence == (n == 0 ? 0 : 1));
  for (uint64_t seq = 1; seq <= n; ++seq) {
    absl::StatusOr<JetStreamMessage> m = reader->GetMessage("T", seq);
    REQUIRE(m.ok());
    CHECK(m->msg_id == Id(static_cast<int>(seq - 1)));
  }
  absl::StatusOr<std::vector<JetStreamMessage>> fetched =
      reader->Fetch("T", 1, kCount, absl::Seconds(5));
  REQUIRE(fetched.ok());
  CHECK(fetched->size() >= std::min<size_t>(n, 1));

  // The old connection is back.
  REQUIRE(WaitConnected(*js, "T").ok());
  absl::StatusOr<JetStreamAck> after = Publish(*js, Msg("after-restart"));
  INFO(after.status().ToString());
  REQUIRE(after.ok());
  CHECK(after->sequence > n);
  CHECK(js->WaitForPending(kBound).ok());
}

TEST_CASE("connecting to a port nothing listens on fails promptly with an error naming the URL",
          "[replication][nats]") {
  absl::StatusOr<std::vector<int>> ports = testing::PickFreePorts(1);
  REQUIRE(ports.ok());
  NatsConnectOptions options;
  options.url = absl::StrCat("nats://127.0.0.1:", (*ports)[0]);
  options.connect_timeout = absl::Seconds(1);
  // It returns (a hang would run into the test's timeout instead); no
  // timing is asserted.
  absl::StatusOr<std::unique_ptr<NatsJetStream>> js = NatsJetStream::Connect(options);
  REQUIRE_FALSE(js.ok());
  INFO(js.status().ToString());
  CHECK(absl::IsUnavailable(js.status()));
  CHECK(absl::StrContains(js.status().message(), options.url));
}

TEST_CASE("a wrong password is refused with an error naming the server but not the password",
          "[replication][nats]") {
  NatsServerOptions options;
  options.config = "authorization {\n  user: engram\n  password: \"right-password\"\n}\n";
  std::unique_ptr<NatsServer> server = StartServer(options);
  NatsConnectOptions o = ConnectOptions(*server);
  o.user = "engram";
  o.password = "wrong-password";
  absl::StatusOr<std::unique_ptr<NatsJetStream>> js = NatsJetStream::Connect(o);
  REQUIRE_FALSE(js.ok());
  INFO(js.status().ToString());
  CHECK(absl::IsUnauthenticated(js.status()));
  CHECK(absl::StrContains(js.status().message(), server->url()));
  CHECK_FALSE(absl::StrContains(js.status().ToString(), "wrong-password"));

  // Credentials in the URL are not shown either.
  o.user.clear();
  o.password.clear();
  o.url = absl::StrCat("nats://engram:wrong-password@127.0.0.1:", server->port());
  js = NatsJetStream::Connect(o);
  REQUIRE_FALSE(js.ok());
  INFO(js.status().ToString());
  CHECK(absl::StrContains(js.status().message(), server->url()));
  CHECK_FALSE(absl::StrContains(js.status().ToString(), "wrong-password"));

  o = ConnectOptions(*server);
  o.user = "engram";
  o.password = "right-password";
  js = NatsJetStream::Connect(o);
  INFO(js.status().ToString());
  REQUIRE(js.ok());
  CHECK((*js)->EnsureStream(Config()).ok());
}

TEST_CASE("a publish whose acknowledgement never comes completes with kDeadlineExceeded after its "
          "max_wait",
          "[replication][nats]") {
  std::unique_ptr<NatsServer> server = StartServer();
  std::unique_ptr<NatsJetStream> js = Connect(*server);
  REQUIRE(js->EnsureStream(Config()).ok());
  server->Pause();
  JetStreamPublish p = Msg("a");
  p.max_wait = absl::Milliseconds(300);
  absl::StatusOr<JetStreamAck> ack = Publish(*js, std::move(p));
  server->Resume();
  INFO(ack.status().ToString());
  CHECK(absl::IsDeadlineExceeded(ack.status()));
  CHECK(js->WaitForPending(kBound).ok());
}

TEST_CASE("destroying the client completes the publishes still awaiting their acknowledgement",
          "[replication][nats]") {
  std::unique_ptr<NatsServer> server = StartServer();
  std::unique_ptr<NatsJetStream> js = Connect(*server);
  REQUIRE(js->EnsureStream(Config()).ok());
  server->Pause();
  constexpr int kCount = 20;
  Results results(kCount);
  for (int k = 0; k < kCount; ++k) {
    JetStreamPublish p = Msg(Id(k));
    p.max_wait = absl::Seconds(60);
    PublishTo(*js, std::move(p), results.Slot(k));
  }
  CHECK(absl::IsDeadlineExceeded(js->WaitForPending(absl::Milliseconds(100))));
  js.reset();
  // Every done ran before the destructor returned.
  REQUIRE(results.AllOnce());
  for (int k = 0; k < kCount; ++k) {
    INFO("publish " << k << ": " << results.at(k).status().ToString());
    CHECK(absl::IsCancelled(results.at(k).status()));
  }
  server->Resume();
}

TEST_CASE("a publish beyond max_pending fails with kUnavailable and nothing is sent",
          "[replication][nats]") {
  std::unique_ptr<NatsServer> server = StartServer();
  NatsConnectOptions options = ConnectOptions(*server);
  options.max_pending = 10;
  std::unique_ptr<NatsJetStream> js = Connect(options);
  REQUIRE(js->EnsureStream(Config()).ok());
  server->Pause();  // no acknowledgement comes back
  constexpr int kCount = 13;
  Results results(kCount);
  for (int k = 0; k < kCount; ++k) {
    JetStreamPublish p = Msg(Id(k), static_cast<uint64_t>(k));
    p.max_wait = absl::Seconds(60);
    PublishTo(*js, std::move(p), results.Slot(k));
  }
  // The last three found no room (each after waiting 200 ms for some).
  REQUIRE(results.WaitForCompleted(kCount - 10));
  for (int k = 10; k < kCount; ++k) {
    INFO("publish " << k << ": " << results.at(k).status().ToString());
    CHECK(absl::IsUnavailable(results.at(k).status()));
  }
  server->Resume();
  REQUIRE(js->WaitForPending(kBound).ok());
  REQUIRE(results.AllOnce());
  for (int k = 0; k < 10; ++k) {
    INFO("publish " << k << ": " << results.at(k).status().ToString());
    REQUIRE(results.at(k).ok());
    CHECK(results.at(k)->sequence == static_cast<uint64_t>(k) + 1);
  }
  absl::StatusOr<JetStreamInfo> info = js->StreamInfo("T");
  REQUIRE(info.ok());
  CHECK(info->last_sequence == 10);
}

TEST_CASE("a three-server cluster keeps a replicas-3 stream when one server dies",
          "[replication][nats][cluster]") {
  absl::StatusOr<std::unique_ptr<testing::NatsCluster>> cluster = testing::NatsCluster::Start(3);
  if (!cluster.ok()) FAIL("cannot start a nats-server cluster: " << cluster.status().ToString());
  NatsConnectOptions o;
  o.url = (*cluster)->url();
  absl::StatusOr<std::unique_ptr<NatsJetStream>> connected = NatsJetStream::Connect(o);
  INFO(connected.status().ToString());
  REQUIRE(connected.ok());
  NatsJetStream& js = **connected;
  JetStreamConfig config = Config();
  config.replicas = 3;
  absl::Status ensured = js.EnsureStream(config);
  INFO(ensured.ToString());
  REQUIRE(ensured.ok());
  for (int k = 0; k < 10; ++k) {
    absl::StatusOr<JetStreamAck> ack = Publish(js, Msg(Id(k), static_cast<uint64_t>(k)));
    INFO(ack.status().ToString());
    REQUIRE(ack.ok());
    CHECK(ack->sequence == static_cast<uint64_t>(k) + 1);
  }
  absl::StatusOr<JetStreamInfo> info = js.StreamInfo("T");
  REQUIRE(info.ok());
  CHECK(info->replicas == 3);

  REQUIRE((*cluster)->server(0).Kill().ok());
  // The stream may have lost its leader (and the client its server): until
  // a new one is elected publishes fail; retry the same id, bounded.
  const absl::Time deadline = absl::Now() + kBound;
  absl::StatusOr<JetStreamAck> ack = absl::UnavailableError("not yet");
  while (!ack.ok() && absl::Now() < deadline) {
    JetStreamPublish p = Msg(Id(10), uint64_t{10});
    p.max_wait = absl::Seconds(2);
    ack = Publish(js, std::move(p));
    if (!ack.ok()) {
      INFO(ack.status().ToString());
      REQUIRE((absl::IsUnavailable(ack.status()) || absl::IsDeadlineExceeded(ack.status())));
      absl::SleepFor(absl::Milliseconds(50));  // an election; nothing signals it
    }
  }
  INFO(ack.status().ToString());
  REQUIRE(ack.ok());
  CHECK(ack->sequence == 11);  // the first attempt that was stored, or a duplicate of it
  // Read it all back as a follower would: Fetch in a loop, from where the
  // last one ended. Fetch may need a new consumer, which the meta leader
  // (perhaps in an election too) creates; it reads from the stream leader
  // meanwhile, fewer at a time. Errors are retried, bounded.
  std::vector<JetStreamMessage> all;
  while (all.size() < 11 && absl::Now() < deadline) {
    absl::StatusOr<std::vector<JetStreamMessage>> got =
        js.Fetch("T", all.size() + 1, 100, absl::Seconds(5));
    if (!got.ok()) {
      INFO(got.status().ToString());
      REQUIRE((absl::IsUnavailable(got.status()) || absl::IsDeadlineExceeded(got.status())));
      continue;
    }
    for (JetStreamMessage& m : *got) {
      REQUIRE(m.sequence == all.size() + 1);
      all.push_back(std::move(m));
    }
  }
  REQUIRE(all.size() == 11);
  for (int k = 0; k < 11; ++k) CHECK(all[k].msg_id == Id(k));
}

}  // namespace
}  // namespace engram
