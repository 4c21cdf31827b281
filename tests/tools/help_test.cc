// Every command line of the project (engram, the examples, the benchmark
// drivers) is parsed by CLI11: `--help` prints the options and exits 0, and
// a bad value is refused with exit code 2 and one line naming the flag and
// the value.
#include <catch2/catch.hpp>

#include <sys/wait.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "tests/journal/test_util.h"
#include "tests/tools/command_result.h"

namespace engram {
namespace {

using testing::TempDir;

using Result = testing::CommandResult;
using testing::CountLines;

Result Run(const TempDir& tmp, const std::string& binary, const std::string& args) {
  return testing::RunCommand(tmp, binary + " " + args);
}

struct HelpCase {
  std::string binary, args;
  std::vector<std::string> mentions;  // options and commands the help must list
};

void CheckHelp(const std::vector<HelpCase>& cases) {
  TempDir tmp;
  for (const HelpCase& c : cases) {
    INFO(c.binary << " " << c.args);
    Result r = Run(tmp, c.binary, c.args);
    CHECK(r.code == 0);
    CHECK_THAT(r.out, Catch::Contains("Usage:"));
    for (const std::string& m : c.mentions) CHECK_THAT(r.out, Catch::Contains(m));
    CHECK(r.err.empty());
  }
}

struct BadCase {
  std::string binary, args;
  std::vector<std::string> mentions;  // the flag and the value at fault
  int code = 2;
};

void CheckRefused(const std::vector<BadCase>& cases) {
  TempDir tmp;
  for (const BadCase& c : cases) {
    INFO(c.binary << " " << c.args);
    Result r = Run(tmp, c.binary, c.args);
    CHECK(r.code == c.code);
    CHECK(CountLines(r.err) == 1);
    for (const std::string& m : c.mentions) CHECK_THAT(r.err, Catch::Contains(m));
    CHECK(r.out.empty());
  }
}

TEST_CASE("engram, bank and shop print their options with --help", "[tools][cli]") {
  CheckHelp({
      {ENGRAM_CLI, "--help", {"journal"}},
      {ENGRAM_CLI, "help", {"journal"}},
      {ENGRAM_CLI, "journal --help", {"verify", "dump", "stats", "tail"}},
      {ENGRAM_CLI, "journal help", {"verify", "dump", "stats", "tail"}},
      {ENGRAM_CLI, "journal dump --help", {"DIR", "--from", "--to", "--json"}},
      {ENGRAM_CLI, "journal tail --help", {"DIR", "--from", "--idle-exit"}},
      {BANK_BINARY, "--help", {"run", "check", "replay", "hash", "standby", "journal"}},
      {BANK_BINARY, "run --help",
       {"--journal", "--accounts", "--transfers", "--threads", "--durability", "--seed",
        "--segment-size"}},
      {BANK_BINARY, "check --help", {"--journal"}},
      {BANK_BINARY, "replay --help", {"--to", "--step", "--break-on"}},
      {BANK_BINARY, "hash --help", {"--at"}},
      {BANK_BINARY, "standby --help",
       {"--journal", "--accounts", "--transfers", "--durability", "--segment-size"}},
      {BANK_BINARY, "journal --help", {"bank journal", "verify", "dump"}},
      {BANK_BINARY, "journal dump --help", {"bank journal dump", "--json"}},
      {SHOP_BINARY, "--help", {"run", "check", "catalog"}},
      {SHOP_BINARY, "run --help", {"--journal", "--orders", "--threads", "--seed"}},
  });
}

TEST_CASE("engram, bank and shop refuse a bad value naming the flag and the value",
          "[tools][cli]") {
  TempDir dir;
  const std::string d = dir.path();
  CheckRefused({
      {ENGRAM_CLI, "journal dump " + d + " --from abc", {"--from", "'abc'"}},
      {ENGRAM_CLI, "journal dump " + d + " --to 1x", {"--to", "'1x'"}},
      {ENGRAM_CLI, "journal tail " + d + " --idle-exit soon", {"--idle-exit", "'soon'"}},
      {ENGRAM_CLI, "journal dump " + d + " --from", {"--from"}},
      {ENGRAM_CLI, "journal dump " + d + " --from 9 --to 3", {"--from 9", "--to 3"}},
      {ENGRAM_CLI, "journal stats " + d + " --json", {"--json"}},
      {ENGRAM_CLI, "journal verify " + d + " " + d + "/other", {d + "/other"}},
      {ENGRAM_CLI, "--frobnicate", {"--frobnicate"}},
      {BANK_BINARY, "run --journal " + d + " --accounts many", {"--accounts", "'many'"}},
      {BANK_BINARY, "run --journal " + d + " --accounts 1", {"--accounts", "'1'"}},
      {BANK_BINARY, "run --journal " + d + " --accounts 5 --durability disk",
       {"--durability", "disk"}},
      {BANK_BINARY, "run --journal " + d + " --accounts 5 --segment-size 12Q",
       {"--segment-size", "'12Q'"}},
      {BANK_BINARY, "run --journal " + d + " --accounts 5 --threads 0", {"--threads", "'0'"}},
      {BANK_BINARY, "run --journal " + d, {"--accounts"}},
      {BANK_BINARY, "check", {"--journal"}},
      {BANK_BINARY, "replay --journal " + d + " --step x", {"--step", "'x'"}},
      {BANK_BINARY, "hash --journal " + d + " --at 0", {"--at", "'0'"}},
      {BANK_BINARY, "hash --journal " + d, {"--at"}},
      {BANK_BINARY, "fly", {"'fly'"}},
      {BANK_BINARY, "journal dump " + d + " --from abc", {"bank:", "--from", "'abc'"}},
      {SHOP_BINARY, "run --journal " + d + " --orders lots", {"--orders", "'lots'"}},
      {SHOP_BINARY, "run --journal " + d + " --orders 3 --threads 0", {"--threads", "'0'"}},
      {SHOP_BINARY, "check --journal " + d + " --seed x1", {"--seed", "'x1'"}},
      {SHOP_BINARY, "ship", {"'ship'"}},
  });
}

#ifdef ENGRAM_BENCH_DIR
// The benchmark drivers, when they are built (ENGRAM_BUILD_BENCHMARKS).
TEST_CASE("the benchmark drivers print --help and refuse a bad value", "[tools][cli][bench]") {
  const std::string b = ENGRAM_BENCH_DIR;
  const std::string savina = b + "/savina/savina", idle = b + "/runtime/idle_cpu",
                    journal = b + "/journal/journal_bench", image = b + "/image/image_bench",
                    bus = b + "/bus/bus_bench";
  CheckHelp({
      {savina, "--help", {"--threads", "--reps", "--scale", "--only"}},
      {idle, "--help", {"--threads", "--seconds"}},
      {journal, "--help", {"--dir", "--scan-records", "--quick", "--only"}},
      {image, "--help", {"--events", "--commands"}},
      {bus, "--help", {"SCALE", "--scale"}},
  });
  CheckRefused({
      {savina, "--threads 0", {"--threads", "0"}},
      {savina, "--scale fast", {"--scale", "fast"}},
      {savina, "--only nothing", {"--only", "nothing"}},
      {savina, "--reps", {"--reps"}},
      {idle, "--seconds abc", {"--seconds", "abc"}},
      {journal, "--only everything", {"--only", "everything"}},
      {journal, "--scan-records many", {"--scan-records", "many"}},
      {image, "--events 0", {"--events", "0"}},
      {image, "--commands x", {"--commands", "x"}},
      {bus, "huge", {"huge"}},
      {bus, "--scale 0", {"--scale", "0"}},
  });
}
#endif

}  // namespace
}  // namespace engram
