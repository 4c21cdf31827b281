// Crash recovery: a child process appends from two threads and is killed
// with SIGKILL at random moments; after each kill the journal must hold
// every record the child reported as acknowledged, whole, and nothing torn.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "engram/journal/journal.h"
#include "engram/journal/journal_scan.h"
#include "engram/journal/reader.h"
#include "tests/journal/test_util.h"

namespace engram {
namespace {

using testing::PayloadFor;
using testing::TempDir;

struct Ack {
  uint64_t lsn;
  uint32_t writer, seq, count;
};

// Runs the child for about `run_ms`, kills it, returns what it acknowledged.
std::vector<Ack> RunAndKill(const std::string& dir, uint32_t seed, int run_ms) {
  int out_fd = -1;
  const pid_t pid = testing::SpawnWithStdoutPipe(
      {ENGRAM_CRASH_CHILD, dir, std::to_string(seed)}, &out_fd);
  REQUIRE(pid > 0);
  std::string out;
  char buf[65536];
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(run_ms);
  bool killed = false;
  for (;;) {
    if (!killed && std::chrono::steady_clock::now() >= deadline) {
      kill(pid, SIGKILL);
      killed = true;
    }
    struct pollfd p = {out_fd, POLLIN, 0};
    poll(&p, 1, killed ? 1000 : 1);
    if (p.revents & (POLLIN | POLLHUP)) {
      ssize_t n = read(out_fd, buf, sizeof buf);
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
  }
  close(out_fd);
  int status = 0;
  waitpid(pid, &status, 0);
  INFO("child output tail: " << out.substr(out.size() > 200 ? out.size() - 200 : 0));
  REQUIRE(WIFSIGNALED(status));
  std::vector<Ack> acks;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    if (in.eof()) break;  // a line cut by the kill has no newline
    Ack a;
    std::istringstream ls(line);
    if (ls >> a.lsn >> a.writer >> a.seq >> a.count) acks.push_back(a);
  }
  return acks;
}

TEST_CASE("records acknowledged before a SIGKILL survive it whole", "[journal][crash]") {
  TempDir tmp;
  const std::string dir = tmp.Sub("j");
  std::mt19937 rng(12345);
#ifdef ENGRAM_TSAN
  const int rounds = 50;
#else
  const int rounds = 60;
#endif
  uint64_t total_acked = 0, torn_rounds = 0;
  for (int round = 0; round < rounds; ++round) {
    const uint32_t seed = static_cast<uint32_t>(round + 1);
    const int run_ms = 20 + static_cast<int>(rng() % 60);
    std::vector<Ack> acks = RunAndKill(dir, seed, run_ms);
    total_acked += acks.size();
    // Recover (as a writer would) and check.
    JournalOptions o;
    o.segment_size = 64 * 1024;
    auto j = Journal::Open(dir, o);
    INFO("round " << round);
    REQUIRE(j.ok());
    if ((*j)->recovery().torn_bytes > 0) ++torn_rounds;
    const uint64_t last = (*j)->last_lsn();
    j->reset();
    auto scan = ScanJournal(dir);
    REQUIRE(scan.ok());
    REQUIRE_FALSE(scan->torn);
    REQUIRE_FALSE(scan->corrupt);
    REQUIRE(scan->last_lsn == last);
    if (acks.empty()) continue;
    uint64_t min_lsn = acks.front().lsn;
    for (const Ack& a : acks) min_lsn = std::min(min_lsn, a.lsn);
    auto r = Reader::Open(dir, min_lsn);
    REQUIRE(r.ok());
    std::vector<std::pair<RecordView, std::string>> recs;
    RecordView v;
    for (;;) {
      auto got = (*r)->Next(&v);
      REQUIRE(got.ok());
      if (!*got) break;
      recs.emplace_back(v, std::string(v.payload));
    }
    for (const Ack& a : acks) {
      REQUIRE(a.lsn + a.count - 1 <= last);
      const auto& [rv, payload] = recs[a.lsn - min_lsn];
      REQUIRE(rv.lsn == a.lsn);
      REQUIRE(rv.type_id == seed);
      REQUIRE(rv.stream_id == a.writer);
      REQUIRE(rv.stream_version == a.seq);
      const uint64_t key = (uint64_t{seed} << 40) | (uint64_t{a.writer} << 32) | a.seq;
      REQUIRE(payload == PayloadFor(key, (a.seq * 37 + a.writer) % 700));
      if (a.count == 2) {
        REQUIRE(rv.batch_count == 2);
        REQUIRE(recs[a.lsn - min_lsn + 1].second == PayloadFor(key ^ 0xFFFF, 300));
      }
    }
  }
  WARN("crash test: " << rounds << " kills, " << total_acked
                      << " acknowledged appends checked, torn tails cut in "
                      << torn_rounds << " rounds");
  CHECK(total_acked > 0);
}

}  // namespace
}  // namespace engram
