// kReplicated on a replicas-3 stream of a 3-server nats-server cluster on
// loopback: the stream leader is killed (a new one is elected and
// replication goes on), then one follower, then a second server (no quorum:
// the block policy refuses new appends naming the lag); the servers come
// back and everything appended is replicated once, in order, which a
// StreamFollower copy of the stream checks message by message.
#include <catch2/catch.hpp>

#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "engram/journal/journal.h"
#include "engram/replication/jet_stream_replicator.h"
#include "engram/replication/nats_jet_stream.h"
#include "engram/replication/stream_follower.h"
#include "tests/replication/nats_server.h"
#include "tests/temp_dir.h"

namespace engram {
namespace {

using testing::NatsCluster;
using testing::TempDir;

constexpr char kStream[] = "R3";

// The index (0..2) of the server leading the stream, or -1.
int LeaderIndex(JetStream& js) {
  auto info = js.StreamInfo(kStream);
  if (!info.ok() || info->leader.size() != 2 || info->leader[0] != 'n') return -1;
  return info->leader[1] - '1';
}

TEST_CASE("a replicas-3 stream rides out its leader's death and blocks without a quorum",
          "[replication][cluster]") {
  TempDir tmp;
  auto cluster = NatsCluster::Start(3);
  INFO((cluster.ok() ? std::string() : cluster.status().ToString()));
  REQUIRE(cluster.ok());
  NatsConnectOptions nats;
  nats.url = (*cluster)->url();
  auto connected = NatsJetStream::Connect(nats);
  REQUIRE(connected.ok());
  std::shared_ptr<JetStream> js(*std::move(connected));
  JetStreamConfig config;
  config.name = kStream;
  config.subjects = {"engram.r3"};
  config.replicas = 3;
  REQUIRE(js->EnsureStream(config).ok());

  JetStreamReplicatorOptions r;
  r.stream = kStream;
  r.subject = "engram.r3";
  r.max_wait = absl::Seconds(2);
  r.retry_backoff = absl::Milliseconds(20);
  r.outage = ReplicationOutagePolicy::kBlock;
  r.max_unreplicated_bytes = 32 << 10;
  r.stop_timeout = absl::Seconds(60);
  auto replicator = std::make_shared<JetStreamReplicator>(js, r);
  JournalOptions o;
  o.durability = Durability::kReplicated;
  o.record_epochs = true;
  o.replicator = replicator;
  auto journal = Journal::Open(tmp.Sub("journal"), o);
  REQUIRE(journal.ok());
  Journal& j = **journal;
  const std::string payload(100, 'c');
  RecordInput rec;
  rec.stream_id = 1;
  rec.type_id = 1;
  rec.payload = payload;
  auto append = [&](int n) {
    uint64_t last = 0;
    for (int i = 0; i < n; ++i) last = j.Append(rec).value();
    return last;
  };

  REQUIRE(j.WaitDurable(append(100), absl::Seconds(60)).ok());

  // The stream leader dies: a new one is elected, replication goes on.
  const int leader = LeaderIndex(*js);
  INFO("stream leader: n" << leader + 1);
  REQUIRE(leader >= 0);
  REQUIRE((*cluster)->server(leader).Kill().ok());
  REQUIRE(j.WaitDurable(append(100), absl::Seconds(60)).ok());
  REQUIRE((*cluster)->server(leader).Restart().ok());

  // One follower dies: two of three are a quorum.
  int follower = -1;
  for (int i = 0; i < 3 && follower < 0; ++i) {
    if (i != LeaderIndex(*js)) follower = i;
  }
  REQUIRE(follower >= 0);
  REQUIRE((*cluster)->server(follower).Kill().ok());
  REQUIRE(j.WaitDurable(append(100), absl::Seconds(60)).ok());

  // A second server dies: no quorum, nothing is acknowledged, and past the
  // lag limit new appends are refused.
  const int second = (follower + 1) % 3;
  REQUIRE((*cluster)->server(second).Kill().ok());
  absl::Status refused;
  uint64_t last = 0;
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (absl::Now() < deadline) {
    auto lsn = j.Append(rec);
    if (!lsn.ok()) {
      refused = lsn.status();
      break;
    }
    last = *lsn;
    absl::SleepFor(absl::Milliseconds(2));
  }
  INFO(refused.ToString());
  REQUIRE(absl::IsUnavailable(refused));
  CHECK(absl::StrContains(refused.message(), "replication lag"));
  CHECK(j.durable_lsn() < last);

  // Back: everything appended is replicated, and appends are taken again.
  REQUIRE((*cluster)->server(second).Restart().ok());
  REQUIRE((*cluster)->server(follower).Restart().ok());
  REQUIRE(j.WaitDurable(last, absl::Seconds(120)).ok());
  absl::StatusOr<uint64_t> after = absl::UnavailableError("not yet");
  const absl::Time again = absl::Now() + absl::Seconds(60);
  while (!after.ok() && absl::Now() < again) {
    after = j.Append(rec);
    if (!after.ok()) absl::SleepFor(absl::Milliseconds(10));
  }
  REQUIRE(after.ok());
  REQUIRE(j.WaitDurable(*after, absl::Seconds(60)).ok());
  CHECK(replicator->state().errors > 0);
  REQUIRE(j.Close().ok());

  // The stream holds every LSN once, in order: a copy of it checks each
  // message's LSNs against the last (a gap or a repeat fails it).
  StreamFollower::Options fo;
  fo.stream = kStream;
  auto copy = StreamFollower::Open(js, tmp.Sub("copy"), fo);
  REQUIRE(copy.ok());
  auto info = js->StreamInfo(kStream);
  REQUIRE(info.ok());
  REQUIRE((*copy)->CatchUpTo(info->last_sequence, absl::Seconds(60)).ok());
  CHECK((*copy)->last_lsn() == *after);
}

}  // namespace
}  // namespace engram
