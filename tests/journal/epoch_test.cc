// Epoch records: the first record of every writer's tenure (record_epochs),
// their checks at recovery, the roll away from a version-1 segment, and the
// payload codec.
#include "engram/journal/epoch.h"

#include <unistd.h>

#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "engram/journal/journal.h"
#include "engram/journal/journal_scan.h"
#include "engram/journal/reader.h"
#include "journal/internal/format.h"
#include "journal/internal/segment_scanner.h"
#include "tests/journal/record_rewriter.h"
#include "tests/journal/test_util.h"
#include "tests/temp_dir.h"

namespace engram {
namespace {

using testing::TempDir;

JournalOptions EpochOptions(Durability d = Durability::kProcess) {
  JournalOptions o;
  o.segment_size = 16384;
  o.durability = d;
  o.record_epochs = true;
  o.node_name = "node-a";
  return o;
}

JournalOptions RawOptions() {
  JournalOptions o = EpochOptions();
  o.record_epochs = false;
  return o;
}

std::string SegmentPath(const std::string& dir, uint64_t first_lsn) {
  return dir + "/" + internal::SegmentFileName(first_lsn);
}

internal::SegmentHeader HeaderOf(const std::string& path) {
  const std::string bytes = testing::ReadFile(path);
  REQUIRE(bytes.size() >= sizeof(internal::SegmentHeader));
  internal::SegmentHeader h;
  std::memcpy(&h, bytes.data(), sizeof h);
  return h;
}

void AppendUserRecords(Journal& j, int n) {
  for (int i = 0; i < n; ++i) {
    const std::string p = "user " + std::to_string(i);
    RecordInput in;
    in.stream_id = 7;
    in.type_id = 3;
    in.payload = p;
    REQUIRE(j.Append(in).ok());
  }
}

// Every record of the journal, payloads copied.
struct ReadRecord {
  RecordView view;
  std::string payload;
};
std::vector<ReadRecord> ReadAll(const std::string& dir) {
  auto r = Reader::Open(dir, 0);
  REQUIRE(r.ok());
  std::vector<ReadRecord> out;
  RecordView v;
  for (;;) {
    auto more = (*r)->Next(&v);
    REQUIRE(more.ok());
    if (!*more) break;
    out.push_back({v, std::string(v.payload)});
    out.back().view.payload = out.back().payload;
  }
  return out;
}

// Sets a segment's header format version (recomputing its checksum).
void SetFormatVersion(const std::string& path, uint32_t version) {
  std::string bytes = testing::ReadFile(path);
  internal::SegmentHeader h;
  std::memcpy(&h, bytes.data(), sizeof h);
  h.format_version = version;
  h.checksum = internal::SegmentHeaderChecksum(h);
  std::memcpy(bytes.data(), &h, sizeof h);
  testing::WriteFile(path, bytes);
}

template <class T>
void PutAt(char* p, size_t offset, T v) {
  std::memcpy(p + offset, &v, sizeof v);
}

EpochRecord Sample() {
  EpochRecord e;
  e.epoch = 7;
  e.journal_id = 0x0123456789abcdefull;
  e.previous_epoch = 6;
  e.base_lsn = 4242;
  e.node = "host-1.example";
  e.pid = 31337;
  e.start_unix_ns = 1764650430123456789;
  return e;
}

TEST_CASE("the first writer writes epoch 1 at LSN 1, synced before Open returns",
          "[journal][epoch]") {
  TempDir tmp;
  const std::string dir = tmp.Sub("j");
  auto j = Journal::Open(dir, EpochOptions());
  REQUIRE(j.ok());
  const EpochRecord& e = (*j)->epoch_record();
  CHECK((*j)->epoch() == 1);
  CHECK(e.epoch == 1);
  CHECK(e.previous_epoch == 0);
  CHECK(e.base_lsn == 1);
  CHECK(e.node == "node-a");
  CHECK(e.pid == static_cast<uint32_t>(getpid()));
  CHECK(e.start_unix_ns > 0);
  CHECK(e.journal_id == HeaderOf(SegmentPath(dir, 1)).journal_id);
  CHECK(HeaderOf(SegmentPath(dir, 1)).format_version == 2);
  CHECK((*j)->recovery().epochs == 0);
  CHECK_FALSE((*j)->recovery().last_epoch.has_value());
  CHECK((*j)->last_lsn() == 1);
  // Even at kProcess the epoch record was fdatasync'ed (the power-cut model
  // in tests/powercut checks what that leaves on disk).
  CHECK((*j)->durable_lsn() >= e.base_lsn);
  CHECK((*j)->sync_count() >= 1);
  // The caller's first record comes after it.
  RecordInput in;
  in.stream_id = 1;
  CHECK((*j)->Append(in).value() == 2);
  REQUIRE((*j)->Close().ok());

  const std::vector<ReadRecord> all = ReadAll(dir);
  REQUIRE(all.size() == 2);
  CHECK(IsEpochRecord(all[0].view));
  CHECK(all[0].view.lsn == 1);
  CHECK(all[0].view.schema_version == kEpochSchemaVersion);
  CHECK(all[0].view.timestamp_ns == e.start_unix_ns);
  auto decoded = DecodeEpochRecord(all[0].payload);
  REQUIRE(decoded.ok());
  CHECK(*decoded == e);
  CHECK_FALSE(IsEpochRecord(all[1].view));
}

TEST_CASE("at sync durability the epoch record is durable when Open returns",
          "[journal][epoch]") {
  TempDir tmp;
  auto j = Journal::Open(tmp.Sub("j"), EpochOptions(Durability::kSync));
  REQUIRE(j.ok());
  CHECK((*j)->epoch() == 1);
  CHECK((*j)->durable_lsn() >= (*j)->epoch_record().base_lsn);
}

TEST_CASE("the node defaults to the host name", "[journal][epoch]") {
  TempDir tmp;
  JournalOptions o = EpochOptions();
  o.node_name.clear();
  auto j = Journal::Open(tmp.Sub("j"), o);
  REQUIRE(j.ok());
  char host[256] = {};
  REQUIRE(gethostname(host, sizeof host - 1) == 0);
  CHECK((*j)->epoch_record().node == std::string(host));
}

TEST_CASE("a node name longer than an epoch record holds is refused", "[journal][epoch]") {
  TempDir tmp;
  JournalOptions o = EpochOptions();
  o.node_name.assign(kMaxEpochNodeBytes + 1, 'n');
  auto j = Journal::Open(tmp.Sub("j"), o);
  CHECK(j.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK_THAT(std::string(j.status().message()), Catch::Contains("256 bytes"));
}

TEST_CASE("reopening writes the next epoch with the previous one and the next LSN as base",
          "[journal][epoch]") {
  TempDir tmp;
  const std::string dir = tmp.Sub("j");
  uint64_t journal_id = 0;
  {
    auto j = Journal::Open(dir, EpochOptions());
    REQUIRE(j.ok());
    journal_id = (*j)->epoch_record().journal_id;
    AppendUserRecords(**j, 5);  // LSNs 2..6
  }
  {
    JournalOptions o = EpochOptions();
    o.node_name = "node-b";
    auto j = Journal::Open(dir, o);
    REQUIRE(j.ok());
    REQUIRE((*j)->recovery().epochs == 1);
    REQUIRE((*j)->recovery().last_epoch.has_value());
    CHECK((*j)->recovery().last_epoch->epoch == 1);
    CHECK((*j)->recovery().last_epoch->node == "node-a");
    const EpochRecord& e = (*j)->epoch_record();
    CHECK(e.epoch == 2);
    CHECK(e.previous_epoch == 1);
    CHECK(e.base_lsn == 7);
    CHECK(e.journal_id == journal_id);
    CHECK(e.node == "node-b");
    CHECK((*j)->last_lsn() == 7);
    AppendUserRecords(**j, 3);  // LSNs 8..10
  }
  {
    // A writer that does not record epochs still sees them, and adds none.
    auto j = Journal::Open(dir, RawOptions());
    REQUIRE(j.ok());
    CHECK((*j)->epoch() == 0);
    CHECK((*j)->recovery().epochs == 2);
    CHECK((*j)->recovery().last_epoch->epoch == 2);
    CHECK((*j)->last_lsn() == 10);
  }
  auto j = Journal::Open(dir, EpochOptions());
  REQUIRE(j.ok());
  CHECK((*j)->epoch() == 3);
  CHECK((*j)->epoch_record().previous_epoch == 2);
  CHECK((*j)->epoch_record().base_lsn == 11);
  REQUIRE((*j)->Close().ok());
  std::vector<uint64_t> epoch_lsns;
  for (const ReadRecord& r : ReadAll(dir)) {
    if (IsEpochRecord(r.view)) epoch_lsns.push_back(r.view.lsn);
  }
  CHECK(epoch_lsns == std::vector<uint64_t>{1, 7, 11});
}

TEST_CASE("every segment a writer creates carries its epoch in the header",
          "[journal][epoch]") {
  TempDir tmp;
  const std::string dir = tmp.Sub("j");
  {
    auto j = Journal::Open(dir, EpochOptions());
    REQUIRE(j.ok());
    AppendUserRecords(**j, 400);  // 16 KiB segments: several rolls
  }
  auto j = Journal::Open(dir, EpochOptions());
  REQUIRE(j.ok());
  REQUIRE((*j)->epoch() == 2);
  const uint64_t second_tenure = (*j)->epoch_record().base_lsn;
  AppendUserRecords(**j, 400);
  REQUIRE((*j)->Close().ok());
  int by_epoch[3] = {0, 0, 0};
  for (const std::string& name : testing::ListDir(dir)) {
    if (name.size() != 24 || name.substr(20) != ".seg") continue;
    const uint64_t first = std::stoull(name.substr(0, 20));
    const internal::SegmentHeader h = HeaderOf(dir + "/" + name);
    INFO(name);
    // The first tenure's segments say 1; those created after the second
    // writer's epoch record say 2 (the segment it continued in says 1).
    CHECK(h.creator_epoch == (first > second_tenure ? 2u : 1u));
    if (h.creator_epoch <= 2) ++by_epoch[h.creator_epoch];
  }
  CHECK(by_epoch[0] == 0);
  CHECK(by_epoch[1] >= 2);  // the first tenure rolled
  CHECK(by_epoch[2] >= 1);  // and so did the second
}

TEST_CASE("retention that deletes the newest epoch record does not make a writer reuse an epoch",
          "[journal][epoch]") {
  TempDir tmp;
  const std::string dir = tmp.Sub("j");
  for (int tenure = 1; tenure <= 2; ++tenure) {
    auto j = Journal::Open(dir, EpochOptions());
    REQUIRE(j.ok());
    REQUIRE((*j)->epoch() == static_cast<uint64_t>(tenure));
    AppendUserRecords(**j, 400);
  }
  uint64_t last = 0;
  {
    auto j = Journal::Open(dir, EpochOptions());
    REQUIRE(j.ok());
    REQUIRE((*j)->epoch() == 3);
    AppendUserRecords(**j, 400);
    // Every segment but the active one goes, the epoch records with them.
    auto deleted = (*j)->DeleteSegmentsBelow((*j)->last_lsn());
    REQUIRE(deleted.ok());
    REQUIRE(*deleted > 0);
    last = (*j)->last_lsn();
  }
  auto scan = ScanJournal(dir);
  REQUIRE(scan.ok());
  auto j = Journal::Open(dir, EpochOptions());
  REQUIRE(j.ok());
  CHECK((*j)->recovery().epochs == 0);  // no epoch record is left
  CHECK((*j)->epoch() == 4);
  CHECK((*j)->epoch_record().previous_epoch == 3);
  CHECK((*j)->epoch_record().base_lsn == last + 1);
}

TEST_CASE("a journal without epochs keeps LSN 1 for the first record", "[journal][epoch]") {
  TempDir tmp;
  auto j = Journal::Open(tmp.Sub("j"), RawOptions());
  REQUIRE(j.ok());
  CHECK((*j)->epoch() == 0);
  CHECK((*j)->epoch_record() == EpochRecord{});
  RecordInput in;
  in.stream_id = 1;
  CHECK((*j)->Append(in).value() == 1);
}

TEST_CASE("appending a stream 0 record with a reserved type id is refused",
          "[journal][epoch]") {
  TempDir tmp;
  auto j = Journal::Open(tmp.Sub("j"), RawOptions());
  REQUIRE(j.ok());
  for (uint32_t type : {kReservedTypeIdFirst, kEpochTypeId}) {
    RecordInput in;
    in.stream_id = 0;
    in.type_id = type;
    auto lsn = (*j)->Append(in);
    CHECK(lsn.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK_THAT(std::string(lsn.status().message()), Catch::Contains("reserved"));
    RecordInput ok;
    ok.stream_id = 0;
    ok.type_id = 1;
    RecordInput batch[2] = {ok, in};
    CHECK((*j)->AppendBatch(batch).status().code() == absl::StatusCode::kInvalidArgument);
  }
  CHECK((*j)->last_lsn() == 0);
  // Other streams and type ids below the range are the caller's.
  RecordInput other;
  other.stream_id = 1;
  other.type_id = kEpochTypeId;
  CHECK((*j)->Append(other).ok());
  other.stream_id = 0;
  other.type_id = kReservedTypeIdFirst - 1;
  CHECK((*j)->Append(other).ok());
}

TEST_CASE("a version-1 journal is rolled to a version-2 segment before its epoch",
          "[journal][epoch]") {
  TempDir tmp;
  const std::string dir = tmp.Sub("j");
  {
    auto j = Journal::Open(dir, RawOptions());
    REQUIRE(j.ok());
    AppendUserRecords(**j, 4);  // LSNs 1..4
  }
  // What an older build wrote: a version-1 segment.
  SetFormatVersion(SegmentPath(dir, 1), 1);
  {
    auto j = Journal::Open(dir, EpochOptions());
    REQUIRE(j.ok());
    CHECK((*j)->recovery().sealed_for_epoch);
    CHECK((*j)->epoch() == 1);
    CHECK((*j)->epoch_record().base_lsn == 5);
    AppendUserRecords(**j, 2);  // LSNs 6, 7
  }
  // The old segment stays version 1 and ends before the epoch record; the
  // epoch record opens a new version-2 segment.
  CHECK(HeaderOf(SegmentPath(dir, 1)).format_version == 1);
  CHECK(HeaderOf(SegmentPath(dir, 5)).format_version == 2);
  auto scan = ScanJournal(dir);
  REQUIRE(scan.ok());
  CHECK_FALSE(scan->corrupt);
  CHECK_FALSE(scan->torn);
  REQUIRE(scan->segments.size() == 2);
  CHECK(scan->segments[0].records == 4);
  CHECK(scan->segments[1].first_lsn == 5);
  CHECK(scan->last_lsn == 7);
  const std::vector<ReadRecord> all = ReadAll(dir);
  REQUIRE(all.size() == 7);
  for (const ReadRecord& r : all) CHECK(IsEpochRecord(r.view) == (r.view.lsn == 5));

  // The active segment is version 2 now: the next epoch needs no roll.
  auto j = Journal::Open(dir, EpochOptions());
  REQUIRE(j.ok());
  CHECK_FALSE((*j)->recovery().sealed_for_epoch);
  CHECK((*j)->epoch() == 2);
  CHECK((*j)->epoch_record().base_lsn == 8);
  REQUIRE((*j)->Close().ok());
  CHECK(ListSegments(dir)->size() == 2);
}

TEST_CASE("an empty version-1 segment is replaced by a version-2 one for the epoch",
          "[journal][epoch]") {
  TempDir tmp;
  const std::string dir = tmp.Sub("j");
  {
    auto j = Journal::Open(dir, RawOptions());  // a segment holding no record
    REQUIRE(j.ok());
  }
  SetFormatVersion(SegmentPath(dir, 1), 1);
  {
    auto j = Journal::Open(dir, EpochOptions());
    REQUIRE(j.ok());
    CHECK((*j)->recovery().sealed_for_epoch);
    CHECK((*j)->recovery().removed_files == std::vector<std::string>{SegmentPath(dir, 1)});
    CHECK((*j)->epoch_record().base_lsn == 1);
    AppendUserRecords(**j, 1);
  }
  CHECK(HeaderOf(SegmentPath(dir, 1)).format_version == 2);
  CHECK(ListSegments(dir)->size() == 1);
  const std::vector<ReadRecord> all = ReadAll(dir);
  REQUIRE(all.size() == 2);
  CHECK(IsEpochRecord(all[0].view));
  auto j = Journal::Open(dir, EpochOptions());
  REQUIRE(j.ok());
  CHECK((*j)->epoch() == 2);
  CHECK((*j)->epoch_record().base_lsn == 3);
}

TEST_CASE("a version-1 segment's stream 0 records are never taken for epochs",
          "[journal][epoch]") {
  TempDir tmp;
  const std::string dir = tmp.Sub("j");
  {
    auto j = Journal::Open(dir, RawOptions());
    REQUIRE(j.ok());
    RecordInput in;
    in.stream_id = 0;
    in.type_id = 5;
    in.payload = "not an epoch";
    REQUIRE((*j)->Append(in).value() == 1);
  }
  // An older build let users write stream 0 type 0xFFFFFFFF.
  testing::RewriteRecord(SegmentPath(dir, 1), 1,
                [](internal::RecordHeader* h, char*, size_t) { h->type_id = kEpochTypeId; });
  SECTION("in a version-1 segment it is the user's record") {
    SetFormatVersion(SegmentPath(dir, 1), 1);
    auto j = Journal::Open(dir, EpochOptions());
    REQUIRE(j.ok());
    CHECK((*j)->recovery().epochs == 0);
    CHECK((*j)->epoch() == 1);
    CHECK((*j)->epoch_record().base_lsn == 2);
  }
  SECTION("in a version-2 segment it is a bad epoch record") {
    auto j = Journal::Open(dir, EpochOptions());
    CHECK(j.status().code() == absl::StatusCode::kDataLoss);
    CHECK_THAT(std::string(j.status().message()), Catch::Contains("LSN 1"));
  }
}

// A journal with epochs 1 (LSN 1) and 2 (LSN 4), user records between.
std::string TwoEpochs(const TempDir& tmp) {
  const std::string dir = tmp.Sub("j");
  {
    auto j = Journal::Open(dir, EpochOptions());
    REQUIRE(j.ok());
    AppendUserRecords(**j, 2);
  }
  auto j = Journal::Open(dir, EpochOptions());
  REQUIRE(j.ok());
  REQUIRE((*j)->epoch_record().base_lsn == 4);
  AppendUserRecords(**j, 2);
  return dir;
}

// Opens `dir` (with and without record_epochs) expecting kDataLoss naming
// `lsn` and `what`, and the segment left exactly as it was.
void ExpectRefused(const std::string& dir, uint64_t lsn, const std::string& what) {
  const std::string before = testing::ReadFile(SegmentPath(dir, 1));
  for (bool record : {true, false}) {
    JournalOptions o = EpochOptions();
    o.record_epochs = record;
    auto j = Journal::Open(dir, o);
    INFO("record_epochs " << record << ": " << j.status().ToString());
    REQUIRE(j.status().code() == absl::StatusCode::kDataLoss);
    CHECK_THAT(std::string(j.status().message()),
               Catch::Contains("LSN " + std::to_string(lsn) + ":"));
    CHECK_THAT(std::string(j.status().message()), Catch::Contains(what));
    CHECK_THAT(std::string(j.status().message()), Catch::Contains(SegmentPath(dir, 1)));
    // Repair does not cut there either.
    o.repair = true;
    CHECK(Journal::Open(dir, o).status().code() == absl::StatusCode::kDataLoss);
  }
  CHECK(testing::ReadFile(SegmentPath(dir, 1)) == before);
}

TEST_CASE("a malformed epoch payload is corruption naming its LSN", "[journal][epoch]") {
  TempDir tmp;
  const std::string dir = TwoEpochs(tmp);
  testing::RewriteRecord(SegmentPath(dir, 1), 4, [](internal::RecordHeader*, char* p, size_t size) {
    REQUIRE(size > kEpochFixedBytes);
    PutAt<uint32_t>(p, 44, static_cast<uint32_t>(size));  // node size past the end
  });
  ExpectRefused(dir, 4, "expected");
}

TEST_CASE("an epoch record of another journal is corruption naming its LSN",
          "[journal][epoch]") {
  TempDir tmp;
  const std::string dir = TwoEpochs(tmp);
  testing::RewriteRecord(SegmentPath(dir, 1), 1, [](internal::RecordHeader*, char* p, size_t) {
    PutAt<uint64_t>(p, 8, 0x5555aaaa5555aaaaull);
  });
  ExpectRefused(dir, 1, "journal id 5555aaaa5555aaaa");
}

TEST_CASE("an epoch not greater than the one before is corruption naming its LSN",
          "[journal][epoch]") {
  TempDir tmp;
  const std::string dir = TwoEpochs(tmp);
  // Epoch 2 at LSN 4 rewritten as epoch 1 (previous 0): a well-formed
  // record that does not move the epoch on.
  testing::RewriteRecord(SegmentPath(dir, 1), 4, [](internal::RecordHeader*, char* p, size_t) {
    PutAt<uint64_t>(p, 0, 1);
    PutAt<uint64_t>(p, 16, 0);
  });
  ExpectRefused(dir, 4, "not greater than epoch 1");
}

TEST_CASE("an epoch record whose base LSN is not its own is corruption naming its LSN",
          "[journal][epoch]") {
  TempDir tmp;
  const std::string dir = TwoEpochs(tmp);
  testing::RewriteRecord(SegmentPath(dir, 1), 4, [](internal::RecordHeader*, char* p, size_t) {
    PutAt<uint64_t>(p, 24, 3);
  });
  ExpectRefused(dir, 4, "base LSN 3");
}

TEST_CASE("an epoch record of a newer schema version is refused", "[journal][epoch]") {
  TempDir tmp;
  const std::string dir = TwoEpochs(tmp);
  testing::RewriteRecord(SegmentPath(dir, 1), 4,
                [](internal::RecordHeader* h, char*, size_t) { h->schema_version = 2; });
  auto j = Journal::Open(dir, EpochOptions());
  CHECK(j.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK_THAT(std::string(j.status().message()), Catch::Contains("LSN 4:"));
  CHECK_THAT(std::string(j.status().message()), Catch::Contains("schema version 2"));
}

TEST_CASE("an epoch record encodes and decodes to the same fields", "[journal][epoch]") {
  const EpochRecord e = Sample();
  const std::string p = EncodeEpochRecord(e);
  CHECK(p.size() == kEpochFixedBytes + e.node.size());
  auto d = DecodeEpochRecord(p);
  REQUIRE(d.ok());
  CHECK(*d == e);

  EpochRecord longest = e;
  longest.node.assign(kMaxEpochNodeBytes, 'x');
  CHECK(DecodeEpochRecord(EncodeEpochRecord(longest)).value() == longest);
  EpochRecord empty_node = e;
  empty_node.node.clear();
  CHECK(DecodeEpochRecord(EncodeEpochRecord(empty_node)).value() == empty_node);
  EpochRecord first = e;
  first.epoch = 1;
  first.previous_epoch = 0;
  CHECK(DecodeEpochRecord(EncodeEpochRecord(first)).value() == first);
}

TEST_CASE("the epoch payload of FORMAT.md's worked example encodes as documented",
          "[journal][epoch]") {
  EpochRecord e;
  e.epoch = 2;
  e.journal_id = 0x2ecddf419c9b900full;
  e.previous_epoch = 1;
  e.base_lsn = 4;
  e.start_unix_ns = 1700000000000000123;
  e.pid = 0x5c49;
  e.node = "db-1";
  const std::string hex =
      "02000000000000000f909b9c41dfcd2e010000000000000004000000000000007b002a36fe9c9717"
      "495c00000400000064622d31";
  std::string expected;
  for (size_t i = 0; i < hex.size(); i += 2) {
    expected += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
  }
  CHECK(EncodeEpochRecord(e) == expected);
  CHECK(DecodeEpochRecord(expected).value() == e);
}

TEST_CASE("every truncation and extension of an epoch payload is refused",
          "[journal][epoch]") {
  const std::string p = EncodeEpochRecord(Sample());
  for (size_t n = 0; n < p.size(); ++n) {
    auto d = DecodeEpochRecord(absl::string_view(p).substr(0, n));
    INFO("first " << n << " bytes");
    CHECK(d.status().code() == absl::StatusCode::kDataLoss);
  }
  for (const char extra : {'\0', 'x'}) {
    auto d = DecodeEpochRecord(p + extra);
    CHECK(d.status().code() == absl::StatusCode::kDataLoss);
  }
}

TEST_CASE("epoch payloads with impossible fields are refused", "[journal][epoch]") {
  auto with = [](const std::function<void(EpochRecord*)>& f) {
    EpochRecord e = Sample();
    f(&e);
    return DecodeEpochRecord(EncodeEpochRecord(e)).status();
  };
  CHECK(with([](EpochRecord* e) { e->epoch = 0; }).code() == absl::StatusCode::kDataLoss);
  CHECK(with([](EpochRecord* e) { e->previous_epoch = e->epoch; }).code() ==
        absl::StatusCode::kDataLoss);
  CHECK(with([](EpochRecord* e) { e->base_lsn = 0; }).code() == absl::StatusCode::kDataLoss);
  // A node size field beyond the limit, with the bytes present.
  std::string p = EncodeEpochRecord(Sample());
  p.resize(kEpochFixedBytes);
  p.append(kMaxEpochNodeBytes + 1, 'n');
  PutAt<uint32_t>(p.data(), 44, static_cast<uint32_t>(kMaxEpochNodeBytes + 1));
  auto d = DecodeEpochRecord(p);
  CHECK(d.status().code() == absl::StatusCode::kDataLoss);
  CHECK_THAT(std::string(d.status().message()), Catch::Contains("longer than 255"));
}

TEST_CASE("reserved type ids are the top 256 of the 32-bit range", "[journal][epoch]") {
  CHECK_FALSE(IsReservedTypeId(0));
  CHECK_FALSE(IsReservedTypeId(0xFFFFFEFFu));
  CHECK(IsReservedTypeId(0xFFFFFF00u));
  CHECK(IsReservedTypeId(kEpochTypeId));
  RecordView v;
  v.type_id = kEpochTypeId;
  CHECK(IsEpochRecord(v));
  v.stream_id = 1;
  CHECK_FALSE(IsEpochRecord(v));
}

}  // namespace
}  // namespace engram
