// The remote follower's copy of a replication stream (in-memory JetStream):
// byte for byte the leader's journal, resumed after a restart, and every
// bad message (damage, a gap, an LSN twice, a falling epoch, another
// journal) refused with the sequence named, before anything of it is
// appended.
#include "engram/replication/stream_follower.h"

#include <catch2/catch.hpp>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "engram/journal/journal.h"
#include "engram/journal/reader.h"
#include "engram/replication/fake_jet_stream.h"
#include "engram/replication/jet_stream_replicator.h"
#include "replication/internal/replicated_message.h"
#include "tests/temp_dir.h"

namespace engram {
namespace {

using testing::TempDir;

constexpr char kStream[] = "ENGRAM_F";

// A leader journal at kReplicated writing into a fake stream.
struct Leader {
  std::shared_ptr<FakeJetStream> js = std::make_shared<FakeJetStream>();
  TempDir dir;
  std::unique_ptr<Journal> journal;
  explicit Leader(size_t max_message_bytes = 1 << 10) {
    JetStreamConfig c;
    c.name = kStream;
    c.subjects = {"engram.f"};
    REQUIRE(js->EnsureStream(c).ok());
    Open(max_message_bytes);
  }
  void Open(size_t max_message_bytes = 1 << 10) {
    JetStreamReplicatorOptions r;
    r.stream = kStream;
    r.subject = "engram.f";
    r.max_message_bytes = max_message_bytes;
    JournalOptions o;
    o.segment_size = 32 << 10;
    o.durability = Durability::kReplicated;
    o.record_epochs = true;
    o.replicator = std::make_shared<JetStreamReplicator>(js, r);
    auto j = Journal::Open(dir.path(), o);
    REQUIRE(j.ok());
    journal = *std::move(j);
  }
  uint64_t Write(int n, const std::string& tag) {
    uint64_t last = 0;
    for (int i = 0; i < n; ++i) {
      const std::string payload = absl::StrCat(tag, "-", i, std::string(i % 50, 'x'));
      RecordInput r;
      r.stream_id = 1 + i % 3;
      r.type_id = 5;
      r.payload = payload;
      if (i % 7 == 0) {
        RecordInput batch[3] = {r, r, r};
        last = journal->AppendBatch(batch).value() + 2;
      } else {
        last = journal->Append(r).value();
      }
    }
    REQUIRE(journal->WaitDurable(last, absl::Seconds(20)).ok());
    return last;
  }
};

// The copy holds exactly the leader's records, byte for byte.
void CheckSameRecords(const std::string& a, const std::string& b) {
  auto ra = Reader::Open(a, 1);
  auto rb = Reader::Open(b, 1);
  REQUIRE(ra.ok());
  REQUIRE(rb.ok());
  uint64_t n = 0;
  for (;;) {
    RecordView va, vb;
    auto ga = (*ra)->Next(&va);
    auto gb = (*rb)->Next(&vb);
    REQUIRE(ga.ok());
    REQUIRE(gb.ok());
    REQUIRE(*ga == *gb);
    if (!*ga) break;
    REQUIRE(va.lsn == vb.lsn);
    REQUIRE(va.bytes == vb.bytes);
    ++n;
  }
  CHECK(n > 0);
}

StreamFollower::Options FollowerOptions() {
  StreamFollower::Options o;
  o.stream = kStream;
  o.fetch_batch = 7;
  o.journal.segment_size = 16 << 10;  // rolls at other places than the leader's
  return o;
}

TEST_CASE("a stream follower's copy is the leader's journal byte for byte, across restarts",
          "[replication]") {
  Leader leader;
  leader.Write(200, "one");
  TempDir copy;
  {
    auto f = StreamFollower::Open(leader.js, copy.path(), FollowerOptions());
    REQUIRE(f.ok());
    CHECK((*f)->journal_id() == leader.journal->journal_id());
    auto info = leader.js->StreamInfo(kStream);
    REQUIRE(info.ok());
    REQUIRE((*f)->CatchUpTo(info->last_sequence, absl::Seconds(20)).ok());
    CHECK((*f)->last_lsn() == leader.journal->last_lsn());
    CHECK((*f)->last_epoch() == 1);
  }
  // The leader goes on in a second tenure; the restarted follower resumes.
  REQUIRE(leader.journal->Close().ok());
  leader.Open();
  const uint64_t last = leader.Write(150, "two");
  {
    auto f = StreamFollower::Open(leader.js, copy.path(), FollowerOptions());
    REQUIRE(f.ok());
    auto info = leader.js->StreamInfo(kStream);
    REQUIRE(info.ok());
    REQUIRE((*f)->CatchUpTo(info->last_sequence, absl::Seconds(20)).ok());
    CHECK((*f)->last_lsn() == last);
    CHECK((*f)->last_epoch() == 2);
    REQUIRE((*f)->Close().ok());
  }
  REQUIRE(leader.journal->Close().ok());
  CheckSameRecords(leader.dir.path(), copy.path());
}

// A message like the stream's last one, altered by `edit`, appended as if
// another writer had published it.
void AppendAltered(Leader& leader, const std::function<void(JetStreamMessage&)>& edit) {
  auto last = leader.js->LastMessage(kStream);
  REQUIRE(last.ok());
  REQUIRE(last->has_value());
  JetStreamMessage m = **last;
  edit(m);
  leader.js->AppendExternal(kStream, m);
}

TEST_CASE("a stream follower refuses a bad message and keeps what came before it",
          "[replication]") {
  Leader leader;
  leader.Write(40, "base");
  REQUIRE(leader.journal->Close().ok());
  std::string expect;
  SECTION("a damaged record") {
    AppendAltered(leader, [](JetStreamMessage& m) { m.data[m.data.size() - 1] ^= 1; });
    expect = "checksum mismatch";
  }
  SECTION("the same LSNs twice") {
    AppendAltered(leader, [](JetStreamMessage&) {});
    expect = "twice";
  }
  SECTION("an epoch that falls") {
    AppendAltered(leader, [&](JetStreamMessage& m) {
      auto id = internal::ParseMessageId(m.msg_id).value();
      auto records = internal::ParseReplicatedRecords(m.data, "t").value();
      id.epoch = 0;
      id.first_lsn = records.last_lsn + 1;
      m.msg_id = internal::FormatMessageId(id);
    });
    expect = "epochs must not decrease";
  }
  SECTION("another journal's message") {
    AppendAltered(leader, [&](JetStreamMessage& m) {
      auto id = internal::ParseMessageId(m.msg_id).value();
      id.journal_id ^= 0xff;
      m.msg_id = internal::FormatMessageId(id);
    });
    expect = "holds journal";
  }
  TempDir copy;
  auto f = StreamFollower::Open(leader.js, copy.path(), FollowerOptions());
  REQUIRE(f.ok());
  auto info = leader.js->StreamInfo(kStream);
  REQUIRE(info.ok());
  absl::Status s = (*f)->CatchUpTo(info->last_sequence, absl::Seconds(20));
  INFO(s.ToString());
  REQUIRE_FALSE(s.ok());
  CHECK(absl::StrContains(s.message(), expect));
  CHECK(absl::StrContains(s.message(), absl::StrCat("sequence ", info->last_sequence)));
  CHECK((*f)->last_lsn() == leader.journal->last_lsn());  // everything before it
  CHECK((*f)->last_sequence() == info->last_sequence - 1);
}

TEST_CASE("a copy that was written to after copying is not taken for the stream's",
          "[replication]") {
  Leader leader;
  leader.Write(30, "base");
  TempDir copy;
  {
    auto f = StreamFollower::Open(leader.js, copy.path(), FollowerOptions());
    REQUIRE(f.ok());
    auto info = leader.js->StreamInfo(kStream);
    REQUIRE((*f)->CatchUpTo(info->last_sequence, absl::Seconds(20)).ok());
    REQUIRE((*f)->Close().ok());
  }
  {
    // A writer of its own on the copy (as `bank check` would be).
    JournalOptions o;
    o.record_epochs = true;
    auto j = Journal::Open(copy.path(), o);
    REQUIRE(j.ok());
    REQUIRE((*j)->Close().ok());
  }
  auto f = StreamFollower::Open(leader.js, copy.path(), FollowerOptions());
  REQUIRE(absl::IsFailedPrecondition(f.status()));
  CHECK(absl::StrContains(f.status().message(), "not a copy of this stream"));
}

}  // namespace
}  // namespace engram
