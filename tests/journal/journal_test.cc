// Unit tests of Journal and Reader: round trip, batches, limits, lock,
// format version, retention, durability levels, file mode, disk full.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <string>
#include <vector>

#include "journal/internal/format.h"
#include "engram/journal/journal.h"
#include "engram/journal/journal_scan.h"
#include "engram/journal/reader.h"
#include "tests/journal/test_util.h"

namespace engram {
namespace {

using testing::PayloadFor;
using testing::TempDir;

JournalOptions SmallSegments(uint64_t size = 16 * 1024) {
  JournalOptions o;
  o.segment_size = size;
  return o;
}

std::vector<RecordView> ReadAll(const std::string& dir, std::vector<std::string>* payloads,
                                uint64_t from = 0) {
  auto r = Reader::Open(dir, from);
  REQUIRE(r.ok());
  std::vector<RecordView> out;
  RecordView v;
  for (;;) {
    auto got = (*r)->Next(&v);
    REQUIRE(got.ok());
    if (!*got) break;
    out.push_back(v);
    payloads->emplace_back(v.payload);
  }
  return out;
}

TEST_CASE("records appended are read back with every field intact", "[journal]") {
  TempDir tmp;
  const std::string dir = tmp.Sub("j");
  {
    auto j = Journal::Open(dir, SmallSegments());
    REQUIRE(j.ok());
    for (uint64_t i = 1; i <= 500; ++i) {
      std::string p = PayloadFor(i, i % 300);
      RecordInput in;
      in.stream_id = i % 7;
      in.stream_version = i;
      in.type_id = static_cast<uint32_t>(i % 5);
      in.schema_version = 3;
      in.flags = 0x8001;
      in.timestamp_ns = static_cast<int64_t>(i) * 1000;
      in.payload = p;
      auto lsn = (*j)->Append(in);
      REQUIRE(lsn.ok());
      REQUIRE(*lsn == i);
    }
    REQUIRE((*j)->last_lsn() == 500);
    REQUIRE((*j)->durable_lsn() == 500);
  }
  std::vector<std::string> payloads;
  auto recs = ReadAll(dir, &payloads);
  REQUIRE(recs.size() == 500);
  for (uint64_t i = 1; i <= 500; ++i) {
    const RecordView& v = recs[i - 1];
    CHECK(v.lsn == i);
    CHECK(v.stream_id == i % 7);
    CHECK(v.stream_version == i);
    CHECK(v.type_id == i % 5);
    CHECK(v.schema_version == 3);
    CHECK(v.flags == 0x8001);
    CHECK(v.timestamp_ns == static_cast<int64_t>(i) * 1000);
    CHECK(payloads[i - 1] == PayloadFor(i, i % 300));
  }
  // Several segments, each named by its first LSN.
  auto segs = ListSegments(dir);
  REQUIRE(segs.ok());
  CHECK(segs->size() > 3);
  CHECK(segs->front().first == 1);
}

TEST_CASE("a reopened journal continues with the next LSN", "[journal]") {
  TempDir tmp;
  const std::string dir = tmp.Sub("j");
  for (int round = 0; round < 3; ++round) {
    auto j = Journal::Open(dir, SmallSegments());
    REQUIRE(j.ok());
    CHECK((*j)->recovery().torn_bytes == 0);
    for (int i = 0; i < 100; ++i) {
      RecordInput in;
      in.payload = "abc";
      auto lsn = (*j)->Append(in);
      REQUIRE(lsn.ok());
      CHECK(*lsn == static_cast<uint64_t>(round * 100 + i + 1));
    }
  }
  std::vector<std::string> p;
  CHECK(ReadAll(dir, &p).size() == 300);
}

TEST_CASE("a zero timestamp is replaced by the wall clock", "[journal]") {
  TempDir tmp;
  auto j = Journal::Open(tmp.Sub("j"), SmallSegments());
  REQUIRE(j.ok());
  const int64_t before = absl::GetCurrentTimeNanos();
  RecordInput in;
  REQUIRE((*j)->Append(in).ok());
  std::vector<std::string> p;
  auto recs = ReadAll(tmp.Sub("j"), &p);
  REQUIRE(recs.size() == 1);
  CHECK(recs[0].timestamp_ns >= before);
  CHECK(recs[0].payload.empty());
}

TEST_CASE("a batch gets consecutive LSNs and is read back whole", "[journal]") {
  TempDir tmp;
  const std::string dir = tmp.Sub("j");
  auto j = Journal::Open(dir, SmallSegments());
  REQUIRE(j.ok());
  REQUIRE((*j)->Append(RecordInput{}).ok());
  std::vector<std::string> bodies = {"one", "two", "three", std::string(1000, 'x')};
  std::vector<RecordInput> batch(bodies.size());
  for (size_t i = 0; i < bodies.size(); ++i) batch[i].payload = bodies[i];
  auto first = (*j)->AppendBatch(batch);
  REQUIRE(first.ok());
  CHECK(*first == 2);
  CHECK((*j)->last_lsn() == 5);
  std::vector<std::string> p;
  auto recs = ReadAll(dir, &p);
  REQUIRE(recs.size() == 5);
  CHECK(recs[1].batch_count == 4);
  CHECK(recs[2].batch_count == 0);
  CHECK(p[4] == bodies[3]);
  // Batches that do not fit the rest of a segment roll to the next one.
  for (int i = 0; i < 40; ++i) REQUIRE((*j)->AppendBatch(batch).ok());
  p.clear();
  CHECK(ReadAll(dir, &p).size() == 165);
}

TEST_CASE("an oversize record is refused with its size and the limit", "[journal]") {
  TempDir tmp;
  JournalOptions o = SmallSegments();
  o.max_record_size = 1000;
  auto j = Journal::Open(tmp.Sub("j"), o);
  REQUIRE(j.ok());
  std::string big(2000, 'x');
  RecordInput in;
  in.payload = big;
  auto lsn = (*j)->Append(in);
  REQUIRE(lsn.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK_THAT(std::string(lsn.status().message()), Catch::Contains("2056 bytes"));
  CHECK_THAT(std::string(lsn.status().message()), Catch::Contains("limit of 1000 bytes"));
  // Larger than a segment, without an explicit limit.
  auto j2 = Journal::Open(tmp.Sub("k"), SmallSegments());
  REQUIRE(j2.ok());
  std::string huge(20000, 'y');
  in.payload = huge;
  auto l2 = (*j2)->Append(in);
  REQUIRE(l2.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK_THAT(std::string(l2.status().message()), Catch::Contains("20056"));
  std::vector<RecordInput> batch(30);
  std::string mid(1000, 'z');
  for (auto& b : batch) b.payload = mid;
  CHECK((*j2)->AppendBatch(batch).status().code() == absl::StatusCode::kInvalidArgument);
  // Nothing was written.
  CHECK((*j2)->last_lsn() == 0);
}

TEST_CASE("a second writer is refused with the PID of the holder", "[journal]") {
  TempDir tmp;
  auto j = Journal::Open(tmp.Sub("j"), SmallSegments());
  REQUIRE(j.ok());
  auto j2 = Journal::Open(tmp.Sub("j"), SmallSegments());
  REQUIRE(j2.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK_THAT(std::string(j2.status().message()),
             Catch::Contains("locked by process " + std::to_string(getpid())));
  // Readers need no lock.
  CHECK(Reader::Open(tmp.Sub("j")).ok());
  j->reset();
  CHECK(Journal::Open(tmp.Sub("j"), SmallSegments()).ok());
}

TEST_CASE("files are created with mode 0600 unless configured", "[journal]") {
  TempDir tmp;
  const mode_t old = umask(022);
  {
    auto j = Journal::Open(tmp.Sub("j"), SmallSegments());
    REQUIRE(j.ok());
    struct stat st;
    REQUIRE(stat((tmp.Sub("j") + "/" + internal::SegmentFileName(1)).c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    REQUIRE(stat((tmp.Sub("j") + "/LOCK").c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
  }
  JournalOptions o = SmallSegments();
  o.file_mode = 0640;
  auto j = Journal::Open(tmp.Sub("k"), o);
  REQUIRE(j.ok());
  struct stat st;
  REQUIRE(stat((tmp.Sub("k") + "/" + internal::SegmentFileName(1)).c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0640);
  umask(old);
}

TEST_CASE("a journal of a newer format version is refused clearly", "[journal]") {
  TempDir tmp;
  const std::string dir = tmp.Sub("j");
  {
    auto j = Journal::Open(dir, SmallSegments());
    REQUIRE(j.ok());
    REQUIRE((*j)->Append(RecordInput{}).ok());
  }
  const std::string seg = dir + "/" + internal::SegmentFileName(1);
  std::string bytes = testing::ReadFile(seg);
  internal::SegmentHeader h;
  std::memcpy(&h, bytes.data(), sizeof h);
  h.format_version = internal::kFormatVersion + 1;
  h.checksum = internal::SegmentHeaderChecksum(h);
  std::memcpy(bytes.data(), &h, sizeof h);
  testing::WriteFile(seg, bytes);
  auto j = Journal::Open(dir, SmallSegments());
  REQUIRE(j.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK_THAT(std::string(j.status().message()), Catch::Contains("newer"));
  CHECK_THAT(std::string(j.status().message()), Catch::Contains(seg));
  CHECK(Reader::Open(dir).status().code() == absl::StatusCode::kFailedPrecondition);
}

TEST_CASE("a missing directory is an error when creation is not allowed", "[journal]") {
  TempDir tmp;
  JournalOptions o = SmallSegments();
  o.create_if_missing = false;
  auto j = Journal::Open(tmp.Sub("nope"), o);
  CHECK(j.status().code() == absl::StatusCode::kNotFound);
  CHECK(Reader::Open(tmp.Sub("nope")).status().code() == absl::StatusCode::kNotFound);
  CHECK(Reader::Open(tmp.path()).status().code() == absl::StatusCode::kNotFound);
}

TEST_CASE("a reader starts at any LSN and tails across segment rolls", "[journal]") {
  TempDir tmp;
  const std::string dir = tmp.Sub("j");
  auto j = Journal::Open(dir, SmallSegments());
  REQUIRE(j.ok());
  for (uint64_t i = 1; i <= 200; ++i) {
    std::string p = PayloadFor(i, 100);
    RecordInput in;
    in.payload = p;
    REQUIRE((*j)->Append(in).ok());
  }
  for (uint64_t from : {1, 2, 57, 150, 200}) {
    std::vector<std::string> p;
    auto recs = ReadAll(dir, &p, from);
    REQUIRE(recs.size() == 201 - from);
    CHECK(recs.front().lsn == from);
  }
  auto r = Reader::Open(dir, 201);
  REQUIRE(r.ok());
  RecordView v;
  auto none = (*r)->Next(&v);
  REQUIRE(none.ok());
  CHECK_FALSE(*none);
  for (uint64_t i = 201; i <= 600; ++i) {
    std::string p = PayloadFor(i, 100);
    RecordInput in;
    in.payload = p;
    REQUIRE((*j)->Append(in).ok());
    auto got = (*r)->Next(&v);
    REQUIRE(got.ok());
    REQUIRE(*got);
    CHECK(v.lsn == i);
    CHECK(std::string(v.payload) == p);
  }
}

TEST_CASE("retention deletes whole segments below an LSN", "[journal]") {
  TempDir tmp;
  const std::string dir = tmp.Sub("j");
  auto j = Journal::Open(dir, SmallSegments());
  REQUIRE(j.ok());
  std::string p(500, 'r');
  for (int i = 0; i < 300; ++i) {
    RecordInput in;
    in.payload = p;
    REQUIRE((*j)->Append(in).ok());
  }
  auto before = ListSegments(dir);
  REQUIRE(before.ok());
  REQUIRE(before->size() > 4);
  const uint64_t keep_from = (*before)[3].first + 1;
  auto deleted = (*j)->DeleteSegmentsBelow(keep_from);
  REQUIRE(deleted.ok());
  CHECK(*deleted == 3);
  auto after = ListSegments(dir);
  CHECK(after->front().first == (*before)[3].first);
  CHECK(Reader::Open(dir, 1).status().code() == absl::StatusCode::kOutOfRange);
  std::vector<std::string> pl;
  CHECK(ReadAll(dir, &pl, keep_from).size() == 300 - keep_from + 1);
  // The active segment is never deleted.
  auto all = (*j)->DeleteSegmentsBelow(1000000);
  REQUIRE(all.ok());
  CHECK(ListSegments(dir)->size() == 1);
  RecordInput in;
  in.payload = p;
  REQUIRE((*j)->Append(in).ok());
  j->reset();
  auto reopened = Journal::Open(dir, SmallSegments());
  REQUIRE(reopened.ok());
  CHECK((*reopened)->last_lsn() == 301);
}

TEST_CASE("sync durability reports durable LSNs through wait and callback", "[journal]") {
  TempDir tmp;
  JournalOptions o = SmallSegments(64 * 1024);
  o.durability = Durability::kSync;
  auto j = Journal::Open(tmp.Sub("j"), o);
  REQUIRE(j.ok());
  std::atomic<int> called{0};
  uint64_t last = 0;
  for (int i = 0; i < 1000; ++i) {
    RecordInput in;
    in.payload = "durable";
    auto lsn = (*j)->Append(in);
    REQUIRE(lsn.ok());
    last = *lsn;
    if (i % 100 == 0) {
      (*j)->OnDurable(*lsn, [&, want = *lsn](absl::Status s) {
        CHECK(s.ok());
        CHECK((*j)->durable_lsn() >= want);
        called.fetch_add(1);
      });
    }
  }
  REQUIRE((*j)->WaitDurable(last, absl::Seconds(10)).ok());
  CHECK((*j)->durable_lsn() >= last);
  // Callbacks run on the flusher right after durable_lsn advances.
  for (int i = 0; i < 1000 && called.load() < 10; ++i) absl::SleepFor(absl::Milliseconds(1));
  CHECK(called.load() == 10);
  // Without a waiter the flusher still catches up within its interval.
  RecordInput in;
  auto lsn = (*j)->Append(in);
  REQUIRE(lsn.ok());
  for (int i = 0; i < 2000 && (*j)->durable_lsn() < *lsn; ++i) absl::SleepFor(absl::Milliseconds(1));
  CHECK((*j)->durable_lsn() >= *lsn);
  CHECK((*j)->WaitDurable(*lsn + 10, absl::Milliseconds(20)).code() ==
        absl::StatusCode::kDeadlineExceeded);
  REQUIRE((*j)->Close().ok());
  CHECK((*j)->Append(in).status().code() == absl::StatusCode::kFailedPrecondition);
}

TEST_CASE("closing a sync journal completes due callbacks and cancels the rest", "[journal]") {
  TempDir tmp;
  JournalOptions o = SmallSegments(64 * 1024);
  o.durability = Durability::kSync;
  o.sync_interval = absl::Seconds(30);  // only Close syncs
  auto j = Journal::Open(tmp.Sub("j"), o);
  REQUIRE(j.ok());
  auto lsn = (*j)->Append(RecordInput{});
  REQUIRE(lsn.ok());
  absl::Status due = absl::UnknownError("not called"), future = due;
  (*j)->OnDurable(*lsn, [&](absl::Status s) { due = s; });
  (*j)->OnDurable(*lsn + 5, [&](absl::Status s) { future = s; });
  REQUIRE((*j)->Close().ok());
  CHECK(due.ok());
  CHECK(future.code() == absl::StatusCode::kCancelled);
  CHECK((*j)->durable_lsn() == *lsn);
}

TEST_CASE("process durability makes every published LSN durable at once", "[journal]") {
  TempDir tmp;
  auto j = Journal::Open(tmp.Sub("j"), SmallSegments());
  REQUIRE(j.ok());
  auto lsn = (*j)->Append(RecordInput{});
  REQUIRE(lsn.ok());
  CHECK((*j)->durable_lsn() == *lsn);
  CHECK((*j)->WaitDurable(*lsn).ok());
  bool called = false;
  (*j)->OnDurable(*lsn, [&](absl::Status s) { called = s.ok(); });
  CHECK(called);
  CHECK((*j)->Sync().ok());
}

// Mounts a small tmpfs; returns false (and the test skips) when not root.
bool MountTmpfs(const std::string& dir, const char* size) {
  mkdir(dir.c_str(), 0700);
  std::string opts = std::string("size=") + size;
  return mount("tmpfs", dir.c_str(), "tmpfs", 0, opts.c_str()) == 0;
}

TEST_CASE("a full disk fails at segment creation and the journal reopens intact", "[journal]") {
  TempDir tmp;
  const std::string mnt = tmp.Sub("mnt");
  if (!MountTmpfs(mnt, "1m")) {
    WARN("cannot mount a tmpfs (not root?): disk-full test skipped");
    return;
  }
  struct Unmount {
    std::string p;
    ~Unmount() { umount2(p.c_str(), MNT_DETACH); }
  } unmount{mnt};
  const std::string dir = mnt + "/j";
  JournalOptions o = SmallSegments(256 * 1024);
  std::vector<uint64_t> acked;
  absl::Status error;
  {
    auto j = Journal::Open(dir, o);
    REQUIRE(j.ok());
    for (uint64_t i = 0; i < 100000; ++i) {
      std::string p = PayloadFor(i, 1000);
      RecordInput in;
      in.payload = p;
      auto lsn = (*j)->Append(in);
      if (!lsn.ok()) {
        error = lsn.status();
        break;
      }
      acked.push_back(*lsn);
    }
    REQUIRE_FALSE(error.ok());
    CHECK(error.code() == absl::StatusCode::kResourceExhausted);
    CHECK_THAT(std::string(error.message()), Catch::Contains(".seg"));
    CHECK_THAT(std::string(error.message()), Catch::Contains("No space left on device"));
    // Still failing clearly, not crashing.
    RecordInput in;
    CHECK((*j)->Append(in).status().code() == absl::StatusCode::kResourceExhausted);
  }
  REQUIRE(acked.size() > 100);
  auto j = Journal::Open(dir, o);
  REQUIRE(j.ok());
  CHECK((*j)->recovery().torn_bytes == 0);
  CHECK((*j)->last_lsn() == acked.back());
  std::vector<std::string> payloads;
  auto recs = ReadAll(dir, &payloads);
  REQUIRE(recs.size() == acked.size());
  for (size_t i = 0; i < recs.size(); ++i) {
    REQUIRE(payloads[i] == PayloadFor(i, 1000));
  }
  // Opening the new segment when the next append comes still fails clearly.
  RecordInput in;
  CHECK((*j)->Append(in).status().code() == absl::StatusCode::kResourceExhausted);
}

TEST_CASE("opening on a full disk fails with the segment file named", "[journal]") {
  TempDir tmp;
  const std::string mnt = tmp.Sub("mnt");
  if (!MountTmpfs(mnt, "64k")) {
    WARN("cannot mount a tmpfs (not root?): disk-full test skipped");
    return;
  }
  struct Unmount {
    std::string p;
    ~Unmount() { umount2(p.c_str(), MNT_DETACH); }
  } unmount{mnt};
  auto j = Journal::Open(mnt + "/j", SmallSegments(1 << 20));
  REQUIRE(j.status().code() == absl::StatusCode::kResourceExhausted);
  CHECK_THAT(std::string(j.status().message()),
             Catch::Contains(internal::SegmentFileName(1)));
}

}  // namespace
}  // namespace engram
