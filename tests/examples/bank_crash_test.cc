// Drives the `bank` binary as an outside test would: `bank run` killed with
// SIGKILL at random moments, `bank check` after each kill.
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "tests/examples/bank_child.h"
#include "tests/temp_dir.h"

namespace {

#ifdef ENGRAM_TSAN
constexpr int kRounds = 6;
#elif defined(ENGRAM_TEST_ASAN)
constexpr int kRounds = 10;
#else
constexpr int kRounds = 30;
#endif

using engram::testing::Check;
using engram::testing::CheckResult;
using engram::testing::Child;
using engram::testing::Finish;
using engram::testing::LastAcked;
using engram::testing::Spawn;

// Kill points are drawn so that every phase is hit: right after the start
// (before the journal exists), as soon as `bank run` says it has recovered
// (while it opens the accounts), and after a random delay (during the
// transfers). The first two kinds run on a fresh journal each time; the
// third continues one journal across rounds.
void CrashRounds(const char* durability) {
  engram::testing::TempDir tmp;
  const std::string dir = tmp.Sub("journal");
  const unsigned seed = 20261201;  // fixed: every run draws the same kill plan
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> delay_ms(50, 600);
  int64_t max_acked = 0;
  int killed_mid_run = 0;
  int nothing_written = 0, partial = 0;
  bool established = false;  // `dir` holds a whole bank
  for (int round = 0; round < kRounds; ++round) {
    const int phase = round % 3;  // 0: at the start, 1: opening accounts, 2: transfers
    const std::string journal =
        phase == 2 ? dir : tmp.Sub("fresh" + std::to_string(round));
    INFO("seed " << seed << ", round " << round << ", phase " << phase << ", durability "
                 << durability);
    Child run = Spawn({BANK_BINARY, "run", "--journal", journal, "--accounts", "50",
                       "--transfers", "20000", "--durability", durability, "--threads",
                       "2", "--seed", std::to_string(round)},
                      /*merge_stderr=*/true);
    std::string out;
    if (phase == 0) {
      std::this_thread::sleep_for(std::chrono::microseconds(rng() % 3000));
    } else if (phase == 1) {
      // `bank: recovered ...` comes right before the accounts are opened.
      char c;
      while (out.find("bank: recovered") == std::string::npos && read(run.out, &c, 1) == 1) {
        out.push_back(c);
      }
      std::this_thread::sleep_for(std::chrono::microseconds(rng() % 500));
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms(rng)));
    }
    if (kill(run.pid, SIGKILL) == 0) ++killed_mid_run;
    const int code = Finish(run, &out);  // waits until the process is gone
    INFO("bank run exit " << code << ", output tail: "
                          << out.substr(out.size() > 200 ? out.size() - 200 : 0));
    const int64_t acked = LastAcked(out);
    const CheckResult r = Check(journal);
    INFO("bank check exit " << r.code << ": accounts=" << r.accounts << " total=" << r.total
                            << " transfers=" << r.transfers);
    if (r.code == 3) {
      // Nothing was written: fine only if nothing was acknowledged.
      REQUIRE(acked == 0);
      REQUIRE_FALSE((phase == 2 && established));
      ++nothing_written;
      continue;
    }
    REQUIRE(r.code == 0);
    REQUIRE(r.accounts <= 50);
    REQUIRE(r.total == r.accounts * 1000);
    if (r.accounts < 50) {
      // Killed while opening the accounts: no transfer can have started.
      REQUIRE(acked == 0);
      REQUIRE(r.transfers == 0);
      REQUIRE_FALSE((phase == 2 && established));
      ++partial;
      continue;
    }
    if (phase != 2) {
      REQUIRE(r.transfers >= acked);
      continue;
    }
    // Every transfer ever acknowledged survived, in this and earlier runs
    // (transfers counts all of them, cumulatively).
    max_acked = std::max(max_acked, acked);
    REQUIRE(r.transfers >= max_acked);
    max_acked = r.transfers;
    established = true;
  }
  REQUIRE(killed_mid_run > 0);
  std::printf("bank crash (%s): %d rounds, %d found nothing written, %d a partly opened bank\n",
              durability, kRounds, nothing_written, partial);
}

TEST_CASE("bank run killed at random moments loses no acknowledged transfer and no money (process)",
          "[examples][bank][crash]") {
  CrashRounds("process");
}

TEST_CASE("bank run killed at random moments loses no acknowledged transfer and no money (sync)",
          "[examples][bank][crash]") {
  CrashRounds("sync");
}

TEST_CASE("bank rejects bad arguments with one clear line and exit code 2",
          "[examples][bank]") {
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{BANK_BINARY},
        {BANK_BINARY, "fly"},
        {BANK_BINARY, "run", "--journal", "/tmp/x"},
        {BANK_BINARY, "run", "--journal", "/tmp/x", "--accounts", "many"},
        {BANK_BINARY, "run", "--journal", "/tmp/x", "--accounts", "5", "--durability", "disk"}}) {
    Child c = Spawn(args);
    std::string out;
    REQUIRE(Finish(c, &out) == 2);
  }
  // A journal that does not exist: "nothing was written", exit 3.
  CheckResult missing = Check("/nonexistent/engram/bank");
  REQUIRE(missing.code == 3);
  // --segment-size: a size, with a K or M suffix, 4K..1G.
  for (const char* bad : {"0", "100", "2G", "12Q", "-5", "4096M"}) {
    Child c = Spawn({BANK_BINARY, "run", "--journal", "/tmp/x", "--accounts", "5",
                     "--segment-size", bad});
    std::string out;
    INFO("--segment-size " << bad);
    REQUIRE(Finish(c, &out) == 2);
  }
}

}  // namespace

namespace {

TEST_CASE("bank journal dump shows registered type names and field values",
          "[examples][bank][cli]") {
  engram::testing::TempDir tmp;
  const std::string dir = tmp.Sub("journal");
  Child run = Spawn({BANK_BINARY, "run", "--journal", dir, "--accounts", "3", "--transfers",
                     "5", "--seed", "1"});
  std::string out;
  REQUIRE(Finish(run, &out) == 0);
  Child dump = Spawn({BANK_BINARY, "journal", "dump", dir, "--json"});
  std::string json;
  REQUIRE(Finish(dump, &json) == 0);
  REQUIRE(json.find("\"type_name\":\"bank.AccountOpened\"") != std::string::npos);
  REQUIRE(json.find("\"text\":\"initial=1000\"") != std::string::npos);
  REQUIRE(json.find("\"type_name\":\"bank.TransferStarted\"") != std::string::npos);
  REQUIRE(json.find("\"text\":\"from=") != std::string::npos);
  Child stats = Spawn({BANK_BINARY, "journal", "stats", dir});
  std::string text;
  REQUIRE(Finish(stats, &text) == 0);
  REQUIRE(text.find("(bank.Debited)") != std::string::npos);
  Child bad = Spawn({BANK_BINARY, "journal", "dump", tmp.Sub("missing")});
  std::string none;
  REQUIRE(Finish(bad, &none) == 1);
}

}  // namespace

namespace {

#ifdef ENGRAM_TSAN
constexpr int kShopRounds = 3;
#elif defined(ENGRAM_TEST_ASAN)
constexpr int kShopRounds = 5;
#else
constexpr int kShopRounds = 12;
#endif

TEST_CASE("shop killed mid-flow finishes or compensates every order exactly once on restart",
          "[examples][shop][crash]") {
  engram::testing::TempDir tmp;
  const std::string dir = tmp.Sub("journal");
  std::mt19937 rng(20261201);  // fixed: the same kill plan every run
  std::uniform_int_distribution<int> delay_ms(100, 700);
  for (int round = 0; round < kShopRounds; ++round) {
    INFO("round " << round);
    Child run = Spawn({SHOP_BINARY, "run", "--journal", dir, "--orders", "3000", "--threads",
                       "2", "--seed", std::to_string(round)});
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms(rng)));
    kill(run.pid, SIGKILL);
    std::string out;
    Finish(run, &out);
    Child check = Spawn({SHOP_BINARY, "check", "--journal", dir}, /*merge_stderr=*/true);
    std::string report;
    // check exits 0 only if every placed order is completed or cancelled,
    // the stock matches the completed orders (released exactly once for
    // each cancelled one, kept for each completed one), and the
    // orders-by-status projection agrees.
    const int code = Finish(check, &report);
    INFO("shop check said: " << report);
    REQUIRE(code == 0);
    REQUIRE(report.find("orders by status:") != std::string::npos);
  }
}

TEST_CASE("shop catalog prints an AsyncAPI document of its events", "[examples][shop]") {
  Child c = Spawn({SHOP_BINARY, "catalog"});
  std::string doc;
  REQUIRE(Finish(c, &doc) == 0);
  REQUIRE(doc.find("\"asyncapi\": \"3.0.0\"") != std::string::npos);
  REQUIRE(doc.find("image.shop.ShipmentDispatched") != std::string::npos);
}

}  // namespace
