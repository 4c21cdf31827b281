// `bank standby` beside a `bank run` that is SIGKILLed at a random instant
// (before it created its journal, during its first batch, mid-run): the
// standby takes over every time, its image hash at the takeover equals a
// fresh replay's as of the same LSN, and no money is lost. A SIGSTOPped
// leader keeps its lock and is reported stale, not taken over. A restarted
// old leader run as a standby follows the one that took over.
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "tests/journal/test_util.h"
#include "tests/temp_dir.h"
#include "tests/tools/command_result.h"

namespace engram {
namespace {

// Reads `fd` to its end or until `line_prefix` begins a line, with a
// deadline; returns what it read.
std::string ReadUntil(int fd, const std::string& line_prefix, absl::Duration timeout) {
  std::string out;
  const absl::Time deadline = absl::Now() + timeout;
  char buf[4096];
  while (absl::Now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) continue;
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (!line_prefix.empty() &&
        (absl::StartsWith(out, line_prefix) || absl::StrContains(out, "\n" + line_prefix))) {
      break;
    }
  }
  return out;
}

int WaitExit(pid_t pid) {
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// The promoted line's LSN and hash.
struct Promoted {
  uint64_t epoch = 0, lsn = 0;
  std::string hash;
};
Promoted ParsePromoted(const std::string& out) {
  Promoted p;
  for (absl::string_view line : absl::StrSplit(out, '\n')) {
    if (!absl::StartsWith(line, "promoted epoch ")) continue;
    std::vector<std::string> f = absl::StrSplit(line, ' ');
    // promoted epoch E at LSN L in T ms hash=H
    REQUIRE(f.size() == 10);
    REQUIRE(absl::SimpleAtoi(f[2], &p.epoch));
    REQUIRE(absl::SimpleAtoi(f[5], &p.lsn));
    p.hash = f[9].substr(5);
  }
  return p;
}

TEST_CASE("a standby takes over from a leader SIGKILLed at any instant with the same image",
          "[bank][standby]") {
  const std::string bank = BANK_BINARY;
  std::mt19937 rng(20261202);
  constexpr int kRounds = 30;
  for (int round = 0; round < kRounds; ++round) {
    testing::TempDir tmp;
    const std::string dir = tmp.Sub("j");
    // Three kinds of round, each killing the leader after a random delay:
    // 0, the standby starts beside the leader (either may get the lock
    // first; the leader may die before it made a file); 1, the standby
    // starts once the leader holds the lock (it may die while it opens the
    // journal); 2, the standby starts once the leader acknowledged
    // transfers, so the standby must take over from it, in epoch 2.
    const int kind = round % 3;
    const int delay_ms = std::uniform_int_distribution<int>(0, 400)(rng);
    INFO("round " << round << " (kind " << kind << "), leader killed after " << delay_ms
                  << " ms");
    int leader_fd = -1, standby_fd = -1;
    const pid_t leader = testing::SpawnWithStdoutPipe(
        {bank, "run", "--journal", dir, "--accounts", "20", "--transfers", "100000000",
         "--threads", "1", "--segment-size", "256K"},
        &leader_fd);
    REQUIRE(leader > 0);
    if (kind == 1) {
      // LOCK holds the leader's PID once it has the lock.
      const std::string want = std::to_string(leader) + "\n";
      const absl::Time give_up = absl::Now() + absl::Seconds(60);
      while (testing::ReadFile(dir + "/LOCK") != want) {
        REQUIRE(absl::Now() < give_up);
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    } else if (kind == 2) {
      REQUIRE(absl::StrContains(ReadUntil(leader_fd, "acked", absl::Seconds(60)), "acked"));
    }
    const pid_t standby = testing::SpawnWithStdoutPipe(
        {bank, "standby", "--journal", dir, "--accounts", "20", "--transfers", "100",
         "--threads", "1", "--segment-size", "256K"},
        &standby_fd);
    REQUIRE(standby > 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    kill(leader, SIGKILL);
    WaitExit(leader);
    close(leader_fd);
    const std::string out = ReadUntil(standby_fd, "", absl::Seconds(120));
    close(standby_fd);
    INFO("standby printed: " << out.substr(out.size() > 2000 ? out.size() - 2000 : 0));
    REQUIRE(WaitExit(standby) == 0);
    const Promoted p = ParsePromoted(out);
    REQUIRE(p.lsn > 0);
    REQUIRE(p.epoch >= 1);
    if (kind == 2) CHECK(p.epoch == 2);
    CHECK(absl::StrContains(out, "acked 100"));
    // The image it took over with is the journal's, as a fresh replay
    // rebuilds it as of the same LSN.
    const testing::CommandResult hashed = testing::RunCommand(
        tmp, bank + " hash --journal " + dir + " --at " + std::to_string(p.lsn));
    REQUIRE(hashed.code == 0);
    CHECK(hashed.out == "LSN " + std::to_string(p.lsn) + ": hash=" + p.hash + "\n");
    const testing::CommandResult checked =
        testing::RunCommand(tmp, bank + " check --journal " + dir);
    INFO(checked.out << checked.err);
    CHECK(checked.code == 0);
  }
}

TEST_CASE("a standby does not take over from a hung leader and reports its stale heartbeat",
          "[bank][standby]") {
  const std::string bank = BANK_BINARY;
  testing::TempDir tmp;
  const std::string dir = tmp.Sub("j");
  int leader_fd = -1, standby_fd = -1;
  const pid_t leader = testing::SpawnWithStdoutPipe(
      {bank, "run", "--journal", dir, "--accounts", "20", "--transfers", "100000000",
       "--threads", "1"},
      &leader_fd);
  REQUIRE(leader > 0);
  // Wait until it acknowledged transfers (its journal and lock exist).
  REQUIRE(absl::StrContains(ReadUntil(leader_fd, "acked", absl::Seconds(60)), "acked"));
  const pid_t standby = testing::SpawnWithStdoutPipe(
      {bank, "standby", "--journal", dir, "--accounts", "20", "--transfers", "10", "--threads",
       "1"},
      &standby_fd);
  REQUIRE(standby > 0);
  REQUIRE(absl::StrContains(ReadUntil(standby_fd, "applied LSN", absl::Seconds(60)),
                            "applied LSN"));
  kill(leader, SIGSTOP);
  // Its heartbeat ages past a second: reported, and no takeover.
  const std::string stalled = ReadUntil(standby_fd, "leader stale", absl::Seconds(30));
  CHECK(absl::StrContains(stalled, "leader stale: pid " + std::to_string(leader)));
  CHECK_FALSE(absl::StrContains(stalled, "promoted"));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  CHECK_FALSE(absl::StrContains(ReadUntil(standby_fd, "promoted", absl::Milliseconds(200)),
                                "promoted"));
  // Once the hung leader dies, the standby takes over.
  kill(leader, SIGKILL);
  kill(leader, SIGCONT);
  WaitExit(leader);
  close(leader_fd);
  const std::string rest = ReadUntil(standby_fd, "", absl::Seconds(120));
  close(standby_fd);
  CHECK(WaitExit(standby) == 0);
  CHECK(absl::StrContains(rest, "promoted epoch 2 at LSN"));
  CHECK(absl::StrContains(rest, "acked 10"));
}

}  // namespace
}  // namespace engram

namespace engram {
namespace {

TEST_CASE("a restarted old leader comes up as a standby of the one that took over",
          "[bank][standby]") {
  const std::string bank = BANK_BINARY;
  testing::TempDir tmp;
  const std::string dir = tmp.Sub("j");
  // A: no writer yet, so it writes at once (epoch 1) and keeps running.
  int a_fd = -1, b_fd = -1, c_fd = -1;
  const pid_t a = testing::SpawnWithStdoutPipe(
      {bank, "standby", "--journal", dir, "--accounts", "20", "--transfers", "100000000",
       "--threads", "1"},
      &a_fd);
  REQUIRE(a > 0);
  REQUIRE(absl::StrContains(ReadUntil(a_fd, "promoted epoch 1", absl::Seconds(60)),
                            "promoted epoch 1"));
  // B follows A; A dies; B writes epoch 2.
  const pid_t b = testing::SpawnWithStdoutPipe(
      {bank, "standby", "--journal", dir, "--accounts", "20", "--transfers", "100000000",
       "--threads", "1"},
      &b_fd);
  REQUIRE(b > 0);
  REQUIRE(absl::StrContains(ReadUntil(b_fd, "applied LSN", absl::Seconds(60)), "applied LSN"));
  kill(a, SIGKILL);
  WaitExit(a);
  close(a_fd);
  REQUIRE(absl::StrContains(ReadUntil(b_fd, "promoted epoch 2", absl::Seconds(60)),
                            "promoted epoch 2"));
  // A, restarted, finds B's lock and follows it: no takeover while B lives.
  const pid_t c = testing::SpawnWithStdoutPipe(
      {bank, "standby", "--journal", dir, "--accounts", "20", "--transfers", "10", "--threads",
       "1"},
      &c_fd);
  REQUIRE(c > 0);
  const std::string following = ReadUntil(c_fd, "applied LSN", absl::Seconds(60));
  CHECK(absl::StrContains(following, "applied LSN"));
  CHECK_FALSE(absl::StrContains(following, "promoted"));
  // B dies in turn; the old leader takes over with epoch 3.
  kill(b, SIGKILL);
  WaitExit(b);
  close(b_fd);
  const std::string rest = ReadUntil(c_fd, "", absl::Seconds(120));
  close(c_fd);
  CHECK(WaitExit(c) == 0);
  CHECK(absl::StrContains(rest, "promoted epoch 3 at LSN"));
  const testing::CommandResult checked = testing::RunCommand(tmp, bank + " check --journal " + dir);
  INFO(checked.out << checked.err);
  CHECK(checked.code == 0);
}

}  // namespace
}  // namespace engram
