// The same-host standby: it follows a journal another image writes, serves
// reads only up to the horizon, refuses commands, and takes over (next
// epoch, same actors) once the writer lock is free, never while it is held.
#include <unistd.h>

#include <atomic>
#include <memory>
#include <string>

#include <catch2/catch.hpp>

#include "absl/strings/match.h"
#include "engram/actors/actor_system.h"
#include "engram/image/memory_image.h"
#include "engram/image/standby.h"
#include "engram/journal/journal.h"
#include "engram/journal/reader.h"
#include "engram/journal/writer_lock.h"
#include "tests/image/tallier.h"
#include "tests/temp_dir.h"

namespace engram {
namespace {

using testing::Bump;
using testing::Bumped;
using testing::Get;
using testing::Tallier;

EventRegistry MakeRegistry() {
  EventRegistry reg;
  REQUIRE(reg.Register<Bumped>("standby.Bumped").ok());
  return reg;
}

MemoryImage::Options ImageOptions() {
  MemoryImage::Options o;
  o.journal.segment_size = 64 << 10;  // the standby follows segment rolls
  return o;
}

// An actor system and an image of Talliers.
struct Node {
  explicit Node(const EventRegistry& reg)
      : system(ActorSystemOptions{.scheduler = {.threads = 2}}), image(system, reg) {
    image.RegisterKind<Tallier>("tallier");
  }
  absl::StatusOr<int64_t> Value(uint64_t stream) {
    absl::StatusOr<ActorRef> ref = image.Find(stream);
    if (!ref.ok()) return ref.status();
    return system.Ask<int64_t>(*ref, Get{}, absl::Seconds(60));
  }
  absl::Status Bump(uint64_t stream, int64_t n) {
    absl::StatusOr<ActorRef> ref = image.Find(stream);
    if (!ref.ok()) return ref.status();
    return system.Ask<Done>(*ref, testing::Bump{n}, absl::Seconds(60)).status();
  }
  ActorSystem system;
  MemoryImage image;
};

// The hash of a fresh read-only replay of `dir`.
uint64_t ReplayHash(const EventRegistry& reg, const std::string& dir) {
  Node n(reg);
  MemoryImage::Options o;
  o.read_only = true;
  REQUIRE(n.image.Open(dir, o).ok());
  return n.image.ImageHash().value();
}

TEST_CASE("a reader holds back records beyond its horizon", "[standby][reader]") {
  testing::TempDir tmp;
  const std::string dir = tmp.Sub("journal");
  auto j = Journal::Open(dir).value();  // kProcess: durable == committed, nothing replicated
  RecordInput rec;
  rec.stream_id = 1;
  rec.type_id = 7;
  rec.payload = "x";
  const uint64_t lsn = j->Append(rec).value();
  RecordView v;
  auto committed = Reader::Open(dir).value();
  REQUIRE(committed->NextWait(&v, absl::ZeroDuration(), ReadHorizon::kDurable).value());
  CHECK(v.lsn == lsn);
  // Nothing is replicated: a reader at that horizon sees nothing, even with
  // the record in the segment, and waits out its timeout.
  auto replicated = Reader::Open(dir).value();
  CHECK_FALSE(replicated->NextWait(&v, absl::Milliseconds(20), ReadHorizon::kReplicated).value());
  CHECK(replicated->next_lsn() == lsn);
  // Once the writer closes cleanly nobody publishes a horizon any more:
  // every whole record is readable.
  REQUIRE(j->Close().ok());
  REQUIRE(replicated->NextWait(&v, absl::ZeroDuration(), ReadHorizon::kReplicated).value());
  CHECK(v.lsn == lsn);
}

TEST_CASE("a standby follows its leader, refuses commands, and takes over when it closes",
          "[standby]") {
  const EventRegistry reg = MakeRegistry();
  testing::TempDir tmp;
  const std::string dir = tmp.Sub("journal");
  auto leader = std::make_unique<Node>(reg);
  REQUIRE(leader->image.Open(dir, ImageOptions()).ok());
  REQUIRE(leader->image.Spawn<Tallier>(1).ok());
  REQUIRE(leader->Bump(1, 5).ok());
  const uint64_t leader_epoch = leader->image.journal()->epoch();

  Node standby_node(reg);
  Standby standby(standby_node.image);
  std::atomic<int> promotions{0};
  Standby::Promotion promotion;
  Standby::Options so;
  so.image = ImageOptions();
  so.on_promoted = [&](const Standby::Promotion& p) {
    promotion = p;
    promotions.fetch_add(1);
  };
  REQUIRE(standby.Start(dir, so).ok());
  CHECK_FALSE(standby.promoted());
  CHECK(standby.applied_lsn() == leader->image.journal()->last_lsn());
  CHECK(standby_node.Value(1).value() == 5);

  // New streams and events reach it while it follows (across segment
  // rolls: 64 KiB segments).
  REQUIRE(leader->image.Spawn<Tallier>(2).ok());
  for (int k = 0; k < 2000; ++k) REQUIRE(leader->Bump(k % 2 + 1, 1).ok());
  REQUIRE(standby.AwaitApplied(leader->image.journal()->last_lsn(), absl::Seconds(30)).ok());
  CHECK(standby_node.Value(1).value() == 1005);
  CHECK(standby_node.Value(2).value() == 1000);
  CHECK(standby_node.image.ImageHash().value() == leader->image.ImageHash().value());
  const Standby::State s = standby.state();
  CHECK(s.leader.present);
  CHECK(s.leader.pid == static_cast<uint32_t>(getpid()));
  CHECK(s.leader.epoch == leader_epoch);
  CHECK_FALSE(s.leader_stale);

  // It refuses what would write.
  absl::Status refused = standby_node.Bump(1, 1);
  CHECK(refused.code() == absl::StatusCode::kFailedPrecondition);
  CHECK(standby_node.image.Spawn<Tallier>(3).status().code() ==
        absl::StatusCode::kFailedPrecondition);
  CHECK(standby_node.image.journal() == nullptr);

  // The leader goes; the standby takes the lock, writes the next epoch and
  // accepts commands on the same actors.
  const uint64_t leader_end = leader->image.journal()->last_lsn();
  leader.reset();
  REQUIRE(standby.AwaitPromoted(absl::Seconds(30)).ok());
  CHECK(promotions.load() == 1);
  CHECK(promotion.epoch == leader_epoch + 1);
  CHECK(promotion.applied_lsn == leader_end);
  CHECK(promotion.last_lsn == leader_end + 1);  // its epoch record
  REQUIRE(standby_node.image.journal() != nullptr);
  CHECK(standby_node.image.journal()->epoch() == leader_epoch + 1);
  REQUIRE(standby_node.Bump(1, 10).ok());
  REQUIRE(standby_node.image.Spawn<Tallier>(3).ok());
  REQUIRE(standby_node.Bump(3, 7).ok());
  CHECK(standby_node.Value(1).value() == 1015);
  const uint64_t hash = standby_node.image.ImageHash().value();
  standby.Stop();
  // Another writer is refused while the promoted standby holds the lock.
  Node intruder(reg);
  CHECK(intruder.image.Open(dir, ImageOptions()).code() == absl::StatusCode::kFailedPrecondition);
  CHECK(ReplayHash(reg, dir) == hash);
}

TEST_CASE("a standby never takes the lock from a leader that holds it", "[standby]") {
  const EventRegistry reg = MakeRegistry();
  testing::TempDir tmp;
  const std::string dir = tmp.Sub("journal");
  Node leader(reg);
  REQUIRE(leader.image.Open(dir, ImageOptions()).ok());
  REQUIRE(leader.image.Spawn<Tallier>(1).ok());
  Node standby_node(reg);
  Standby standby(standby_node.image);
  Standby::Options so;
  so.image = ImageOptions();
  REQUIRE(standby.Start(dir, so).ok());
  CHECK(standby.AwaitPromoted(absl::Milliseconds(300)).code() ==
        absl::StatusCode::kDeadlineExceeded);
  CHECK_FALSE(standby.promoted());
  REQUIRE(leader.Bump(1, 3).ok());
  REQUIRE(standby.AwaitApplied(leader.image.journal()->last_lsn(), absl::Seconds(30)).ok());
  CHECK(standby_node.Value(1).value() == 3);
  standby.Stop();
  CHECK_FALSE(standby.promoted());
  CHECK(standby.state().error.ok());
}

TEST_CASE("a standby that finds the lock free is the writer at once", "[standby]") {
  const EventRegistry reg = MakeRegistry();
  testing::TempDir tmp;
  const std::string dir = tmp.Sub("journal");
  {
    // No journal yet: it creates one, epoch 1.
    Node n(reg);
    Standby standby(n.image);
    Standby::Options so;
    so.image = ImageOptions();
    int promoted = 0;
    so.on_promoted = [&](const Standby::Promotion& p) {
      CHECK(p.epoch == 1);
      ++promoted;
    };
    REQUIRE(standby.Start(dir, so).ok());
    CHECK(promoted == 1);
    CHECK(standby.promoted());
    REQUIRE(n.image.Spawn<Tallier>(1).ok());
    REQUIRE(n.Bump(1, 4).ok());
  }
  // An existing journal with no writer: recovered, epoch 2.
  Node n(reg);
  Standby standby(n.image);
  Standby::Options so;
  so.image = ImageOptions();
  REQUIRE(standby.Start(dir, so).ok());
  CHECK(standby.promoted());
  CHECK(n.image.journal()->epoch() == 2);
  CHECK(n.Value(1).value() == 4);
}

TEST_CASE("a standby's options may not ask for a read-only image", "[standby]") {
  const EventRegistry reg = MakeRegistry();
  testing::TempDir tmp;
  Node n(reg);
  Standby standby(n.image);
  Standby::Options so;
  so.image.read_only = true;
  absl::Status s = standby.Start(tmp.Sub("journal"), so);
  CHECK(s.code() == absl::StatusCode::kInvalidArgument);
  CHECK(absl::StrContains(s.message(), "read_only"));
}

TEST_CASE("waiting for a held writer lock ends at its deadline, never taking it",
          "[standby][lock]") {
  testing::TempDir tmp;
  const std::string dir = tmp.Sub("journal");
  auto j = Journal::Open(dir).value();
  absl::StatusOr<std::unique_ptr<WriterLock>> lock =
      WriterLock::Await(dir, absl::Milliseconds(120));
  REQUIRE(lock.status().code() == absl::StatusCode::kDeadlineExceeded);
  CHECK(absl::StrContains(lock.status().message(), std::to_string(getpid())));
  REQUIRE(j->Close().ok());
  j.reset();
  lock = WriterLock::Await(dir, absl::Seconds(10));
  REQUIRE(lock.ok());
  // The lock handed to Journal::Open is the one it keeps.
  auto reopened = Journal::Open(dir, JournalOptions{}, std::move(*lock));
  REQUIRE(reopened.ok());
  CHECK(WriterLock::TryAcquire(dir).status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK(Journal::Open(tmp.Sub("other"), JournalOptions{},
                      WriterLock::TryAcquire(dir).value_or(nullptr))
            .status()
            .code() == absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace engram
