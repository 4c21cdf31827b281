// Recovery on open: torn tails are cut and reported, corruption followed by
// valid records is an error naming file, offset and LSN (or is repaired on
// request), every flipped byte is detected, every truncation recovers.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
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

constexpr uint64_t kSeg = 4096;

JournalOptions Small() {
  JournalOptions o;
  o.segment_size = kSeg;
  o.prefault = false;
  return o;
}

// Writes a small one-segment journal; returns the segment bytes and the end
// offset of each record (aligned).
std::string MakeSmallJournal(const std::string& dir, std::vector<size_t>* ends) {
  {
    auto j = Journal::Open(dir, Small());
    REQUIRE(j.ok());
    for (uint64_t i = 1; i <= 9; ++i) {
      std::string p = PayloadFor(i, i * 23 % 150);
      RecordInput in;
      in.stream_id = i;
      in.payload = p;
      REQUIRE((*j)->Append(in).ok());
    }
    // And one batch of three.
    std::string a = "batch-a", b = "batch-b", c = "batch-c";
    RecordInput batch[3];
    batch[0].payload = a;
    batch[1].payload = b;
    batch[2].payload = c;
    REQUIRE((*j)->AppendBatch(batch).ok());
  }
  std::string bytes = testing::ReadFile(dir + "/" + internal::SegmentFileName(1));
  REQUIRE(bytes.size() == kSeg);
  size_t off = internal::kSegmentHeaderSize;
  for (int i = 0; i < 12; ++i) {
    uint32_t size;
    std::memcpy(&size, bytes.data() + off, 4);
    off += internal::AlignRecord(size);
    ends->push_back(off);
  }
  return bytes;
}

// Writes `bytes` as the only segment of a fresh journal directory.
std::string Install(const TempDir& tmp, const std::string& name, const std::string& bytes) {
  const std::string dir = tmp.Sub(name);
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  mkdir(dir.c_str(), 0700);
  testing::WriteFile(dir + "/" + internal::SegmentFileName(1), bytes);
  return dir;
}

uint64_t CountRecords(const std::string& dir) {
  auto r = Reader::Open(dir);
  REQUIRE(r.ok());
  uint64_t n = 0;
  RecordView v;
  for (;;) {
    auto got = (*r)->Next(&v);
    REQUIRE(got.ok());
    if (!*got) return n;
    REQUIRE(v.lsn == n + 1);
    ++n;
  }
}

TEST_CASE("a torn tail is cut off on recovery and reported", "[journal][recovery]") {
  TempDir tmp;
  std::vector<size_t> ends;
  std::string bytes = MakeSmallJournal(tmp.Sub("src"), &ends);
  // The writer died after publishing the size word of record 13 but before
  // its checksum matched (the body is half written).
  std::string torn = bytes;
  const size_t at = ends.back();
  internal::RecordHeader h{};
  h.size = 100;
  h.batch_count = 1;
  h.lsn = 13;
  std::memcpy(torn.data() + at, &h, sizeof h);
  std::memset(torn.data() + at + sizeof h, 0x5a, 20);
  const std::string dir = Install(tmp, "j", torn);
  auto j = Journal::Open(dir, Small());
  REQUIRE(j.ok());
  const RecoveryReport& rep = (*j)->recovery();
  CHECK(rep.torn_bytes == 76);
  CHECK(rep.torn_offset == at);
  CHECK_THAT(rep.torn_file, Catch::Contains(internal::SegmentFileName(1)));
  CHECK_THAT(rep.ToString(), Catch::Contains("76 bytes"));
  CHECK((*j)->last_lsn() == 12);
  auto lsn = (*j)->Append(RecordInput{});
  REQUIRE(lsn.ok());
  CHECK(*lsn == 13);
  j->reset();
  CHECK(CountRecords(dir) == 13);
}

TEST_CASE("a bad record followed by valid ones is corruption naming file offset and LSN",
          "[journal][recovery]") {
  TempDir tmp;
  std::vector<size_t> ends;
  std::string bytes = MakeSmallJournal(tmp.Sub("src"), &ends);
  std::string bad = bytes;
  bad[ends[3] + 60] ^= 0x01;  // payload byte of LSN 5
  const std::string dir = Install(tmp, "j", bad);
  auto j = Journal::Open(dir, Small());
  REQUIRE(j.status().code() == absl::StatusCode::kDataLoss);
  const std::string msg(j.status().message());
  CHECK_THAT(msg, Catch::Contains(internal::SegmentFileName(1)));
  CHECK_THAT(msg, Catch::Contains("offset " + std::to_string(ends[3])));
  CHECK_THAT(msg, Catch::Contains("LSN 5"));
  CHECK_THAT(msg, Catch::Contains("checksum"));
  // Nothing was changed by the refused open.
  CHECK(testing::ReadFile(dir + "/" + internal::SegmentFileName(1)) == bad);
  // Readers stop there with the same kind of error.
  auto r = Reader::Open(dir);
  REQUIRE(r.ok());
  RecordView v;
  for (int i = 0; i < 4; ++i) REQUIRE(*(*r)->Next(&v));
  CHECK((*r)->Next(&v).status().code() == absl::StatusCode::kDataLoss);

  SECTION("repair truncates there and reports the dropped LSN range") {
    JournalOptions o = Small();
    o.repair = true;
    auto rj = Journal::Open(dir, o);
    REQUIRE(rj.ok());
    const RecoveryReport& rep = (*rj)->recovery();
    CHECK(rep.repaired);
    CHECK(rep.dropped_first_lsn == 5);
    CHECK(rep.dropped_last_lsn == 12);
    CHECK(rep.repaired_offset == ends[3]);
    CHECK_THAT(rep.ToString(), Catch::Contains("dropped LSNs 5..12"));
    CHECK((*rj)->last_lsn() == 4);
    REQUIRE((*rj)->Append(RecordInput{}).ok());
    rj->reset();
    CHECK(CountRecords(dir) == 5);
  }
}

TEST_CASE("unpublished bytes after a hole are cut as a torn tail", "[journal][recovery]") {
  // Two writers: the one with the lower LSN died before publishing; the
  // other's record after the hole was never acknowledged (publication is
  // in LSN order), so it is cut, not called corruption.
  TempDir tmp;
  std::vector<size_t> ends;
  std::string bytes = MakeSmallJournal(tmp.Sub("src"), &ends);
  std::string holed = bytes;
  // Move record 12's bytes 64 bytes further and clear its old place.
  const size_t from = ends[10], len = ends[11] - ends[10];
  std::string rec = holed.substr(from, len);
  std::memset(holed.data() + from, 0, len);
  std::memcpy(holed.data() + from + 64, rec.data(), len);
  const std::string dir = Install(tmp, "j", holed);
  auto j = Journal::Open(dir, Small());
  REQUIRE(j.ok());
  // Cutting at LSN 12 (the batch head at ends[9]... is intact; record 12 is a
  // batch member, so the whole batch 10..12 goes).
  CHECK((*j)->recovery().torn_bytes > 0);
  CHECK((*j)->last_lsn() == 9);
}

TEST_CASE("every flipped byte of a small journal is detected", "[journal][recovery]") {
  TempDir tmp;
  std::vector<size_t> ends;
  const std::string bytes = MakeSmallJournal(tmp.Sub("src"), &ends);
  int errors = 0, cuts = 0;
  for (size_t i = 0; i < bytes.size(); ++i) {
    std::string flipped = bytes;
    flipped[i] = static_cast<char>(flipped[i] ^ 0xFF);
    const std::string dir = Install(tmp, "j", flipped);
    auto j = Journal::Open(dir, Small());
    if (!j.ok()) {
      ++errors;
      continue;
    }
    const RecoveryReport& rep = (*j)->recovery();
    INFO("flipped byte " << i);
    REQUIRE((rep.torn_bytes > 0 || rep.repaired));
    ++cuts;
    // What was kept is a whole prefix.
    const uint64_t kept = (*j)->last_lsn();
    j->reset();
    REQUIRE(CountRecords(dir) == kept);
  }
  CHECK(errors + cuts == static_cast<int>(bytes.size()));
  CHECK(errors > 0);
}

TEST_CASE("a journal cut at every byte offset recovers its whole records",
          "[journal][recovery]") {
  TempDir tmp;
  std::vector<size_t> ends;
  const std::string bytes = MakeSmallJournal(tmp.Sub("src"), &ends);
  const size_t data_end = ends.back();
  for (size_t cut = 0; cut <= data_end + 16; ++cut) {
    const std::string dir = Install(tmp, "j", bytes.substr(0, cut));
    auto j = Journal::Open(dir, Small());
    INFO("cut at " << cut);
    REQUIRE(j.ok());
    // Whole records (a batch counts whole or not at all) survive.
    uint64_t expect = 0;
    for (size_t k = 0; k < ends.size(); ++k) {
      if (ends[k] <= cut) expect = k + 1;
    }
    if (expect >= 10 && expect < 12) expect = 9;  // batch 10..12 is all or nothing
    REQUIRE((*j)->last_lsn() == expect);
    const RecoveryReport& rep = (*j)->recovery();
    const size_t keep_end = expect == 0 ? internal::kSegmentHeaderSize : ends[expect - 1];
    if (cut < internal::kSegmentHeaderSize) {
      CHECK(rep.torn_bytes == cut);
    } else if (cut > keep_end) {
      // Bytes of the partial record (its trailing zero bytes need no cut).
      CHECK(rep.torn_bytes <= cut - keep_end);
      if (rep.torn_bytes > 0) CHECK(rep.torn_offset == keep_end);
    } else {
      CHECK(rep.torn_bytes == 0);
    }
    CHECK_FALSE(rep.repaired);
    REQUIRE((*j)->Append(RecordInput{}).ok());
    j->reset();
    REQUIRE(CountRecords(dir) == expect + 1);
  }
}

TEST_CASE("a missing middle segment is an error", "[journal][recovery]") {
  TempDir tmp;
  const std::string dir = tmp.Sub("j");
  {
    auto j = Journal::Open(dir, Small());
    REQUIRE(j.ok());
    std::string p(300, 'm');
    for (int i = 0; i < 60; ++i) {
      RecordInput in;
      in.payload = p;
      REQUIRE((*j)->Append(in).ok());
    }
  }
  auto segs = ListSegments(dir);
  REQUIRE(segs->size() >= 3);
  unlink((*segs)[1].second.c_str());
  auto j = Journal::Open(dir, Small());
  REQUIRE(j.status().code() == absl::StatusCode::kDataLoss);
  CHECK_THAT(std::string(j.status().message()), Catch::Contains("missing"));
}

}  // namespace
}  // namespace engram

namespace engram {
namespace {

TEST_CASE("corruption early in a large segment is found quickly", "[journal][recovery]") {
  testing::TempDir tmp;
  const std::string dir = tmp.Sub("j");
  JournalOptions o;
  o.segment_size = 16 << 20;
  {
    auto j = Journal::Open(dir, o);
    REQUIRE(j.ok());
    for (uint64_t i = 1; i <= 60000; ++i) {
      // Payload bytes that look like plausible size words everywhere.
      std::string p = testing::PayloadFor(i, 200);
      RecordInput in;
      in.payload = p;
      REQUIRE((*j)->Append(in).ok());
    }
  }
  const std::string seg = dir + "/" + internal::SegmentFileName(1);
  std::string bytes = testing::ReadFile(seg);
  bytes[internal::kSegmentHeaderSize + 100] ^= 0x40;
  testing::WriteFile(seg, bytes);
  const auto start = std::chrono::steady_clock::now();
  auto j = Journal::Open(dir, o);
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  REQUIRE(j.status().code() == absl::StatusCode::kDataLoss);
  CHECK_THAT(std::string(j.status().message()), Catch::Contains("LSN 1"));
  CHECK_THAT(std::string(j.status().message()), Catch::Contains("up to LSN 60000"));
  CHECK(secs < 5.0);
}

}  // namespace
}  // namespace engram
