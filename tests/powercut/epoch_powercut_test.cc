// Epoch records under the power-cut model: when Journal::Open (with
// record_epochs) returns, its epoch record and every record before it are
// on disk, at both durability levels, also when the epoch had to roll away
// from a version-1 segment.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "engram/journal/epoch.h"
#include "engram/journal/journal.h"
#include "engram/journal/reader.h"
#include "journal/internal/format.h"
#include "tests/journal/test_util.h"
#include "tests/powercut/powercut_util.h"
#include "tests/powercut/sync_model.h"

namespace engram::powercut {
namespace {

void SyncPath(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY);
  REQUIRE(fd >= 0);
  REQUIRE(fsync(fd) == 0);
  close(fd);
}

JournalOptions Options(Durability d, bool epochs) {
  JournalOptions o;
  o.segment_size = kSegmentSize;
  o.durability = d;
  o.record_epochs = epochs;
  o.node_name = "cut-node";
  return o;
}

// Appends `n` verifiable records, noting their payloads by LSN.
void AppendSome(Journal& j, int n, uint64_t* key, std::vector<std::string>* by_lsn) {
  for (int i = 0; i < n; ++i) {
    const std::string p = Payload((*key)++, 300);
    RecordInput in;
    in.stream_id = 5;
    in.payload = p;
    const uint64_t lsn = j.Append(in).value();
    if (by_lsn->size() <= lsn) by_lsn->resize(lsn + 1);
    (*by_lsn)[lsn] = p;
  }
}

// Cuts the power now and at the sync point right after Open returned;
// each image must hold the epoch record at its base LSN and every record
// before it.
void CheckCuts(const std::string& root, const ScratchDir& tmp, const std::string& name,
               uint64_t point, const EpochRecord& epoch,
               const std::vector<std::string>& by_lsn) {
  int n = 0;
  for (uint64_t at : {CrashOptions::kNow, point}) {
    CrashOptions o;
    o.at_point = at;
    const std::string out = tmp.Sub(absl::StrCat(name, "-cut", ++n));
    REQUIRE(SyncModel::Get().CrashImage(out, o).ok());
    const std::string dir = out + "/journal";
    INFO("cut at " << (at == CrashOptions::kNow ? std::string("now") : std::to_string(at))
                   << "; events:\n"
                   << SyncModel::Get().DescribeEvents(point > 8 ? point - 8 : 0, point + 1));
    // Every record up to the epoch record was acknowledged by Open's return.
    const JournalCheck c = CheckJournal(dir, by_lsn, epoch.base_lsn);
    CHECK(c.error == "");
    CHECK(c.recovered_last >= epoch.base_lsn);
    auto r = Reader::Open(dir, epoch.base_lsn);
    REQUIRE(r.ok());
    RecordView v;
    REQUIRE((*r)->Next(&v).value());
    REQUIRE(IsEpochRecord(v));
    CHECK(DecodeEpochRecord(v.payload).value() == epoch);
  }
}

TEST_CASE("a power cut after Open returns keeps its epoch and every record before it",
          "[powercut][epoch]") {
  for (Durability d : {Durability::kProcess, Durability::kSync}) {
    const std::string level = d == Durability::kProcess ? "process" : "sync";
    INFO("durability " << level);
    ScratchDir tmp;
    const std::string root = tmp.Sub("root");
    const std::string dir = root + "/journal";
    REQUIRE(mkdir(root.c_str(), 0700) == 0);
    REQUIRE(mkdir(dir.c_str(), 0700) == 0);
    SyncPath(root);
    Watching watch(root);
    REQUIRE(watch.status().ok());
    std::vector<std::string> by_lsn(1);
    uint64_t key = 1;
    {
      // A first writer at kProcess that never syncs: its records (several
      // segments) are only in the page cache...
      auto j = Journal::Open(dir, Options(Durability::kProcess, false));
      REQUIRE(j.ok());
      AppendSome(**j, 40, &key, &by_lsn);
    }
    // ...until the next writer's Open makes them durable with its epoch.
    auto j = Journal::Open(dir, Options(d, true));
    REQUIRE(j.ok());
    const uint64_t point = SyncModel::Get().point();
    const EpochRecord epoch = (*j)->epoch_record();
    REQUIRE(epoch.base_lsn == 41);
    by_lsn.resize(epoch.base_lsn + 1);
    by_lsn[epoch.base_lsn] = EncodeEpochRecord(epoch);
    CheckCuts(root, tmp, level, point, epoch, by_lsn);
  }
}

TEST_CASE("a power cut after the roll from a version-1 segment keeps the epoch",
          "[powercut][epoch]") {
  ScratchDir tmp;
  const std::string root = tmp.Sub("root");
  const std::string dir = root + "/journal";
  REQUIRE(mkdir(root.c_str(), 0700) == 0);
  std::vector<std::string> by_lsn(1);
  uint64_t key = 1;
  {
    auto j = Journal::Open(dir, Options(Durability::kProcess, false));
    REQUIRE(j.ok());
    AppendSome(**j, 3, &key, &by_lsn);  // one segment
  }
  // An older build's journal: version 1, all of it durable when watching
  // starts.
  const std::string seg = dir + "/" + internal::SegmentFileName(1);
  std::string bytes = testing::ReadFile(seg);
  internal::SegmentHeader h;
  std::memcpy(&h, bytes.data(), sizeof h);
  h.format_version = 1;
  h.checksum = internal::SegmentHeaderChecksum(h);
  std::memcpy(bytes.data(), &h, sizeof h);
  testing::WriteFile(seg, bytes);
  Watching watch(root);
  REQUIRE(watch.status().ok());
  auto j = Journal::Open(dir, Options(Durability::kProcess, true));
  REQUIRE(j.ok());
  REQUIRE((*j)->recovery().sealed_for_epoch);
  const uint64_t point = SyncModel::Get().point();
  const EpochRecord epoch = (*j)->epoch_record();
  REQUIRE(epoch.base_lsn == 4);
  by_lsn.resize(5);
  by_lsn[4] = EncodeEpochRecord(epoch);
  CheckCuts(root, tmp, "v1", point, epoch, by_lsn);
}

}  // namespace
}  // namespace engram::powercut
