// The image hash across processes: `bank hash` and `bank replay`, each a
// process of its own, must print the same value for the same journal and
// LSN (a leader, a follower and a fresh replay compare images this way).
#include <cstdint>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "tests/temp_dir.h"
#include "tests/tools/command_result.h"

namespace {

using engram::testing::CommandResult;
using engram::testing::RunCommand;
using engram::testing::TempDir;

// The hashes of `bank hash` output lines "LSN <lsn>: hash=<16 hex digits>",
// in order.
std::vector<std::pair<uint64_t, uint64_t>> ParseHashLines(const std::string& out) {
  std::vector<std::pair<uint64_t, uint64_t>> hashes;
  for (absl::string_view line : absl::StrSplit(out, '\n', absl::SkipEmpty())) {
    const std::vector<std::string> parts = absl::StrSplit(line, absl::ByAnyChar(" :="));
    // "LSN", "<lsn>", "", "hash", "<hex>"
    uint64_t lsn = 0, hash = 0;
    REQUIRE(parts.size() == 5);
    REQUIRE(parts[0] == "LSN");
    REQUIRE(absl::SimpleAtoi(parts[1], &lsn));
    REQUIRE(parts[3] == "hash");
    REQUIRE(parts[4].size() == 16);
    REQUIRE(absl::SimpleHexAtoi(parts[4], &hash));
    hashes.emplace_back(lsn, hash);
  }
  return hashes;
}

// `bank replay` prints "as of LSN <lsn>: accounts=... hash=<hex>".
struct ReplayLine {
  uint64_t lsn = 0;
  uint64_t hash = 0;
};
ReplayLine ParseReplay(const std::string& out) {
  ReplayLine r;
  const size_t at = out.find("as of LSN ");
  REQUIRE(at != std::string::npos);
  const size_t colon = out.find(':', at);
  REQUIRE(colon != std::string::npos);
  REQUIRE(absl::SimpleAtoi(out.substr(at + 10, colon - at - 10), &r.lsn));
  const size_t h = out.find("hash=", colon);
  REQUIRE(h != std::string::npos);
  REQUIRE(absl::SimpleHexAtoi(out.substr(h + 5, 16), &r.hash));
  return r;
}

TEST_CASE("bank hash prints the same image hash in separate processes, and a fresh replay "
          "agrees",
          "[examples][bank][hash]") {
  TempDir tmp;
  const std::string dir = tmp.Sub("journal");
  const std::string bank = BANK_BINARY;
  const CommandResult run =
      RunCommand(tmp, absl::StrCat(bank, " run --journal ", dir,
                                   " --accounts 20 --transfers 300 --threads 2 --seed 7"));
  INFO("bank run: " << run.out << run.err);
  REQUIRE(run.code == 0);
  REQUIRE(absl::StrContains(run.out, "acked 300"));

  // The end of the journal, from a replay of all of it.
  const CommandResult end = RunCommand(tmp, absl::StrCat(bank, " replay --journal ", dir));
  INFO("bank replay: " << end.out << end.err);
  REQUIRE(end.code == 0);
  const ReplayLine at_end = ParseReplay(end.out);
  // 20 accounts, 300 transfers of several events each: far more than this.
  REQUIRE(at_end.lsn > 1000);
  const uint64_t l1 = at_end.lsn / 2, l2 = at_end.lsn;

  const std::string hash_args =
      absl::StrCat(" hash --journal ", dir, " --at ", l1, " --at ", l2);
  // Two processes, with different thread counts (the order actors run in
  // must not matter either).
  const CommandResult first = RunCommand(tmp, bank + hash_args + " --threads 1");
  const CommandResult second = RunCommand(tmp, bank + hash_args + " --threads 2");
  INFO("first: " << first.out << first.err << "second: " << second.out << second.err);
  REQUIRE(first.code == 0);
  REQUIRE(second.code == 0);
  const auto a = ParseHashLines(first.out);
  const auto b = ParseHashLines(second.out);
  REQUIRE(a.size() == 2);
  REQUIRE(b.size() == 2);
  CHECK(a[0].first == l1);
  CHECK(a[1].first == l2);
  CHECK(a[0].second != 0);  // 0 is what bank prints when ImageHash fails
  CHECK(a == b);
  // The hash depends on the LSN: it can tell two images apart.
  CHECK(a[0].second != a[1].second);

  // A fresh replay to each LSN agrees with `bank hash`.
  for (size_t i = 0; i < a.size(); ++i) {
    const CommandResult replay =
        RunCommand(tmp, absl::StrCat(bank, " replay --journal ", dir, " --to ", a[i].first));
    INFO("bank replay --to " << a[i].first << ": " << replay.out << replay.err);
    REQUIRE(replay.code == 0);
    const ReplayLine r = ParseReplay(replay.out);
    CHECK(r.lsn == a[i].first);
    CHECK(r.hash == a[i].second);
  }
  CHECK(at_end.hash == a[1].second);
}

}  // namespace
