// What a power cut leaves behind, written by hand: a sealed segment whose
// end marker never reached the disk, a segment whose header never did, a
// journal of a newer format, a reader behind retention, and the order in
// which OnDurable callbacks run. (tests/powercut drives the journal through
// a model of the cut itself.)
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "journal/internal/format.h"
#include "engram/journal/journal.h"
#include "engram/journal/journal_scan.h"
#include "engram/journal/reader.h"
#include "tests/journal/test_util.h"

namespace engram {
namespace {

using testing::PayloadFor;
using testing::TempDir;

constexpr uint64_t kSeg = 4096;

JournalOptions Small(Durability d = Durability::kProcess) {
  JournalOptions o;
  o.segment_size = kSeg;
  o.prefault = false;
  o.durability = d;
  return o;
}

// Appends `n` records with payloads PayloadFor(lsn, 200): several segments.
void Fill(const std::string& dir, int n, Durability d = Durability::kProcess) {
  auto j = Journal::Open(dir, Small(d));
  REQUIRE(j.ok());
  for (int i = 1; i <= n; ++i) {
    std::string p = PayloadFor(i, 200);
    RecordInput in;
    in.stream_id = 7;
    in.payload = p;
    auto lsn = (*j)->Append(in);
    REQUIRE(lsn.ok());
    REQUIRE(*lsn == static_cast<uint64_t>(i));
  }
  REQUIRE((*j)->Close().ok());
}

// Reads every record and checks LSNs are dense from 1 and payloads intact.
uint64_t VerifyAll(const std::string& dir) {
  auto r = Reader::Open(dir);
  REQUIRE(r.ok());
  uint64_t n = 0;
  RecordView v;
  for (;;) {
    auto got = (*r)->Next(&v);
    REQUIRE(got.ok());
    if (!*got) return n;
    ++n;
    REQUIRE(v.lsn == n);
    REQUIRE(std::string(v.payload) == PayloadFor(n, 200));
  }
}

// Overwrites 4 bytes at `offset` of `path` with zeros.
void ZeroAt(const std::string& path, uint64_t offset, size_t len) {
  const int fd = open(path.c_str(), O_WRONLY);
  REQUIRE(fd >= 0);
  std::string zeros(len, '\0');
  REQUIRE(pwrite(fd, zeros.data(), len, static_cast<off_t>(offset)) ==
          static_cast<ssize_t>(len));
  close(fd);
}

TEST_CASE("a sealed segment whose end marker was lost keeps every later segment",
          "[journal][recovery][powercut]") {
  TempDir tmp;
  const std::string dir = tmp.Sub("j");
  Fill(dir, 60);
  auto before = ScanJournal(dir);
  REQUIRE(before.ok());
  REQUIRE(before->segments.size() >= 3);
  // A power cut after the roll: the first segment's records reached the
  // disk, its end marker (written after them) did not.
  const SegmentInfo first = before->segments[0];
  ZeroAt(first.path, first.end_offset, 4);

  auto j = Journal::Open(dir, Small());
  REQUIRE(j.ok());
  CHECK((*j)->recovery().last_lsn == 60);
  CHECK((*j)->recovery().removed_files.empty());
  CHECK((*j)->recovery().lost_markers == 1);
  CHECK_THAT((*j)->recovery().ToString(), Catch::Contains("end-of-segment marker"));
  REQUIRE((*j)->Close().ok());
  // The marker was written back: readers walk on to the next segment.
  CHECK(VerifyAll(dir) == 60);
  auto after = ScanJournal(dir);
  REQUIRE(after.ok());
  CHECK(after->lost_markers == 0);
}

TEST_CASE("a zero tail before a segment that does not continue the LSNs is still the end",
          "[journal][recovery][powercut]") {
  TempDir tmp;
  const std::string dir = tmp.Sub("j");
  Fill(dir, 60);
  auto before = ScanJournal(dir);
  REQUIRE(before.ok());
  REQUIRE(before->segments.size() >= 3);
  // The first segment loses its last record as well as the marker: the
  // second segment then starts one LSN too late, so it is after a hole.
  const SegmentInfo first = before->segments[0];
  const uint64_t last_record = first.end_offset - internal::AlignRecord(56 + 200);
  ZeroAt(first.path, last_record, first.end_offset + 4 - last_record);

  auto j = Journal::Open(dir, Small());
  REQUIRE(j.ok());
  CHECK((*j)->recovery().last_lsn == first.records - 1);
  CHECK((*j)->recovery().removed_files.size() == before->segments.size() - 1);
  CHECK((*j)->recovery().lost_markers == 0);
}

TEST_CASE("a segment whose header never reached the disk is an unwritten segment",
          "[journal][recovery][powercut]") {
  TempDir tmp;
  SECTION("the only segment: the journal opens empty and takes appends") {
    const std::string dir = tmp.Sub("only");
    Fill(dir, 3);
    const std::string seg = dir + "/" + internal::SegmentFileName(1);
    // Created and preallocated, nothing of it synced: all zero.
    ZeroAt(seg, 0, kSeg);
    auto j = Journal::Open(dir, Small());
    REQUIRE(j.ok());
    CHECK((*j)->recovery().last_lsn == 0);
    REQUIRE((*j)->recovery().removed_files.size() == 1);
    CHECK((*j)->recovery().removed_files[0] == seg);
    RecordInput in;
    std::string p = PayloadFor(1, 200);
    in.payload = p;
    auto lsn = (*j)->Append(in);
    REQUIRE(lsn.ok());
    CHECK(*lsn == 1);
    REQUIRE((*j)->Close().ok());
    CHECK(VerifyAll(dir) == 1);
  }
  SECTION("a middle segment: the journal ends before it") {
    const std::string dir = tmp.Sub("middle");
    Fill(dir, 60);
    auto before = ScanJournal(dir);
    REQUIRE(before.ok());
    REQUIRE(before->segments.size() >= 3);
    ZeroAt(before->segments[1].path, 0, internal::kSegmentHeaderSize);
    auto j = Journal::Open(dir, Small());
    REQUIRE(j.ok());
    CHECK((*j)->recovery().last_lsn == before->segments[0].records);
    CHECK((*j)->recovery().removed_files.size() == before->segments.size() - 1);
    CHECK_THAT((*j)->recovery().torn_reason, Catch::Contains("never written"));
    // The next segment continues the journal id of the ones kept.
    for (int i = 0; i < 40; ++i) {
      RecordInput in;
      std::string p = PayloadFor(before->segments[0].records + 1 + i, 200);
      in.payload = p;
      REQUIRE((*j)->Append(in).ok());
    }
    REQUIRE((*j)->Close().ok());
    CHECK(VerifyAll(dir) == before->segments[0].records + 40);
    auto after = ScanJournal(dir);
    REQUIRE(after.ok());
    CHECK(after->journal_id == before->journal_id);
  }
}

TEST_CASE("opening a journal of a newer format version leaves it untouched",
          "[journal][recovery]") {
  TempDir tmp;
  const std::string dir = tmp.Sub("j");
  Fill(dir, 5);
  const std::string seg = dir + "/" + internal::SegmentFileName(1);
  std::string bytes = testing::ReadFile(seg);
  internal::SegmentHeader h;
  std::memcpy(&h, bytes.data(), sizeof h);
  h.format_version = internal::kFormatVersion + 1;
  h.checksum = internal::SegmentHeaderChecksum(h);
  std::memcpy(bytes.data(), &h, sizeof h);
  testing::WriteFile(seg, bytes);
  testing::WriteFile(dir + "/LOCK", "4242\n");
  testing::WriteFile(dir + "/next.seg.tmp", std::string(kSeg, '\0'));

  auto j = Journal::Open(dir, Small());
  REQUIRE(j.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK_THAT(std::string(j.status().message()), Catch::Contains("newer"));
  CHECK(testing::ReadFile(dir + "/LOCK") == "4242\n");
  CHECK(testing::ReadFile(dir + "/next.seg.tmp").size() == kSeg);
  CHECK(testing::ReadFile(seg) == bytes);
}

TEST_CASE("a reader behind retention gets OUT_OF_RANGE naming the first LSN kept",
          "[journal][reader]") {
  TempDir tmp;
  const std::string dir = tmp.Sub("j");
  auto j = Journal::Open(dir, Small());
  REQUIRE(j.ok());
  auto append = [&](uint64_t lsn) {
    std::string p = PayloadFor(lsn, 200);
    RecordInput in;
    in.payload = p;
    REQUIRE((*j)->Append(in).ok());
  };
  for (uint64_t i = 1; i <= 10; ++i) append(i);
  auto r = Reader::Open(dir);
  REQUIRE(r.ok());
  RecordView v;
  for (int i = 0; i < 10; ++i) REQUIRE((*r)->Next(&v).value());
  for (uint64_t i = 11; i <= 90; ++i) append(i);
  auto deleted = (*j)->DeleteSegmentsBelow(80);
  REQUIRE(deleted.ok());
  REQUIRE(*deleted >= 2);
  auto kept = ListSegments(dir);
  REQUIRE(kept.ok());
  const uint64_t first_kept = kept->front().first;
  REQUIRE(first_kept > 20);
  // The reader drains the segment it has mapped, then finds its successor
  // deleted: an error, not a stall.
  absl::StatusOr<bool> got = true;
  int read = 0;
  while (got.ok() && *got && read < 100) {
    got = (*r)->Next(&v);
    if (got.ok() && *got) ++read;
  }
  REQUIRE(got.status().code() == absl::StatusCode::kOutOfRange);
  CHECK_THAT(std::string(got.status().message()),
             Catch::Contains(absl::StrCat("oldest LSN still kept is ", first_kept)));
}

TEST_CASE("a record torn by a power cut before later pages reached the disk is a torn tail",
          "[journal][recovery][powercut]") {
  TempDir tmp;
  const std::string dir = tmp.Sub("j");
  JournalOptions o = Small();
  o.segment_size = 64 << 10;
  {
    auto j = Journal::Open(dir, o);
    REQUIRE(j.ok());
    for (int i = 1; i <= 100; ++i) {  // 300-byte payloads: records cross pages
      std::string p = PayloadFor(i, 300);
      RecordInput in;
      in.payload = p;
      REQUIRE((*j)->Append(in).ok());
    }
  }
  const std::string seg = dir + "/" + internal::SegmentFileName(1);
  const std::string clean = testing::ReadFile(seg);
  // The record that crosses from page 2 into page 3 (offsets 8192..12288).
  size_t off = internal::kSegmentHeaderSize, torn = 0;
  uint64_t lsn = 1, torn_lsn = 0;
  while (torn == 0) {
    uint32_t size;
    std::memcpy(&size, clean.data() + off, 4);
    const size_t next = off + internal::AlignRecord(size);
    if (off < 12288 && next > 12288) {
      torn = off;
      torn_lsn = lsn;
    }
    off = next;
    ++lsn;
  }
  SECTION("page 3 never written, page 4 and later were: cut at the torn record") {
    ZeroAt(seg, 12288, 4096);
    auto j = Journal::Open(dir, o);
    REQUIRE(j.ok());
    CHECK((*j)->recovery().last_lsn == torn_lsn - 1);
    CHECK_FALSE((*j)->recovery().repaired);
    CHECK((*j)->recovery().torn_offset == torn);
    CHECK_THAT((*j)->recovery().torn_reason, Catch::Contains("power cut"));
  }
  SECTION("a flipped byte in the same record is still corruption") {
    std::string bad = clean;
    bad[12300] = static_cast<char>(bad[12300] ^ 0x40);
    testing::WriteFile(seg, bad);
    auto j = Journal::Open(dir, o);
    REQUIRE(j.status().code() == absl::StatusCode::kDataLoss);
    CHECK_THAT(std::string(j.status().message()),
               Catch::Contains(absl::StrCat("byte offset ", torn)));
  }
}

TEST_CASE("OnDurable callbacks of one journal run in LSN order", "[journal][durability]") {
  TempDir tmp;
  JournalOptions o;
  o.segment_size = 8 << 20;
  o.durability = Durability::kSync;
  o.sync_interval = absl::Microseconds(50);
  auto j = Journal::Open(tmp.Sub("j"), o);
  REQUIRE(j.ok());
#if defined(ENGRAM_TSAN)
  constexpr uint64_t kN = 20000;
#else
  constexpr uint64_t kN = 200000;
#endif
  // One thread appends as fast as it can; another registers a callback for
  // every LSN in order once it is published, as one actor gating its
  // replies does. Its LSN is often durable already while the flusher is
  // still running the callbacks of an earlier sync: the window in which an
  // inline call would overtake them. Callbacks take a little time, as a
  // real send does, to keep that window open.
  std::thread appender([&] {
    std::string p(16, 'x');
    for (uint64_t i = 0; i < kN; ++i) {
      RecordInput in;
      in.payload = p;
      REQUIRE((*j)->Append(in).ok());
    }
  });
  std::mutex mu;
  std::vector<uint64_t> order;
  order.reserve(kN);
  for (uint64_t lsn = 1; lsn <= kN; ++lsn) {
    while ((*j)->last_lsn() < lsn) std::this_thread::yield();
    (*j)->OnDurable(lsn, [&, lsn](absl::Status s) {
      REQUIRE(s.ok());
      volatile uint64_t spin = 0;
      for (int k = 0; k < 200; ++k) spin = spin + k;
      std::lock_guard<std::mutex> g(mu);
      order.push_back(lsn);
    });
  }
  appender.join();
  REQUIRE((*j)->Sync().ok());
  REQUIRE((*j)->Close().ok());
  REQUIRE(order.size() == kN);
  uint64_t inversions = 0;
  for (size_t i = 1; i < order.size(); ++i) inversions += order[i] < order[i - 1];
  CHECK(inversions == 0);
}

}  // namespace
}  // namespace engram
