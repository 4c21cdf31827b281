// Runs the `engram` binary against journals written by the library.
#include <catch2/catch.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

#include <nlohmann/json.hpp>

#include "journal/internal/format.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "engram/journal/epoch.h"
#include "engram/journal/journal.h"
#include "tests/journal/test_util.h"
#include "tests/tools/command_result.h"

namespace engram {
namespace {

using testing::TempDir;

using Result = testing::CommandResult;
using testing::CountLines;

Result Run(const TempDir& tmp, const std::string& args) {
  return testing::RunCommand(tmp, std::string(ENGRAM_CLI) + " " + args);
}

// A journal with 100 records of types 0..3 and payload "record N".
std::string MakeJournal(const TempDir& tmp) {
  const std::string dir = tmp.Sub("j");
  JournalOptions o;
  o.segment_size = 8192;
  auto j = Journal::Open(dir, o);
  REQUIRE(j.ok());
  for (int i = 1; i <= 100; ++i) {
    std::string p = "record " + std::to_string(i);
    RecordInput in;
    in.stream_id = 7;
    in.stream_version = static_cast<uint64_t>(i);
    in.type_id = static_cast<uint32_t>(i % 4);
    in.timestamp_ns = 1700000000000000000 + i;
    in.payload = p;
    REQUIRE((*j)->Append(in).ok());
  }
  return dir;
}

TEST_CASE("engram journal verify passes a clean journal", "[tools]") {
  TempDir tmp;
  const std::string dir = MakeJournal(tmp);
  Result r = Run(tmp, "journal verify " + dir);
  CHECK(r.code == 0);
  CHECK_THAT(r.out, Catch::Contains("100 records"));
  CHECK_THAT(r.out, Catch::Contains("LSN 1..100"));
  CHECK(r.err.empty());  // no progress: stderr is not a terminal
}

TEST_CASE("engram journal verify names segment offset and LSN of corruption", "[tools]") {
  TempDir tmp;
  const std::string dir = MakeJournal(tmp);
  const std::string seg = dir + "/" + internal::SegmentFileName(1);
  std::string bytes = testing::ReadFile(seg);
  const size_t off = internal::kSegmentHeaderSize;  // record 1
  bytes[off + internal::kRecordHeaderSize] ^= 0x20;
  testing::WriteFile(seg, bytes);
  Result r = Run(tmp, "journal verify " + dir);
  CHECK(r.code == 1);
  CHECK_THAT(r.err, Catch::Contains(internal::SegmentFileName(1)));
  CHECK_THAT(r.err, Catch::Contains("offset 64"));
  CHECK_THAT(r.err, Catch::Contains("LSN 1"));
  CHECK(CountLines(r.err) == 1);
}

TEST_CASE("engram journal verify warns about a torn tail and exits 0", "[tools]") {
  TempDir tmp;
  const std::string dir = tmp.Sub("j");
  {
    JournalOptions o;
    o.segment_size = 8192;
    auto j = Journal::Open(dir, o);
    REQUIRE(j.ok());
    REQUIRE((*j)->Append(RecordInput{}).ok());
  }
  const std::string seg = dir + "/" + internal::SegmentFileName(1);
  std::string bytes = testing::ReadFile(seg);
  const size_t at = internal::kSegmentHeaderSize + internal::kRecordHeaderSize;
  const uint32_t size = 90;
  std::memcpy(bytes.data() + at, &size, 4);
  bytes[at + 20] = 1;
  testing::WriteFile(seg, bytes);
  Result r = Run(tmp, "journal verify " + dir);
  CHECK(r.code == 0);
  CHECK_THAT(r.err, Catch::Contains("torn tail"));
  CHECK_THAT(r.err, Catch::Contains("offset 120"));
}

TEST_CASE("engram journal dump prints one line per record in range", "[tools]") {
  TempDir tmp;
  const std::string dir = MakeJournal(tmp);
  Result all = Run(tmp, "journal dump " + dir);
  CHECK(all.code == 0);
  CHECK(CountLines(all.out) == 100);
  CHECK_THAT(all.out, Catch::StartsWith("1 stream=7 version=1 type=1"));
  CHECK_THAT(all.out, Catch::Contains("payload=\"record 1\""));
  Result range = Run(tmp, "journal dump " + dir + " --from 10 --to 19");
  CHECK(range.code == 0);
  CHECK(CountLines(range.out) == 10);
  CHECK_THAT(range.out, Catch::StartsWith("10 stream=7"));
  Result json = Run(tmp, "journal dump " + dir + " --from 42 --to 42 --json");
  CHECK(json.code == 0);
  CHECK(json.out ==
        "{\"lsn\":42,\"stream\":7,\"version\":42,\"type\":2,\"schema\":0,\"flags\":0,"
        "\"time_ns\":1700000000000000042,\"time\":\"2023-11-14T22:13:20.000000Z\","
        "\"size\":9,\"batch\":1,\"payload\":\"record 42\"}\n");
}

TEST_CASE("engram journal dump --json writes valid JSON that keeps the payload bytes",
          "[tools][json]") {
  TempDir tmp;
  const std::string dir = tmp.Sub("j");
  // Every byte value once, over 8 records of 32 bytes (the preview length),
  // then a memory image's type catalog: a good and a malformed entry.
  std::vector<std::string> payloads;
  for (int r = 0; r < 8; ++r) {
    std::string p;
    for (int i = 0; i < 32; ++i) p += static_cast<char>(r * 32 + i);
    payloads.push_back(p);
  }
  {
    JournalOptions o;
    o.segment_size = 8192;
    auto j = Journal::Open(dir, o);
    REQUIRE(j.ok());
    for (const std::string& p : payloads) {
      RecordInput in;
      in.stream_id = 3;
      in.type_id = 5;
      in.payload = p;
      REQUIRE((*j)->Append(in).ok());
    }
    for (const char* entry : {"5=shop.\"Quoted\"\\Name", "x=malformed"}) {
      RecordInput in;  // stream 0, type 0: a catalog entry
      in.payload = entry;
      REQUIRE((*j)->Append(in).ok());
    }
    const std::string zs(40, 'z');  // longer than the preview
    RecordInput in;
    in.stream_id = 3;
    in.type_id = 5;
    in.payload = zs;
    REQUIRE((*j)->Append(in).ok());
  }
  Result r = Run(tmp, "journal dump " + dir + " --json");
  REQUIRE(r.code == 0);
  std::vector<nlohmann::json> lines;
  size_t start = 0;
  for (size_t nl; (nl = r.out.find('\n', start)) != std::string::npos; start = nl + 1) {
    INFO(r.out.substr(start, nl - start));
    lines.push_back(nlohmann::json::parse(r.out.substr(start, nl - start)));  // throws if invalid
  }
  REQUIRE(lines.size() == 11);
  for (size_t i = 0; i < payloads.size(); ++i) {
    const nlohmann::json& l = lines[i];
    CHECK(l["lsn"] == i + 1);
    CHECK(l["stream"] == 3);
    CHECK(l["size"] == 32);
    CHECK(!l.contains("type_name"));  // type 5 is cataloged after these records
    // Each byte is the code point of its value: back to the bytes.
    std::string bytes;
    for (const char32_t c : [&] {
           std::u32string u;
           const std::string s = l["payload"].get<std::string>();
           for (size_t k = 0; k < s.size();) {
             const unsigned char b = static_cast<unsigned char>(s[k]);
             if (b < 0x80) {
               u += b;
               k += 1;
             } else {
               u += static_cast<char32_t>(((b & 0x1f) << 6) | (s[k + 1] & 0x3f));
               k += 2;
             }
           }
           return u;
         }()) {
      REQUIRE(c < 0x100);
      bytes += static_cast<char>(c);
    }
    CHECK(bytes == payloads[i]);
  }
  CHECK(lines[8]["type_name"] == "type catalog");
  CHECK(lines[8]["payload"] == "5=shop.\"Quoted\"\\Name");
  CHECK(lines[9]["type_name"] == "type catalog");
  CHECK(lines[10]["type_name"] == "shop.\"Quoted\"\\Name");
  CHECK(lines[10]["payload"] == std::string(32, 'z') + "...");
  CHECK(lines[10]["size"] == 40);
}

TEST_CASE("engram journal stats counts records per type", "[tools]") {
  TempDir tmp;
  const std::string dir = MakeJournal(tmp);
  Result r = Run(tmp, "journal stats " + dir);
  CHECK(r.code == 0);
  CHECK_THAT(r.out, Catch::Contains("records: 100\n"));
  CHECK_THAT(r.out, Catch::Contains("lsn range: 1..100\n"));
  CHECK_THAT(r.out, Catch::Contains("type 0: 25\n"));
  CHECK_THAT(r.out, Catch::Contains("type 3: 25\n"));
  CHECK_THAT(r.out, Catch::Contains("segments: "));
}

TEST_CASE("engram journal tail follows records appended while it runs", "[tools]") {
  TempDir tmp;
  const std::string dir = tmp.Sub("j");
  JournalOptions o;
  o.segment_size = 8192;
  auto j = Journal::Open(dir, o);
  REQUIRE(j.ok());
  for (int i = 0; i < 20; ++i) REQUIRE((*j)->Append(RecordInput{}).ok());
  const std::string out = tmp.Sub("tail.out");
  const std::string cmd =
      std::string(ENGRAM_CLI) + " journal tail " + dir + " --idle-exit 1500 >" + out + " 2>&1 &";
  REQUIRE(std::system(cmd.c_str()) == 0);
  usleep(300 * 1000);
  std::string p(300, 'p');
  for (int i = 0; i < 100; ++i) {
    RecordInput in;
    in.payload = p;
    REQUIRE((*j)->Append(in).ok());  // rolls segments several times
  }
  // Wait for the tail to go idle and exit.
  std::string text;
  for (int i = 0; i < 100; ++i) {
    usleep(100 * 1000);
    text = testing::ReadFile(out);
    if (CountLines(text) >= 110) break;
  }
  CHECK(CountLines(text) == 110);  // the last 10 existing, then 100 new
  CHECK_THAT(text, Catch::StartsWith("11 stream="));
  CHECK_THAT(text, Catch::Contains("\n120 stream="));
}

TEST_CASE("engram reports bad usage and bad directories in one line", "[tools]") {
  TempDir tmp;
  struct Case {
    std::string args;
    int code;
    std::string text;
  } cases[] = {
      {"", 2, "Usage"},
      {"frobnicate", 2, "unknown command 'frobnicate'"},
      {"journal", 2, "needs a command"},
      {"journal explode " + tmp.path(), 2, "unknown journal command 'explode'"},
      {"journal verify", 2, "DIR is required"},
      {"journal dump " + tmp.path() + " --from", 2, "--from: 1 required LSN missing"},
      {"journal dump " + tmp.path() + " --from abc", 2,
       "--from: expects a non-negative number, got 'abc'"},
      {"journal dump " + tmp.path() + " --from 9 --to 3", 2, "--from 9 is after --to 3"},
      {"journal stats " + tmp.path() + " --json", 2, "not expected: --json"},
      {"journal verify " + tmp.Sub("missing"), 1, "does not exist"},
      {"journal verify " + tmp.path(), 1, "is not a journal"},
      {"journal dump " + tmp.path(), 1, "is not a journal"},
      {"journal tail " + tmp.Sub("missing"), 1, "does not exist"},
  };
  for (const Case& c : cases) {
    INFO("engram " << c.args);
    Result r = Run(tmp, c.args);
    CHECK(r.code == c.code);
    if (c.args.empty()) {
      CHECK_THAT(r.err, Catch::Contains(c.text));
    } else {
      CHECK_THAT(r.err, Catch::Contains(c.text));
      CHECK(CountLines(r.err) == 1);
    }
  }
}

TEST_CASE("engram refuses a journal of a newer format version clearly", "[tools]") {
  TempDir tmp;
  const std::string dir = MakeJournal(tmp);
  const std::string seg = dir + "/" + internal::SegmentFileName(1);
  std::string bytes = testing::ReadFile(seg);
  internal::SegmentHeader h;
  std::memcpy(&h, bytes.data(), sizeof h);
  h.format_version = 99;
  h.checksum = internal::SegmentHeaderChecksum(h);
  std::memcpy(bytes.data(), &h, sizeof h);
  testing::WriteFile(seg, bytes);
  for (const char* cmd : {"verify", "dump", "stats"}) {
    Result r = Run(tmp, std::string("journal ") + cmd + " " + dir);
    INFO(cmd);
    CHECK(r.code == 1);
    CHECK_THAT(r.err, Catch::Contains("version 99 is newer"));
    CHECK(CountLines(r.err) == 1);
  }
}

// A journal of two writers' tenures (epochs 1 and 2, nodes "node-a" and
// "node-b"), each with two records: LSNs 1 (epoch 1), 2, 3, 4 (epoch 2), 5, 6.
std::string MakeEpochJournal(const TempDir& tmp, EpochRecord* first, EpochRecord* second) {
  const std::string dir = tmp.Sub("epochs");
  for (const char* node : {"node-a", "node-b"}) {
    JournalOptions o;
    o.segment_size = 8192;
    o.record_epochs = true;
    o.node_name = node;
    auto j = Journal::Open(dir, o);
    REQUIRE(j.ok());
    *(first->epoch == 0 ? first : second) = (*j)->epoch_record();
    for (int i = 0; i < 2; ++i) {
      RecordInput in;
      in.stream_id = 7;
      in.type_id = 1;
      in.payload = "x";
      REQUIRE((*j)->Append(in).ok());
    }
  }
  return dir;
}

std::string Rfc3339(int64_t ns) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", absl::FromUnixNanos(ns), absl::UTCTimeZone());
}

TEST_CASE("engram journal dump decodes epoch records", "[tools][epoch]") {
  TempDir tmp;
  EpochRecord e1, e2;
  const std::string dir = MakeEpochJournal(tmp, &e1, &e2);
  REQUIRE(e2.base_lsn == 4);
  Result r = Run(tmp, "journal dump " + dir + " --from 4 --to 4");
  REQUIRE(r.code == 0);
  CHECK_THAT(r.out, Catch::StartsWith("4 stream=0 version=0 type=4294967295(epoch)"));
  CHECK_THAT(r.out, Catch::Contains(absl::StrFormat(
                        " epoch=2 previous=1 base_lsn=4 node=node-b pid=%u start=%s\n", e2.pid,
                        Rfc3339(e2.start_unix_ns))));
  CHECK(CountLines(r.out) == 1);
  Result json = Run(tmp, "journal dump " + dir + " --from 1 --to 1 --json");
  REQUIRE(json.code == 0);
  const nlohmann::json l = nlohmann::json::parse(json.out);
  CHECK(l["type_name"] == "epoch");
  CHECK(l["epoch"]["epoch"] == 1);
  CHECK(l["epoch"]["previous"] == 0);
  CHECK(l["epoch"]["base_lsn"] == 1);
  CHECK(l["epoch"]["node"] == "node-a");
  CHECK(l["epoch"]["pid"] == e1.pid);
  CHECK(l["epoch"]["start_ns"] == e1.start_unix_ns);
  CHECK(l["epoch"]["start"] == Rfc3339(e1.start_unix_ns));
  CHECK(l["epoch"]["journal_id"] == absl::StrFormat("%016x", e1.journal_id));
  // Other records are printed as before.
  Result user = Run(tmp, "journal dump " + dir + " --from 2 --to 2");
  CHECK_THAT(user.out, Catch::StartsWith("2 stream=7 version=0 type=1 "));
  CHECK_THAT(user.out, !Catch::Contains("epoch"));
}

TEST_CASE("engram journal stats lists the epochs", "[tools][epoch]") {
  TempDir tmp;
  EpochRecord e1, e2;
  const std::string dir = MakeEpochJournal(tmp, &e1, &e2);
  Result r = Run(tmp, "journal stats " + dir);
  REQUIRE(r.code == 0);
  CHECK_THAT(r.out, Catch::Contains("records: 6\n"));
  CHECK_THAT(r.out, Catch::Contains("type 4294967295 (epoch): 2\n"));
  CHECK_THAT(r.out, Catch::Contains(absl::StrFormat(
                        "epochs: 2\n"
                        "  epoch 1 (previous 0) from LSN 1, node node-a pid %u, started %s\n"
                        "  epoch 2 (previous 1) from LSN 4, node node-b pid %u, started %s\n",
                        e1.pid, Rfc3339(e1.start_unix_ns), e2.pid, Rfc3339(e2.start_unix_ns))));
  // A journal without epochs says so.
  Result none = Run(tmp, "journal stats " + MakeJournal(tmp));
  CHECK_THAT(none.out, Catch::Contains("epochs: 0\n"));
}

}  // namespace
}  // namespace engram
