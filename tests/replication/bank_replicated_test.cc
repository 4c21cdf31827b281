// `bank run --durability replicated` against a real nats-server on
// loopback, driven from outside: the leader is SIGKILLed at a random
// instant and its journal deleted; `bank replica --until-caught-up` rebuilds
// a journal from the stream alone, and `bank check` on it finds money
// conserved and every transfer any `acked K` line counted. The NATS server
// itself is SIGKILLed and restarted during a run: the run carries on, and
// the copy made afterwards holds every transfer with no LSN missing or
// twice (the replica's follower refuses either).
#include <poll.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <random>
#include <string>
#include <thread>

#include <catch2/catch.hpp>

#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "tests/examples/bank_child.h"
#include "tests/replication/nats_server.h"
#include "tests/temp_dir.h"

namespace engram {
namespace {

using testing::Check;
using testing::CheckResult;
using testing::Child;
using testing::Finish;
using testing::LastAcked;
using testing::NatsServer;
using testing::Spawn;

#if defined(ENGRAM_TSAN) || defined(ENGRAM_TEST_ASAN)
constexpr int kRounds = 4;
#else
constexpr int kRounds = 10;
#endif

// Reads the child's output until a line starts with `prefix` (bounded).
std::string ReadUntilLine(testing::Child& c, const std::string& prefix, absl::Duration timeout) {
  std::string out;
  const absl::Time deadline = absl::Now() + timeout;
  char buf[4096];
  while (absl::Now() < deadline) {
    pollfd p{c.out, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) continue;
    const ssize_t n = read(c.out, buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (absl::StartsWith(out, prefix) || absl::StrContains(out, "\n" + prefix)) break;
  }
  return out;
}

// The LSN of `bank replica`'s "caught up at LSN L ..." line.
std::string CaughtUpLsn(const std::string& out) {
  const std::string line = "caught up at LSN ";
  const size_t at = out.find(line);
  REQUIRE(at != std::string::npos);
  const size_t from = at + line.size();
  return out.substr(from, out.find(' ', from) - from);
}

// What `bank hash --at lsn` prints for `dir`.
std::string HashAt(const std::string& dir, const std::string& lsn) {
  Child h = Spawn({BANK_BINARY, "hash", "--journal", dir, "--at", lsn});
  std::string out;
  REQUIRE(Finish(h, &out) == 0);
  return out;
}

// Copies `stream` into `dir` and returns bank check's verdict on the copy
// (exit 3 when the stream was empty: nothing was written).
CheckResult RestoreAndCheck(const NatsServer& nats, const std::string& stream,
                            const std::string& dir) {
  Child replica = Spawn({BANK_BINARY, "replica", "--nats", nats.url(), "--stream", stream,
                         "--journal", dir, "--until-caught-up"},
                        /*merge_stderr=*/true);
  std::string out;
  const int code = Finish(replica, &out);
  INFO("bank replica: " << out);
  REQUIRE(code == 0);
  return Check(dir);
}

TEST_CASE("a replicated bank killed at any instant is restored from its stream alone",
          "[replication][bank]") {
  testing::TempDir tmp;
  auto nats = NatsServer::Start();
  REQUIRE(nats.ok());
  const unsigned seed = 20261202;  // fixed: every run draws the same kill plan
  std::mt19937 rng(seed);
  for (int round = 0; round < kRounds; ++round) {
    const std::string stream = "BANK" + std::to_string(round);
    const std::string journal = tmp.Sub("leader" + std::to_string(round));
    const std::string copy = tmp.Sub("copy" + std::to_string(round));
    // From the very start (before the journal or the stream exist) to well
    // into the transfers.
    const int delay_ms = round == 0 ? 0 : static_cast<int>(rng() % 1500);
    INFO("seed " << seed << ", round " << round << ", kill after " << delay_ms << " ms");
    Child run = Spawn({BANK_BINARY, "run", "--journal", journal, "--accounts", "20",
                       "--transfers", "200000", "--durability", "replicated", "--nats",
                       (*nats)->url(), "--stream", stream, "--threads", "2", "--seed",
                       std::to_string(round)},
                      /*merge_stderr=*/true);
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    kill(run.pid, SIGKILL);
    std::string out;
    const int code = Finish(run, &out);
    INFO("bank run: exit " << code << "\n" << out.substr(out.size() > 2000 ? out.size() - 2000 : 0));
    REQUIRE(code == 128 + SIGKILL);
    const int64_t acked = LastAcked(out);
    std::filesystem::remove_all(journal);  // the leader's machine is gone
    const CheckResult r = RestoreAndCheck(**nats, stream, copy);
    INFO("acked " << acked << ", check exit " << r.code << ", transfers " << r.transfers);
    if (r.code == 3) {
      // Nothing reached the stream: then nothing was acknowledged either.
      CHECK(acked == 0);
      continue;
    }
    REQUIRE(r.code == 0);
    CHECK(r.accounts == 20);
    CHECK(r.total == 20 * 1000);
    CHECK(r.transfers >= acked);
  }
}

TEST_CASE("a replicated bank rides out a NATS server killed and restarted mid-run",
          "[replication][bank]") {
  testing::TempDir tmp;
  auto nats = NatsServer::Start();
  REQUIRE(nats.ok());
  const std::string journal = tmp.Sub("leader"), copy = tmp.Sub("copy");
  constexpr int kTransfers = 30000;
  Child run = Spawn({BANK_BINARY, "run", "--journal", journal, "--accounts", "20",
                     "--transfers", std::to_string(kTransfers), "--durability", "replicated",
                     "--nats", (*nats)->url(), "--threads", "2"},
                    /*merge_stderr=*/true);
  // Kill the server twice while the run replicates: the first time once
  // it has acknowledged transfers (not at a fixed instant, which a slow
  // machine could reach before the run started, or a fast one after it
  // ended).
  std::string out = ReadUntilLine(run, "acked 1000", absl::Seconds(60));
  REQUIRE(absl::StrContains(out, "acked 1000"));
  for (int i = 0; i < 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    REQUIRE((*nats)->Kill().ok());
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    REQUIRE((*nats)->Restart().ok());
  }
  // Bounded: a run whose replication never recovered would wait for ever.
  std::atomic<bool> done{false};
  std::thread watchdog([&] {
    for (int i = 0; i < 1200 && !done; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (!done) kill(run.pid, SIGKILL);
  });
  std::string rest;
  const int code = Finish(run, &rest);
  out += rest;
  done = true;
  watchdog.join();
  INFO("bank run:\n" << out.substr(out.size() > 3000 ? out.size() - 3000 : 0));
  REQUIRE(code == 0);
  CHECK(LastAcked(out) == kTransfers);
  std::filesystem::remove_all(journal);
  const CheckResult r = RestoreAndCheck(**nats, "ENGRAM_BANK", copy);
  REQUIRE(r.code == 0);
  CHECK(r.total == 20 * 1000);
  CHECK(r.transfers == kTransfers);
}


// A replicated `bank run` with far more transfers than a test lets it do.
Child StartLeader(const NatsServer& nats, const std::string& dir, bool merge_stderr) {
  return Spawn({BANK_BINARY, "run", "--journal", dir, "--accounts", "20", "--transfers",
                "1000000", "--durability", "replicated", "--nats", nats.url(), "--threads", "2"},
               merge_stderr);
}

TEST_CASE("a replica takes over a killed replicated leader by epoch, and the old one is fenced",
          "[replication][bank]") {
  testing::TempDir tmp;
  auto nats = NatsServer::Start();
  REQUIRE(nats.ok());
  const std::string leader_dir = tmp.Sub("leader"), copy = tmp.Sub("copy");
  Child run = StartLeader(**nats, leader_dir, /*merge_stderr=*/false);
  std::string out = ReadUntilLine(run, "acked 2000", absl::Seconds(60));
  kill(run.pid, SIGKILL);
  std::string rest;
  Finish(run, &rest);
  out += rest;
  const int64_t leader_acked = LastAcked(out);
  REQUIRE(leader_acked >= 2000);

  Child replica = Spawn({BANK_BINARY, "replica", "--nats", (*nats)->url(), "--journal", copy,
                         "--take-over", "--transfers", "1000", "--threads", "2"});
  std::string replica_out;
  const int code = Finish(replica, &replica_out);
  INFO("bank replica --take-over:\n" << replica_out);
  REQUIRE(code == 0);
  CHECK(absl::StrContains(replica_out, "promoted epoch 2 at LSN "));
  CHECK(LastAcked(replica_out) == 1000);
  const CheckResult r = Check(copy);
  REQUIRE(r.code == 0);
  CHECK(r.total == 20 * 1000);
  CHECK(r.transfers >= leader_acked + 1000);

  // The old leader comes back: the stream was written by epoch 2, so its
  // epoch 2 would be a second one; it must not write.
  Child old = Spawn({BANK_BINARY, "run", "--journal", leader_dir, "--accounts", "20",
                     "--transfers", "10", "--durability", "replicated", "--nats",
                     (*nats)->url()},
                    /*merge_stderr=*/true);
  std::string old_out;
  CHECK(Finish(old, &old_out) == 1);
  INFO(old_out);
  CHECK(absl::StrContains(old_out, "another node took over"));
  CHECK(LastAcked(old_out) == 0);

  // It follows instead: its divergent tail (what it synced but the stream
  // never took, and its own epoch record if it wrote one) is cut and kept.
  Child follow = Spawn({BANK_BINARY, "replica", "--nats", (*nats)->url(), "--journal",
                        leader_dir, "--until-caught-up"});
  std::string follow_out;
  REQUIRE(Finish(follow, &follow_out) == 0);
  INFO("old leader as replica:\n" << follow_out);
  CHECK(absl::StrContains(follow_out, "caught up at LSN "));
  // Both journals now hold the stream: the same image at its end.
  const std::string lsn = CaughtUpLsn(follow_out);
  const std::string h_old = HashAt(leader_dir, lsn), h_new = HashAt(copy, lsn);
  CHECK_FALSE(h_old.empty());
  CHECK(h_old == h_new);
}


TEST_CASE("a stale replicated leader (SIGSTOP) is fenced once a replica took over",
          "[replication][bank]") {
  testing::TempDir tmp;
  auto nats = NatsServer::Start();
  REQUIRE(nats.ok());
  const std::string leader_dir = tmp.Sub("leader"), copy = tmp.Sub("copy");
  Child run = StartLeader(**nats, leader_dir, /*merge_stderr=*/true);
  std::string out = ReadUntilLine(run, "acked 2000", absl::Seconds(60));
  REQUIRE(absl::StrContains(out, "acked 2000"));
  kill(run.pid, SIGSTOP);  // hung, its lock and its connection kept

  Child replica = Spawn({BANK_BINARY, "replica", "--nats", (*nats)->url(), "--journal", copy,
                         "--take-over", "--transfers", "500", "--threads", "2"});
  std::string replica_out;
  const int code = Finish(replica, &replica_out);
  INFO("bank replica --take-over:\n" << replica_out);
  REQUIRE(code == 0);
  CHECK(absl::StrContains(replica_out, "promoted epoch 2 at LSN "));

  // Woken, the old leader's next publish meets epoch 2: it steps down, and
  // acknowledges nothing more.
  kill(run.pid, SIGCONT);
  std::string rest;
  const int old_code = Finish(run, &rest);
  out += rest;
  INFO("old leader:\n" << out.substr(out.size() > 3000 ? out.size() - 3000 : 0));
  CHECK(old_code == 1);
  CHECK(absl::StrContains(out, "another node took over"));
  const int64_t old_acked = LastAcked(out);

  // Every transfer it acknowledged, before or after the pause, is in the
  // new leader's journal, with the 500 new ones.
  const CheckResult r = Check(copy);
  REQUIRE(r.code == 0);
  CHECK(r.total == 20 * 1000);
  CHECK(r.transfers >= old_acked + 500);

  // As a replica it cuts what the stream never took and follows.
  Child follow = Spawn({BANK_BINARY, "replica", "--nats", (*nats)->url(), "--journal",
                        leader_dir, "--until-caught-up"});
  std::string follow_out;
  REQUIRE(Finish(follow, &follow_out) == 0);
  INFO("old leader as replica:\n" << follow_out);
  // (It usually cuts records the stream never took, `cut N divergent
  // records`; whether any were left depends on the instant of the pause.)
  const std::string lsn = CaughtUpLsn(follow_out);
  CHECK(HashAt(leader_dir, lsn) == HashAt(copy, lsn));
}

}  // namespace
}  // namespace engram
