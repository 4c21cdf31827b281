// The fake's own fault injection; the JetStream semantics it shares with a
// real server are in jet_stream_contract_test.cc.
#include "engram/replication/fake_jet_stream.h"

#include <atomic>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

namespace engram {
namespace {

JetStreamConfig Config() {
  JetStreamConfig c;
  c.name = "T";
  c.subjects = {"t.>"};
  return c;
}

JetStreamPublish Msg(const std::string& id, std::optional<uint64_t> expect = std::nullopt) {
  JetStreamPublish p;
  p.subject = "t.x";
  p.msg_id = id;
  p.expected_last_sequence = expect;
  p.data = "data-" + id;
  return p;
}

TEST_CASE("a lost acknowledgement still stores the message and times out", "[replication]") {
  FakeJetStream js;
  REQUIRE(js.EnsureStream(Config()).ok());
  js.LoseAcks(1);
  absl::Status got;
  js.PublishAsync(Msg("a"), [&](absl::StatusOr<JetStreamAck> ack) { got = ack.status(); });
  REQUIRE(js.WaitForPending(absl::Seconds(10)).ok());
  CHECK(absl::IsDeadlineExceeded(got));
  CHECK(js.stored_count() == 1);
  auto last = js.LastMessage("T");
  REQUIRE(last.ok());
  REQUIRE(last->has_value());
  CHECK((*last)->msg_id == "a");
  // Published again under its id, it is a duplicate of what was stored.
  absl::StatusOr<JetStreamAck> again;
  js.PublishAsync(Msg("a", 0), [&](absl::StatusOr<JetStreamAck> ack) { again = ack; });
  REQUIRE(js.WaitForPending(absl::Seconds(10)).ok());
  REQUIRE(again.ok());
  CHECK(again->duplicate);
  CHECK(again->sequence == 1);
}

TEST_CASE("acknowledgements run in publish order on another thread, also when held",
          "[replication]") {
  FakeJetStream js;
  REQUIRE(js.EnsureStream(Config()).ok());
  js.HoldAcks(true);
  const std::thread::id caller = std::this_thread::get_id();
  std::vector<uint64_t> order;
  std::atomic<bool> on_caller{false};
  for (int i = 0; i < 20; ++i) {
    js.PublishAsync(Msg(std::to_string(i), i), [&](absl::StatusOr<JetStreamAck> ack) {
      if (std::this_thread::get_id() == caller) on_caller = true;
      order.push_back(ack.ok() ? ack->sequence : 0);
    });
  }
  CHECK(absl::IsDeadlineExceeded(js.WaitForPending(absl::Milliseconds(20))));
  CHECK(js.stored_count() == 20);  // stored at once, only the acks wait
  js.HoldAcks(false);
  REQUIRE(js.WaitForPending(absl::Seconds(10)).ok());
  CHECK_FALSE(on_caller.load());
  REQUIRE(order.size() == 20);
  for (size_t i = 0; i < order.size(); ++i) CHECK(order[i] == i + 1);
}

TEST_CASE("a down server refuses publishes and reads, and keeps what it stored",
          "[replication]") {
  FakeJetStream js;
  REQUIRE(js.EnsureStream(Config()).ok());
  js.PublishAsync(Msg("a"), [](absl::StatusOr<JetStreamAck>) {});
  js.SetDown(true);
  absl::Status got;
  js.PublishAsync(Msg("b"), [&](absl::StatusOr<JetStreamAck> ack) { got = ack.status(); });
  REQUIRE(js.WaitForPending(absl::Seconds(10)).ok());
  CHECK(absl::IsUnavailable(got));
  CHECK(absl::IsUnavailable(js.LastMessage("T").status()));
  js.SetDown(false);
  auto info = js.StreamInfo("T");
  REQUIRE(info.ok());
  CHECK(info->last_sequence == 1);
}

TEST_CASE("a message appended by another writer moves the expected sequence on",
          "[replication]") {
  FakeJetStream js;
  REQUIRE(js.EnsureStream(Config()).ok());
  JetStreamMessage other;
  other.subject = "t.x";
  other.msg_id = "other";
  CHECK(js.AppendExternal("T", other) == 1);
  absl::Status got;
  js.PublishAsync(Msg("mine", 0), [&](absl::StatusOr<JetStreamAck> ack) { got = ack.status(); });
  REQUIRE(js.WaitForPending(absl::Seconds(10)).ok());
  CHECK(absl::IsAborted(got));
}

}  // namespace
}  // namespace engram
