// WaitDurable and OnDurable at Durability::kSync while the flusher's
// fdatasync is held: a parked waiter returns once the round that covers its
// LSN advances the durable LSN, and returns the round's error (sticky) when
// the fdatasync fails, or kFailedPrecondition when the journal closes.
//
// Mechanism: this executable is linked with -Wl,--wrap=fdatasync (see
// CMakeLists.txt), so every fdatasync of libengram.a reaches
// __wrap_fdatasync below first, which can hold the caller until the test
// releases it and then fail it with EIO. No test asserts on time: a missed
// wake-up shows up as a hang (and the CTest timeout).
#include <catch2/catch.hpp>

#include <errno.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "engram/journal/journal.h"
#include "tests/journal/test_util.h"

extern "C" int __real_fdatasync(int fd);

namespace {

// The gate fdatasync passes through. Armed: the next calls block until
// Release(); `fail` makes them return EIO afterwards.
struct SyncGate {
  std::mutex mu;
  std::condition_variable cv;
  bool armed = false;
  bool fail = false;
  int entered = 0;  // calls blocked or passed while armed

  void Arm(bool fail_calls) {
    std::lock_guard<std::mutex> l(mu);
    armed = true;
    fail = fail_calls;
    entered = 0;
  }
  // Blocks until a call has entered the armed gate.
  void AwaitEntered() {
    std::unique_lock<std::mutex> l(mu);
    cv.wait(l, [&] { return entered > 0; });
  }
  void Release() {
    std::lock_guard<std::mutex> l(mu);
    armed = false;
    cv.notify_all();
  }
  void Disarm() {
    std::lock_guard<std::mutex> l(mu);
    armed = false;
    fail = false;
    cv.notify_all();
  }
};

SyncGate g_gate;

}  // namespace

extern "C" int __wrap_fdatasync(int fd) {
  bool fail;
  {
    std::unique_lock<std::mutex> l(g_gate.mu);
    if (g_gate.armed) {
      ++g_gate.entered;
      g_gate.cv.notify_all();
      g_gate.cv.wait(l, [] { return !g_gate.armed; });
    }
    fail = g_gate.fail;
  }
  if (fail) {
    errno = EIO;
    return -1;
  }
  return __real_fdatasync(fd);
}

namespace engram {
namespace {

using testing::TempDir;

JournalOptions SyncOptions() {
  JournalOptions o;
  o.segment_size = 64 * 1024;
  o.prefault = false;
  o.durability = Durability::kSync;
  // Only waiters (and Close) make the flusher sync.
  o.sync_interval = absl::Seconds(300);
  return o;
}

// Gives a waiter time to get past its spin phase and park on the durable
// word (the path under test). Correctness does not depend on it: a waiter
// still spinning returns the same result.
void LetWaiterPark() { absl::SleepFor(absl::Milliseconds(50)); }

TEST_CASE("a parked WaitDurable returns once the flusher advances the durable LSN",
          "[journal][durability]") {
  TempDir tmp;
  g_gate.Disarm();
  auto j = Journal::Open(tmp.Sub("j"), SyncOptions());
  REQUIRE(j.ok());
  auto lsn = (*j)->Append(RecordInput{});
  REQUIRE(lsn.ok());
  REQUIRE((*j)->durable_lsn() < *lsn);

  g_gate.Arm(/*fail_calls=*/false);
  std::atomic<bool> returned{false};
  absl::Status result = absl::UnknownError("not returned");
  std::thread waiter([&] {
    result = (*j)->WaitDurable(*lsn);  // no timeout: parks on the durable word
    returned.store(true);
  });
  // The flusher only syncs because the waiter asked for the LSN; its round
  // is now held inside fdatasync, so the durable LSN cannot have advanced.
  g_gate.AwaitEntered();
  LetWaiterPark();
  CHECK_FALSE(returned.load());
  CHECK((*j)->durable_lsn() < *lsn);

  g_gate.Release();
  waiter.join();
  CHECK(result.ok());
  CHECK((*j)->durable_lsn() >= *lsn);
  REQUIRE((*j)->Close().ok());
  // Counted once the round is over, which may be after the waiter woke:
  // read after Close, which joins the flusher.
  CHECK((*j)->sync_count() >= 1);
}

TEST_CASE("a parked WaitDurable returns the sync error when the flusher's fdatasync fails",
          "[journal][durability]") {
  TempDir tmp;
  g_gate.Disarm();
  auto j = Journal::Open(tmp.Sub("j"), SyncOptions());
  REQUIRE(j.ok());
  auto lsn = (*j)->Append(RecordInput{});
  REQUIRE(lsn.ok());

  g_gate.Arm(/*fail_calls=*/true);
  absl::Status result = absl::UnknownError("not returned");
  std::thread waiter([&] { result = (*j)->WaitDurable(*lsn); });
  g_gate.AwaitEntered();
  LetWaiterPark();
  g_gate.Release();  // the held fdatasync now fails with EIO
  waiter.join();
  REQUIRE_FALSE(result.ok());
  CHECK(result.code() != absl::StatusCode::kDeadlineExceeded);
  CHECK(result.code() != absl::StatusCode::kFailedPrecondition);
  CHECK(std::string(result.message()).find("acknowledges nothing more") != std::string::npos);
  CHECK((*j)->durable_lsn() < *lsn);

  // Sticky: later waiters, callbacks and syncs get the same error even
  // though fdatasync works again.
  g_gate.Disarm();
  const absl::Status again = (*j)->WaitDurable(*lsn);
  CHECK(again == result);
  absl::Status cb = absl::UnknownError("not called");
  (*j)->OnDurable(*lsn, [&](absl::Status s) { cb = s; });
  CHECK(cb == result);
  CHECK((*j)->Sync() == result);
  CHECK((*j)->durable_lsn() < *lsn);
  CHECK_FALSE((*j)->Close().ok());
}

TEST_CASE("a parked WaitDurable for an LSN never appended returns when the journal closes",
          "[journal][durability]") {
  const Durability level = GENERATE(Durability::kSync, Durability::kProcess);
  INFO("durability " << static_cast<int>(level));
  TempDir tmp;
  g_gate.Disarm();
  JournalOptions o = SyncOptions();
  o.durability = level;
  auto j = Journal::Open(tmp.Sub("j"), o);
  REQUIRE(j.ok());
  auto lsn = (*j)->Append(RecordInput{});
  REQUIRE(lsn.ok());
  REQUIRE((*j)->WaitDurable(*lsn).ok());

  absl::Status result = absl::UnknownError("not returned");
  std::thread waiter([&] { result = (*j)->WaitDurable(*lsn + 5); });
  LetWaiterPark();
  REQUIRE((*j)->Close().ok());
  waiter.join();
  CHECK(result.code() == absl::StatusCode::kFailedPrecondition);
  CHECK((*j)->durable_lsn() == *lsn);
}


TEST_CASE("a bounded WaitDurable at kProcess parks and returns at its deadline or at the append",
          "[journal][durability]") {
  TempDir tmp;
  g_gate.Disarm();
  JournalOptions o = SyncOptions();
  o.durability = Durability::kProcess;
  auto j = Journal::Open(tmp.Sub("j"), o);
  REQUIRE(j.ok());
  auto first = (*j)->Append(RecordInput{});
  REQUIRE(first.ok());

  // Nobody appends: the deadline (through the nudge of the committed word)
  // ends the wait, and the LSN the readers see is untouched by the nudge.
  const absl::Status expired = (*j)->WaitDurable(*first + 1, absl::Milliseconds(20));
  CHECK(expired.code() == absl::StatusCode::kDeadlineExceeded);
  CHECK((*j)->last_lsn() == *first);

  // An append by another thread ends a parked bounded wait with OK.
  absl::Status result = absl::UnknownError("not returned");
  std::thread waiter([&] { result = (*j)->WaitDurable(*first + 2, absl::Hours(1)); });
  LetWaiterPark();
  REQUIRE((*j)->Append(RecordInput{}).ok());
  REQUIRE((*j)->Append(RecordInput{}).ok());
  waiter.join();
  CHECK(result.ok());
  CHECK((*j)->last_lsn() == *first + 2);

  // Many bounded waiters with different deadlines all expire.
  std::vector<std::thread> waiters;
  std::vector<absl::StatusCode> codes(8, absl::StatusCode::kUnknown);
  for (int i = 0; i < 8; ++i) {
    waiters.emplace_back([&, i] {
      codes[i] = (*j)->WaitDurable(*first + 100, absl::Milliseconds(5 * (i + 1))).code();
    });
  }
  for (auto& w : waiters) w.join();
  for (absl::StatusCode c : codes) CHECK(c == absl::StatusCode::kDeadlineExceeded);
  CHECK((*j)->last_lsn() == *first + 2);
  REQUIRE((*j)->Close().ok());
}

}  // namespace
}  // namespace engram
