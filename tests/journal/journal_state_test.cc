// The journal's shared state page (<dir>/STATE): followers woken by the
// writer's publish (threads, another process, no lost wake-ups), the
// writer's fields as a follower sees them, clear errors for a damaged page,
// the heartbeat, and Reader::NextWait waiting on the page.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "engram/journal/journal.h"
#include "engram/journal/reader.h"
#include "engram/journal/writer_state.h"
#include "journal/internal/journal_state_file.h"
#include "tests/journal/test_util.h"

namespace engram {
namespace {

using internal::JournalStateFile;
using internal::kStatePageSize;
using testing::PayloadFor;
using testing::ReadFile;
using testing::TempDir;
using testing::WriteFile;

#ifdef ENGRAM_TSAN
constexpr uint64_t kStressPublishes = 20000;
constexpr int kNextWaitRecords = 300;
#else
constexpr uint64_t kStressPublishes = 300000;
constexpr int kNextWaitRecords = 3000;
#endif

// A generous bound for things that happen at once unless broken.
constexpr absl::Duration kLong = absl::Seconds(60);

// Waits (bounded, yielding) until `cond` holds; returns whether it did.
template <typename Cond>
bool Eventually(Cond cond, absl::Duration bound = kLong) {
  const absl::Time deadline = absl::Now() + bound;
  while (!cond()) {
    if (absl::Now() >= deadline) return false;
    absl::SleepFor(absl::Microseconds(50));
  }
  return true;
}

// WaitForChange also returns true when it only notices the change at its
// deadline (a missed wake-up): the tests count a return at or after the
// deadline as a failure.
bool WokenBeforeDeadline(JournalStateFile* f, uint32_t seen) {
  const absl::Time deadline = absl::Now() + kLong;
  return f->WaitForChange(seen, deadline) && absl::Now() < deadline;
}

std::unique_ptr<JournalStateFile> Writer(const std::string& dir, uint64_t id = 77) {
  auto w = JournalStateFile::CreateForWriter(dir, id);
  INFO(w.status().ToString());
  REQUIRE(w.ok());
  return std::move(*w);
}

std::unique_ptr<JournalStateFile> Follower(const std::string& dir) {
  auto f = JournalStateFile::OpenForReader(dir);
  INFO(f.status().ToString());
  REQUIRE(f.ok());
  return std::move(*f);
}

TEST_CASE("a follower waiting on the state page is woken by PublishCommitted",
          "[journal][state]") {
  TempDir tmp;
  auto writer = Writer(tmp.path());
  // A second mapping of the same file (another virtual address, the same
  // inode): the futex must be the shared kind for this to wake.
  auto follower = Follower(tmp.path());
  const uint32_t seen = follower->sequence();
  std::atomic<int> result{-1};
  std::atomic<uint64_t> committed_seen{0};
  std::thread t([&] {
    const bool changed = WokenBeforeDeadline(follower.get(), seen);
    committed_seen.store(follower->committed_lsn());
    result.store(changed ? 1 : 0);
  });
  // Publish once the follower is asleep (registered), so the wake, not the
  // re-check, is what returns it.
  REQUIRE(Eventually([&] { return follower->waiters() == 1; }));
  writer->PublishCommitted(7);
  t.join();
  CHECK(result.load() == 1);
  CHECK(committed_seen.load() == 7);
  CHECK(follower->sequence() != seen);
  CHECK(follower->waiters() == 0);
}

TEST_CASE("WaitForChange returns false at its deadline when nothing changes",
          "[journal][state]") {
  TempDir tmp;
  auto writer = Writer(tmp.path());
  auto follower = Follower(tmp.path());
  const uint32_t seen = follower->sequence();
  CHECK_FALSE(follower->WaitForChange(seen, absl::Now() + absl::Milliseconds(20)));
  CHECK(follower->sequence() == seen);
  CHECK(follower->waiters() == 0);
  // A change before the call returns at once.
  writer->PublishDurable(3);
  CHECK(follower->WaitForChange(seen, absl::Now() + kLong));
  CHECK(follower->durable_lsn() == 3);
}

TEST_CASE("no wake-up is lost when followers check the committed LSN and then wait",
          "[journal][state]") {
  TempDir tmp;
  auto writer = Writer(tmp.path());
  constexpr int kFollowers = 2;
  std::vector<std::unique_ptr<JournalStateFile>> followers;
  for (int i = 0; i < kFollowers; ++i) followers.push_back(Follower(tmp.path()));
  std::atomic<int> timeouts{0}, regressions{0};
  std::atomic<uint64_t> sleeps{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kFollowers; ++i) {
    threads.emplace_back([&, f = followers[i].get()] {
      uint64_t last = 0;
      for (;;) {
        // The Reader's pattern: the word first, then the condition.
        const uint32_t seen = f->sequence();
        const uint64_t c = f->committed_lsn();
        if (c < last) regressions.fetch_add(1);
        last = c;
        if (c == kStressPublishes) return;
        sleeps.fetch_add(1, std::memory_order_relaxed);
        if (!WokenBeforeDeadline(f, seen)) {
          // A lost wake-up: the writer published and the word stayed (or
          // the follower slept through the change).
          timeouts.fetch_add(1);
          return;
        }
      }
    });
  }
  // The writer: bursts of publishes with a yield between, so that the
  // followers both catch up and fall asleep, and race the publishes.
  for (uint64_t lsn = 1; lsn <= kStressPublishes; ++lsn) {
    writer->PublishCommitted(lsn);
    if (lsn % 64 == 0) sched_yield();
  }
  for (auto& t : threads) t.join();
  CHECK(timeouts.load() == 0);
  CHECK(regressions.load() == 0);
  for (auto& f : followers) {
    CHECK(f->committed_lsn() == kStressPublishes);
    CHECK(f->waiters() == 0);
  }
  INFO("follower waits: " << sleeps.load());
  CHECK(sleeps.load() > 0);
}

TEST_CASE("MarkClosed wakes every waiter and sets the closed flag", "[journal][state]") {
  TempDir tmp;
  auto writer = Writer(tmp.path());
  writer->StartHeartbeat(absl::Milliseconds(5));
  auto follower = Follower(tmp.path());
  CHECK_FALSE(follower->closed());
  constexpr int kWaiters = 3;
  std::atomic<int> woken{0}, saw_closed{0};
  std::vector<std::thread> threads;
  const uint32_t seen = follower->sequence();
  for (int i = 0; i < kWaiters; ++i) {
    threads.emplace_back([&] {
      if (WokenBeforeDeadline(follower.get(), seen)) woken.fetch_add(1);
      if (follower->closed()) saw_closed.fetch_add(1);
    });
  }
  REQUIRE(Eventually([&] { return follower->waiters() == kWaiters; }));
  writer->MarkClosed();
  for (auto& t : threads) t.join();
  CHECK(woken.load() == kWaiters);
  CHECK(saw_closed.load() == kWaiters);
  // Idempotent; the values stay readable.
  writer->MarkClosed();
  CHECK(follower->closed());
  CHECK(follower->journal_id() == 77);
}

// Spawns journal_state_child on `dir`; returns its pid and the read end of
// its stdout.
pid_t SpawnChild(const std::string& dir, int* out_fd) {
  const pid_t pid = testing::SpawnWithStdoutPipe({ENGRAM_STATE_CHILD, dir}, out_fd);
  REQUIRE(pid > 0);
  return pid;
}

// Reads one line from `fd` (bounded by `bound`); "" on EOF or timeout.
std::string ReadLine(int fd, absl::Duration bound = 2 * kLong) {
  std::string line;
  const absl::Time deadline = absl::Now() + bound;
  while (absl::Now() < deadline) {
    struct pollfd p = {fd, POLLIN, 0};
    poll(&p, 1, 100);
    if (!(p.revents & (POLLIN | POLLHUP))) continue;
    char c;
    const ssize_t n = read(fd, &c, 1);
    if (n <= 0) return line;
    if (c == '\n') return line;
    line.push_back(c);
  }
  return line;
}

TEST_CASE("a follower in another process is woken by the writer's publish",
          "[journal][state]") {
  TempDir tmp;
  auto writer = Writer(tmp.path());
  writer->PublishDurable(40);
  int out = -1;
  const pid_t pid = SpawnChild(tmp.path(), &out);
  const std::string ready = ReadLine(out);
  INFO("child said: " << ready);
  REQUIRE(ready.rfind("ready ", 0) == 0);
  // The child is asleep on the futex once it counts as a waiter.
  REQUIRE(Eventually([&] { return writer->waiters() == 1; }));
  writer->PublishCommitted(42);
  const std::string woken = ReadLine(out);
  INFO("child said: " << woken);
  CHECK(woken == "woken 1 42 40 0");
  close(out);
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(writer->waiters() == 0);
}

TEST_CASE("a follower killed in its sleep costs the writer one wake, not one per publish",
          "[journal][state]") {
  TempDir tmp;
  auto writer = Writer(tmp.path());
  CHECK_FALSE(writer->follower_may_sleep());  // nobody has slept yet
  int out = -1;
  const pid_t pid = SpawnChild(tmp.path(), &out);
  REQUIRE(ReadLine(out).rfind("ready ", 0) == 0);
  REQUIRE(Eventually([&] { return writer->follower_may_sleep(); }));
  REQUIRE(kill(pid, SIGKILL) == 0);
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFSIGNALED(status));
  close(out);
  // The dead follower's announcement is still on the page, and its count
  // in the (diagnostic) waiter number stays.
  CHECK(writer->follower_may_sleep());
  CHECK(writer->waiters() == 1);
  // The first publish answers it (one needless wake) and clears it; later
  // publishes find no sleeper and make no syscall.
  writer->PublishCommitted(5);
  CHECK_FALSE(writer->follower_may_sleep());
  writer->PublishCommitted(6);
  CHECK_FALSE(writer->follower_may_sleep());
}

TEST_CASE("a follower in another process is woken by MarkClosed", "[journal][state]") {
  TempDir tmp;
  auto writer = Writer(tmp.path());
  int out = -1;
  const pid_t pid = SpawnChild(tmp.path(), &out);
  REQUIRE(ReadLine(out).rfind("ready ", 0) == 0);
  REQUIRE(Eventually([&] { return writer->waiters() == 1; }));
  writer->MarkClosed();
  const std::string woken = ReadLine(out);
  INFO("child said: " << woken);
  CHECK(woken == "woken 1 0 0 1");
  close(out);
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  CHECK(WIFEXITED(status));
}

TEST_CASE("a follower sees every field the writer publishes", "[journal][state]") {
  TempDir tmp;
  auto writer = Writer(tmp.path(), 0x1234567890abcdefULL);
  writer->SetEpoch(5);
  writer->PublishCommitted(100);
  writer->PublishDurable(90);
  writer->PublishReplicated(80);
  auto follower = Follower(tmp.path());
  CHECK(follower->journal_id() == 0x1234567890abcdefULL);
  CHECK(follower->writer_pid() == static_cast<uint32_t>(getpid()));
  CHECK(follower->epoch() == 5);
  CHECK(follower->committed_lsn() == 100);
  CHECK(follower->durable_lsn() == 90);
  CHECK(follower->replicated_lsn() == 80);
  CHECK_FALSE(follower->closed());
  CHECK(follower->heartbeat_ns() != 0);
  CHECK(follower->path() == tmp.path() + "/STATE");

  // At kProcess, durable is committed: one publish sets both.
  writer->PublishCommitted(120, /*also_durable=*/true);
  CHECK(follower->committed_lsn() == 120);
  CHECK(follower->durable_lsn() == 120);
  CHECK(follower->replicated_lsn() == 80);

  // The page is one 4 KiB file.
  CHECK(ReadFile(tmp.path() + "/STATE").size() == kStatePageSize);
}

TEST_CASE("a new writer reuses the state page in place and wakes its followers",
          "[journal][state]") {
  TempDir tmp;
  auto first = Writer(tmp.path(), 1);
  first->PublishCommitted(10);
  first->MarkClosed();
  first.reset();
  auto follower = Follower(tmp.path());
  CHECK(follower->closed());
  CHECK(follower->committed_lsn() == 10);
  const uint32_t seen = follower->sequence();
  std::atomic<int> result{-1};
  std::thread t([&] {
    result.store(WokenBeforeDeadline(follower.get(), seen) ? 1 : 0);
  });
  REQUIRE(Eventually([&] { return follower->waiters() == 1; }));
  // A takeover: the new writer's page is the same inode the follower maps.
  auto second = Writer(tmp.path(), 2);
  t.join();
  CHECK(result.load() == 1);
  CHECK(follower->journal_id() == 2);
  CHECK_FALSE(follower->closed());
  CHECK(follower->committed_lsn() == 0);  // until the new writer publishes
  second->PublishCommitted(11);
  CHECK(follower->committed_lsn() == 11);
  CHECK(second->waiters() == 0);  // the count survived the change of writer
}

TEST_CASE("a damaged or missing STATE file gives a clear error, never a crash",
          "[journal][state]") {
  TempDir tmp;
  const std::string path = tmp.path() + "/STATE";
  {
    auto missing = JournalStateFile::OpenForReader(tmp.path());
    CHECK(missing.status().code() == absl::StatusCode::kNotFound);
    CHECK(std::string(missing.status().message()).find(path) != std::string::npos);
  }
  Writer(tmp.path()).reset();
  const std::string good = ReadFile(path);
  REQUIRE(good.size() == kStatePageSize);

  auto expect = [&](const std::string& bytes, absl::StatusCode code, const std::string& word) {
    WriteFile(path, bytes);
    auto f = JournalStateFile::OpenForReader(tmp.path());
    REQUIRE_FALSE(f.ok());
    INFO(f.status().ToString());
    CHECK(f.status().code() == code);
    const std::string msg(f.status().message());
    CHECK(msg.find(path) != std::string::npos);
    CHECK(msg.find(word) != std::string::npos);
  };

  SECTION("bad magic") {
    std::string b = good;
    b[0] ^= 0x55;
    expect(b, absl::StatusCode::kDataLoss, "magic");
  }
  SECTION("unknown layout version") {
    std::string b = good;
    b[8] = 9;
    expect(b, absl::StatusCode::kFailedPrecondition, "version 9");
  }
  SECTION("wrong page_size field") {
    std::string b = good;
    b[13] = 0x20;  // 8192
    expect(b, absl::StatusCode::kFailedPrecondition, "page_size");
  }
  SECTION("truncated inside the page") {
    expect(good.substr(0, 100), absl::StatusCode::kDataLoss, "truncated");
  }
  SECTION("truncated inside the header") {
    expect(good.substr(0, 10), absl::StatusCode::kDataLoss, "truncated");
  }
  SECTION("empty") { expect(std::string(), absl::StatusCode::kDataLoss, "truncated"); }
  SECTION("longer than the page") {
    expect(good + std::string(100, '\0'), absl::StatusCode::kDataLoss, "4196 bytes");
  }
  // The next writer replaces a damaged page with a good one.
  auto writer = Writer(tmp.path(), 9);
  writer->PublishCommitted(3);
  auto follower = Follower(tmp.path());
  CHECK(follower->journal_id() == 9);
  CHECK(follower->committed_lsn() == 3);
  CHECK(ReadFile(path).size() == kStatePageSize);
}

TEST_CASE("heartbeat_age grows while nobody beats and resets on Heartbeat",
          "[journal][state]") {
  TempDir tmp;
  auto writer = Writer(tmp.path());
  auto follower = Follower(tmp.path());
  const absl::Duration a1 = follower->heartbeat_age();
  // Let the monotonic clock move on by 2 ms (a bounded wait on the clock).
  const uint64_t start = internal::MonotonicNanos();
  REQUIRE(Eventually([&] { return internal::MonotonicNanos() >= start + 2000000; }));
  const absl::Duration a2 = follower->heartbeat_age();
  CHECK(a2 >= a1 + absl::Milliseconds(2));
  const uint64_t before = internal::MonotonicNanos();
  writer->Heartbeat();
  const absl::Duration a3 = follower->heartbeat_age();
  const uint64_t after_beat = internal::MonotonicNanos();
  CHECK(follower->heartbeat_ns() >= before);
  CHECK(a3 <= absl::Nanoseconds(after_beat - before));

  // The heartbeat thread beats without being asked.
  const uint64_t beat = follower->heartbeat_ns();
  writer->StartHeartbeat(absl::Milliseconds(1));
  CHECK(Eventually([&] { return follower->heartbeat_ns() > beat; }));
  // MarkClosed stops it (joins the thread): the beat no longer moves.
  writer->MarkClosed();
  const uint64_t last = follower->heartbeat_ns();
  const uint64_t after = internal::MonotonicNanos();
  REQUIRE(Eventually([&] { return internal::MonotonicNanos() >= after + 5000000; }));
  CHECK(follower->heartbeat_ns() == last);
}

TEST_CASE("Reader::NextWait returns a record once the journal publishes it on the state page",
          "[journal][state][reader]") {
  TempDir tmp;
  const std::string dir = tmp.Sub("j");
  JournalOptions o;
  o.segment_size = 64 * 1024;  // several rolls
  auto j = Journal::Open(dir, o);
  REQUIRE(j.ok());
  // The journal publishes every append on its page; this view of the page
  // only watches whether the reader sleeps.
  auto state = internal::JournalStateFile::OpenForReader(dir);
  REQUIRE(state.ok());
  auto r = Reader::Open(dir, 1);
  REQUIRE(r.ok());

  SECTION("a reader asleep on the wake word gets each record") {
    constexpr int kRecords = 50;
    std::atomic<int> got{0}, bad{0};
    std::thread reader([&] {
      RecordView v;
      for (int i = 1; i <= kRecords; ++i) {
        const absl::Time deadline = absl::Now() + kLong;
        auto next = (*r)->NextWait(&v, kLong);
        if (!next.ok() || !*next || absl::Now() >= deadline || v.lsn != static_cast<uint64_t>(i) ||
            std::string(v.payload) != PayloadFor(i, 40)) {
          bad.fetch_add(1);
          return;
        }
        got.fetch_add(1);
      }
    });
    for (int i = 1; i <= kRecords; ++i) {
      // The reader has returned the previous record and sleeps again.
      REQUIRE(Eventually([&] { return got.load() == i - 1 && (*state)->waiters() == 1; }));
      const std::string p = PayloadFor(i, 40);
      RecordInput in;
      in.stream_id = 1;
      in.payload = p;
      REQUIRE((*j)->Append(in).ok());
    }
    reader.join();
    CHECK(bad.load() == 0);
    CHECK(got.load() == kRecords);
  }

  SECTION("no record is missed while the writer appends at full speed") {
    std::atomic<int> got{0}, bad{0};
    std::thread reader([&] {
      RecordView v;
      for (int i = 1; i <= kNextWaitRecords; ++i) {
        const absl::Time deadline = absl::Now() + kLong;
        auto next = (*r)->NextWait(&v, kLong);
        if (!next.ok() || !*next || absl::Now() >= deadline || v.lsn != static_cast<uint64_t>(i) ||
            std::string(v.payload) != PayloadFor(i, i % 300)) {
          bad.fetch_add(1);
          return;
        }
        got.fetch_add(1);
      }
    });
    for (int i = 1; i <= kNextWaitRecords; ++i) {
      const std::string p = PayloadFor(i, i % 300);
      RecordInput in;
      in.stream_id = 1;
      in.payload = p;
      REQUIRE((*j)->Append(in).ok());
    }
    reader.join();
    CHECK(bad.load() == 0);
    CHECK(got.load() == kNextWaitRecords);
  }

  // writer_state() shows what was published.
  auto ws = (*r)->writer_state();
  REQUIRE(ws.ok());
  CHECK(ws->present);
  CHECK(ws->journal_id != 0);
  CHECK(ws->committed_lsn == (*j)->last_lsn());
  CHECK(ws->durable_lsn == (*j)->last_lsn());  // kProcess: durable == committed
  CHECK(ws->pid == static_cast<uint32_t>(getpid()));
  CHECK(ws->heartbeat_age < absl::Seconds(30));
  CHECK_FALSE(ws->closed);
  REQUIRE((*j)->Close().ok());
  ws = (*r)->writer_state();
  REQUIRE(ws.ok());
  CHECK(ws->closed);
}

TEST_CASE("Reader::NextWait still polls a journal without a state page, or with a damaged one",
          "[journal][state][reader]") {
  TempDir tmp;
  const std::string dir = tmp.Sub("j");
  auto j = Journal::Open(dir);
  REQUIRE(j.ok());
  auto r = Reader::Open(dir, 1);
  REQUIRE(r.ok());
  // The journal writes a state page; take it away (the journal keeps
  // publishing into its mapping of the unlinked file) as a writer that
  // predates it would have none.
  REQUIRE(unlink((dir + "/STATE").c_str()) == 0);
  auto ws = (*r)->writer_state();
  REQUIRE(ws.ok());
  CHECK_FALSE(ws->present);

  SECTION("no state page") {}
  SECTION("a damaged state page") {
    WriteFile(dir + "/STATE", std::string(100, 'x'));  // a new file, not the writer's
    auto bad = (*r)->writer_state();
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.status().code() == absl::StatusCode::kDataLoss);
  }
  std::atomic<int> result{-1};
  std::atomic<uint64_t> lsn_seen{0};
  std::thread reader([&] {
    RecordView v;
    auto next = (*r)->NextWait(&v, kLong);
    if (next.ok() && *next) lsn_seen.store(v.lsn);
    result.store(next.ok() ? (*next ? 1 : 0) : 2);
  });
  RecordInput in;
  in.payload = "x";
  REQUIRE((*j)->Append(in).ok());
  reader.join();
  CHECK(result.load() == 1);
  CHECK(lsn_seen.load() == 1);
}

}  // namespace
}  // namespace engram
