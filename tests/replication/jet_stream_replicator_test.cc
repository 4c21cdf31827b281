// Durability::kReplicated against the in-memory JetStream: durable means
// acknowledged by the stream; every LSN reaches the stream once, in order,
// whatever fails; a restarted writer resumes after the stream's tail; a
// newer epoch or another journal in the stream stops the writer.
#include "engram/replication/jet_stream_replicator.h"

#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "engram/base/internal/mutex.h"
#include "engram/journal/journal.h"
#include "engram/journal/reader.h"
#include "engram/replication/fake_jet_stream.h"
#include "replication/internal/replicated_message.h"
#include "tests/temp_dir.h"

namespace engram {
namespace {

using testing::TempDir;

constexpr char kStream[] = "ENGRAM_T";

struct Rig {
  std::shared_ptr<FakeJetStream> js = std::make_shared<FakeJetStream>();
  JetStreamReplicatorOptions options;
  Rig() {
    JetStreamConfig c;
    c.name = kStream;
    c.subjects = {"engram.t.>"};
    REQUIRE(js->EnsureStream(c).ok());
    options.stream = kStream;
    options.subject = "engram.t.journal";
    options.retry_backoff = absl::Milliseconds(1);
    options.stop_timeout = absl::Seconds(20);
  }
  JournalOptions Journal(std::shared_ptr<JetStreamReplicator>* out = nullptr) {
    auto r = std::make_shared<JetStreamReplicator>(js, options);
    if (out != nullptr) *out = r;
    JournalOptions o;
    o.segment_size = 64 << 10;
    o.durability = Durability::kReplicated;
    o.record_epochs = true;
    o.replicator = r;
    return o;
  }
};

RecordInput Rec(uint64_t stream, const std::string& payload) {
  RecordInput r;
  r.stream_id = stream;
  r.type_id = 7;
  r.payload = payload;
  return r;
}

// Every LSN from 1 to `last` in the stream exactly once, in order, each
// byte for byte as the journal in `dir` holds it.
void CheckStreamMirrorsJournal(FakeJetStream& js, const std::string& dir, uint64_t last) {
  auto info = js.StreamInfo(kStream);
  REQUIRE(info.ok());
  auto reader = Reader::Open(dir, 1);
  REQUIRE(reader.ok());
  uint64_t next = 1;
  for (uint64_t seq = 1; seq <= info->last_sequence; ++seq) {
    auto m = js.GetMessage(kStream, seq);
    REQUIRE(m.ok());
    auto id = internal::ParseMessageId(m->msg_id);
    REQUIRE(id.ok());
    auto records = internal::ParseReplicatedRecords(m->data, "test");
    REQUIRE(records.ok());
    REQUIRE(records->first_lsn == next);
    CHECK(id->first_lsn == next);
    for (const RecordView& r : records->records) {
      RecordView local;
      auto got = (*reader)->Next(&local);
      REQUIRE(got.ok());
      REQUIRE(*got);
      REQUIRE(local.lsn == r.lsn);
      REQUIRE(local.bytes == r.bytes);
    }
    next = records->last_lsn + 1;
  }
  CHECK(next == last + 1);
}

TEST_CASE("at kReplicated a record is durable only once the stream acknowledged it",
          "[replication]") {
  TempDir dir;
  Rig rig;
  std::shared_ptr<JetStreamReplicator> replicator;
  auto j = Journal::Open(dir.path(), rig.Journal(&replicator));
  REQUIRE(j.ok());
  REQUIRE((*j)->WaitDurable(1, absl::Seconds(20)).ok());  // the epoch record
  rig.js->HoldAcks(true);
  auto lsn = (*j)->Append(Rec(1, "held"));
  REQUIRE(lsn.ok());
  CHECK(absl::IsDeadlineExceeded((*j)->WaitDurable(*lsn, absl::Milliseconds(50))));
  CHECK((*j)->durable_lsn() < *lsn);
  // Synced here all the same: the stream got it (its ack is what waits).
  CHECK(rig.js->stored_count() >= 2);
  rig.js->HoldAcks(false);
  REQUIRE((*j)->WaitDurable(*lsn, absl::Seconds(20)).ok());
  CHECK(replicator->state().replicated_lsn >= *lsn);
  REQUIRE((*j)->Close().ok());
  CheckStreamMirrorsJournal(*rig.js, dir.path(), *lsn);
}

TEST_CASE("a batch is never split across messages", "[replication]") {
  TempDir dir;
  Rig rig;
  rig.options.max_message_bytes = 300;  // a few records per message
  auto j = Journal::Open(dir.path(), rig.Journal());
  REQUIRE(j.ok());
  std::vector<std::string> payloads(12, std::string(40, 'b'));
  std::vector<RecordInput> batch;
  for (const auto& p : payloads) batch.push_back(Rec(2, p));
  uint64_t last = 0;
  for (int i = 0; i < 5; ++i) {
    REQUIRE((*j)->Append(Rec(1, std::string(100, 's'))).ok());
    auto first = (*j)->AppendBatch(batch);
    REQUIRE(first.ok());
    last = *first + batch.size() - 1;
  }
  REQUIRE((*j)->WaitDurable(last, absl::Seconds(20)).ok());
  REQUIRE((*j)->Close().ok());
  // ParseReplicatedRecords refuses a message that cuts a batch.
  CheckStreamMirrorsJournal(*rig.js, dir.path(), last);
  auto info = rig.js->StreamInfo(kStream);
  REQUIRE(info.ok());
  CHECK(info->last_sequence >= 6);  // more than one message
}

TEST_CASE("lost acknowledgements and a server outage leave no LSN missing or twice",
          "[replication]") {
  TempDir dir;
  Rig rig;
  rig.options.max_message_bytes = 200;
  std::shared_ptr<JetStreamReplicator> replicator;
  auto j = Journal::Open(dir.path(), rig.Journal(&replicator));
  REQUIRE(j.ok());
  uint64_t last = 0;
  for (int round = 0; round < 20; ++round) {
    if (round % 5 == 1) rig.js->LoseAcks(3);
    if (round % 5 == 3) rig.js->SetDown(true);
    for (int i = 0; i < 25; ++i) {
      auto lsn = (*j)->Append(Rec(1, absl::StrCat("r", round, "i", i)));
      REQUIRE(lsn.ok());
      last = *lsn;
    }
    if (round % 5 == 3) {
      CHECK(absl::IsDeadlineExceeded((*j)->WaitDurable(last, absl::Milliseconds(30))));
      rig.js->SetDown(false);
    }
    REQUIRE((*j)->WaitDurable(last, absl::Seconds(20)).ok());
  }
  CHECK(replicator->state().errors > 0);
  REQUIRE((*j)->Close().ok());
  CheckStreamMirrorsJournal(*rig.js, dir.path(), last);
}

TEST_CASE("a reopened journal resumes after the stream's tail in its next epoch",
          "[replication]") {
  TempDir dir;
  Rig rig;
  uint64_t last = 0;
  for (int tenure = 1; tenure <= 3; ++tenure) {
    auto j = Journal::Open(dir.path(), rig.Journal());
    REQUIRE(j.ok());
    CHECK((*j)->epoch() == static_cast<uint64_t>(tenure));
    for (int i = 0; i < 30; ++i) {
      auto lsn = (*j)->Append(Rec(1, absl::StrCat("t", tenure, "-", i)));
      REQUIRE(lsn.ok());
      last = *lsn;
    }
    REQUIRE((*j)->WaitDurable(last, absl::Seconds(20)).ok());
    REQUIRE((*j)->Close().ok());
  }
  CheckStreamMirrorsJournal(*rig.js, dir.path(), last);
  auto tail = rig.js->LastMessage(kStream);
  REQUIRE(tail.ok());
  auto id = internal::ParseMessageId((*tail)->msg_id);
  REQUIRE(id.ok());
  CHECK(id->epoch == 3);
}

// A message as another node's writer would publish it: `records` of this
// journal's format, with consecutive LSNs from `first`.
JetStreamMessage ForeignMessage(uint64_t journal_id, uint64_t epoch, uint64_t first,
                                const std::string& source_dir) {
  // Take real records (valid checksums) from a scratch journal.
  auto j = Journal::Open(source_dir, JournalOptions{});
  REQUIRE(j.ok());
  for (uint64_t l = 1; l < first; ++l) REQUIRE((*j)->Append(Rec(9, "pad")).ok());
  REQUIRE((*j)->Append(Rec(9, "theirs")).ok());
  REQUIRE((*j)->Close().ok());
  auto reader = Reader::Open(source_dir, first);
  REQUIRE(reader.ok());
  RecordView v;
  auto got = (*reader)->Next(&v);
  REQUIRE(got.ok());
  REQUIRE(*got);
  JetStreamMessage m;
  m.subject = "engram.t.journal";
  m.msg_id = internal::FormatMessageId({journal_id, epoch, first});
  m.data = std::string(v.bytes);
  return m;
}

TEST_CASE("a stream written by a newer epoch makes the writer step down", "[replication]") {
  TempDir dir, scratch;
  Rig rig;
  std::shared_ptr<JetStreamReplicator> replicator;
  uint64_t journal_id = 0;
  uint64_t last = 0;
  {
    auto j = Journal::Open(dir.path(), rig.Journal());
    REQUIRE(j.ok());
    journal_id = (*j)->epoch_record().journal_id;
    auto lsn = (*j)->Append(Rec(1, "one"));
    REQUIRE(lsn.ok());
    last = *lsn;
    REQUIRE((*j)->WaitDurable(last, absl::Seconds(20)).ok());
    REQUIRE((*j)->Close().ok());
  }
  SECTION("at open: the journal refuses to start") {
    rig.js->AppendExternal(kStream, ForeignMessage(journal_id, 5, last + 1, scratch.path()));
    auto j = Journal::Open(dir.path(), rig.Journal());
    REQUIRE(absl::IsFailedPrecondition(j.status()));
    CHECK(absl::StrContains(j.status().message(), "epoch 5"));
    CHECK(absl::StrContains(j.status().message(), "another node took over"));
  }
  SECTION("while running: waiters get the step-down and nothing more is acknowledged") {
    auto j = Journal::Open(dir.path(), rig.Journal(&replicator));
    REQUIRE(j.ok());
    const uint64_t epoch_lsn = last + 1;
    REQUIRE((*j)->WaitDurable(epoch_lsn, absl::Seconds(20)).ok());
    rig.js->AppendExternal(kStream, ForeignMessage(journal_id, 9, epoch_lsn + 1, scratch.path()));
    auto lsn = (*j)->Append(Rec(1, "two"));
    REQUIRE(lsn.ok());
    absl::Status s = (*j)->WaitDurable(*lsn, absl::Seconds(20));
    CHECK(absl::IsFailedPrecondition(s));
    CHECK(absl::StrContains(s.message(), "epoch 9"));
    CHECK(replicator->state().failed);
    CHECK((*j)->durable_lsn() == epoch_lsn);
    CHECK_FALSE((*j)->Close().ok());
  }
}

TEST_CASE("a stream holding another journal's records is refused", "[replication]") {
  TempDir dir, scratch;
  Rig rig;
  rig.js->AppendExternal(kStream, ForeignMessage(0x1234, 1, 1, scratch.path()));
  auto j = Journal::Open(dir.path(), rig.Journal());
  REQUIRE(absl::IsFailedPrecondition(j.status()));
  CHECK(absl::StrContains(j.status().message(), "0000000000001234"));
}

TEST_CASE("a journal that lost records its stream holds refuses to write", "[replication]") {
  TempDir dir, other;
  Rig rig;
  uint64_t last = 0;
  {
    auto j = Journal::Open(dir.path(), rig.Journal());
    REQUIRE(j.ok());
    for (int i = 0; i < 10; ++i) last = (*j)->Append(Rec(1, "x")).value();
    REQUIRE((*j)->epoch() == 1);
    REQUIRE((*j)->WaitDurable(last, absl::Seconds(20)).ok());
    REQUIRE((*j)->Close().ok());
  }
  // As a journal restored from an old backup would find it: the stream
  // holds a later record of this journal, of an older epoch.
  auto journal_id = [&] {
    auto r = Reader::Open(dir.path(), 1);
    REQUIRE(r.ok());
    auto st = (*r)->writer_state();
    REQUIRE(st.ok());
    return st->journal_id;
  }();
  rig.js->AppendExternal(kStream, ForeignMessage(journal_id, 1, last + 1, other.path()));
  // Epoch 2 would start at last + 1, which the stream already holds.
  auto j = Journal::Open(dir.path(), rig.Journal());
  REQUIRE(absl::IsAborted(j.status()));
  CHECK(absl::StrContains(j.status().message(), "has records this journal lacks"));
}

}  // namespace
}  // namespace engram

namespace engram {
namespace {

// Waits (bounded) until `pred` holds for the replicator's state.
template <typename Pred>
bool AwaitState(const JetStreamReplicator& r, Pred pred) {
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (absl::Now() < deadline) {
    if (pred(r.state())) return true;
    absl::SleepFor(absl::Milliseconds(1));
  }
  return false;
}

TEST_CASE("outage policy fail: appends fail at once while the stream is down", "[replication]") {
  TempDir dir;
  Rig rig;
  rig.options.outage = ReplicationOutagePolicy::kFail;
  std::vector<ReplicationStatus> told;
  Mutex told_mu;
  rig.options.on_state = [&](const ReplicationStatus& s) {
    MutexLock l(&told_mu);
    told.push_back(s);
  };
  std::shared_ptr<JetStreamReplicator> replicator;
  auto j = Journal::Open(dir.path(), rig.Journal(&replicator));
  REQUIRE(j.ok());
  REQUIRE((*j)->WaitDurable((*j)->Append(Rec(1, "up")).value(), absl::Seconds(20)).ok());
  rig.js->SetDown(true);
  // The next publish finds it down; appends are refused from then on.
  auto pending = (*j)->Append(Rec(1, "while going down"));
  REQUIRE(pending.ok());
  REQUIRE(AwaitState(*replicator, [](const ReplicationStatus& s) { return s.refusing_appends; }));
  auto refused = (*j)->Append(Rec(1, "refused"));
  REQUIRE(absl::IsUnavailable(refused.status()));
  CHECK(absl::StrContains(refused.status().message(), "outage policy fail"));
  CHECK(absl::StrContains(refused.status().message(), kStream));
  rig.js->SetDown(false);
  REQUIRE(AwaitState(*replicator, [](const ReplicationStatus& s) { return !s.refusing_appends; }));
  auto after = (*j)->Append(Rec(1, "after"));
  REQUIRE(after.ok());
  REQUIRE((*j)->WaitDurable(*after, absl::Seconds(20)).ok());
  REQUIRE((*j)->Close().ok());
  CheckStreamMirrorsJournal(*rig.js, dir.path(), *after);
  MutexLock l(&told_mu);
  REQUIRE(told.size() >= 2);
  bool saw_down = false;
  for (const auto& s : told) saw_down |= !s.connected && s.refusing_appends;
  CHECK(saw_down);
  CHECK(told.back().connected);
  CHECK_FALSE(told.back().refusing_appends);
}

TEST_CASE("outage policy block: past the lag limit appends fail naming the lag, then resume",
          "[replication]") {
  TempDir dir;
  Rig rig;
  rig.options.outage = ReplicationOutagePolicy::kBlock;
  rig.options.max_unreplicated_bytes = 8 << 10;
  std::shared_ptr<JetStreamReplicator> replicator;
  auto j = Journal::Open(dir.path(), rig.Journal(&replicator));
  REQUIRE(j.ok());
  REQUIRE((*j)->WaitDurable((*j)->Append(Rec(1, "up")).value(), absl::Seconds(20)).ok());
  rig.js->SetDown(true);
  const std::string payload(200, 'p');
  uint64_t last = 0;
  absl::Status refused;
  // Commands are still journaled until the lag passes 8 KiB (about 32
  // records of 256 B); bounded by the deadline, not a count.
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (absl::Now() < deadline) {
    auto lsn = (*j)->Append(Rec(1, payload));
    if (!lsn.ok()) {
      refused = lsn.status();
      break;
    }
    last = *lsn;
    absl::SleepFor(absl::Milliseconds(1));
  }
  INFO(refused.ToString());
  REQUIRE(absl::IsUnavailable(refused));
  CHECK(absl::StrContains(refused.message(), "replication lag"));
  CHECK(absl::StrContains(refused.message(), "over the limit of 8192 bytes"));
  CHECK((*j)->durable_lsn() < last);  // their outputs still wait
  rig.js->SetDown(false);
  REQUIRE((*j)->WaitDurable(last, absl::Seconds(20)).ok());
  REQUIRE(AwaitState(*replicator, [](const ReplicationStatus& s) { return !s.refusing_appends; }));
  auto after = (*j)->Append(Rec(1, "after"));
  REQUIRE(after.ok());
  REQUIRE((*j)->WaitDurable(*after, absl::Seconds(20)).ok());
  REQUIRE((*j)->Close().ok());
  CheckStreamMirrorsJournal(*rig.js, dir.path(), *after);
}

TEST_CASE("outage policy degrade: after the delay outputs go at the local level, flagged",
          "[replication]") {
  TempDir dir;
  Rig rig;
  rig.options.outage = ReplicationOutagePolicy::kDegrade;
  rig.options.degrade_after = absl::Milliseconds(50);
  std::shared_ptr<JetStreamReplicator> replicator;
  auto j = Journal::Open(dir.path(), rig.Journal(&replicator));
  REQUIRE(j.ok());
  REQUIRE((*j)->WaitDurable((*j)->Append(Rec(1, "up")).value(), absl::Seconds(20)).ok());
  rig.js->SetDown(true);
  auto lsn = (*j)->Append(Rec(1, "during the outage"));
  REQUIRE(lsn.ok());
  // Durable once degraded, although the stream has not got it.
  REQUIRE((*j)->WaitDurable(*lsn, absl::Seconds(20)).ok());
  CHECK(replicator->state().degraded);
  CHECK(replicator->state().replicated_lsn < *lsn);
  rig.js->SetDown(false);
  REQUIRE(AwaitState(*replicator, [&](const ReplicationStatus& s) {
    return !s.degraded && s.replicated_lsn >= *lsn;
  }));
  auto after = (*j)->Append(Rec(1, "after"));
  REQUIRE(after.ok());
  REQUIRE((*j)->WaitDurable(*after, absl::Seconds(20)).ok());
  REQUIRE((*j)->Close().ok());
  CheckStreamMirrorsJournal(*rig.js, dir.path(), *after);
}

}  // namespace
}  // namespace engram
