// Memory-image benchmarks, each beside a baseline measured in the same run:
//  - commands/s end to end (command -> events journaled -> applied -> reply)
//    for a counter actor and for bank transfers, at process and sync
//    durability, beside a plain loop that appends the same records to a
//    Journal and applies them to a struct (the floor engram adds actors,
//    gating and replies to);
//  - recovery of a journal of N events into the image (events/s, seconds
//    until the first new command is answered), without and with snapshots,
//    beside a plain Reader scan of the same journal;
//  - snapshot write and load MB/s beside write()+fdatasync() and read() of
//    the same bytes;
//  - standby lag: from an event's append at the leader until a same-host
//    standby (engram/image/standby.h) has applied it, p50/p99,
//    beside the machine's limit for waking a sleeping thread (a futex wake
//    to the woken thread running), measured in the same run.
//
//   image_bench [--events N] [--commands N] [--standby-only]
#include <fcntl.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <algorithm>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <random>
#include <cstdlib>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>

#include "engram/tools/cli_flags.h"

#include "absl/strings/numbers.h"
#include "engram/actors/actor_system.h"
#include "engram/base/internal/mutex.h"
#include "bank/bank_model.h"
#include "engram/image/memory_image.h"
#include "engram/image/snapshot_store.h"
#include "engram/image/standby.h"
#include "engram/journal/journal.h"
#include "engram/journal/reader.h"

namespace {

using Clock = std::chrono::steady_clock;
using engram::ActorRef;
using engram::Done;

double Since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

std::string TempDir(const char* tag) {
  std::string tmpl =
      (std::filesystem::temp_directory_path() / (std::string("engram-bench-") + tag + "-XXXXXX"))
          .string();
  if (mkdtemp(tmpl.data()) == nullptr) std::abort();
  return tmpl;
}

struct Add {
  int64_t n;
};
struct Get {};
struct Added {
  int64_t n;
};
struct CounterState {
  int64_t value = 0;
  int64_t changes = 0;
  // No HashState: trivially copyable without padding, hashed by its bytes.
};
class Counter : public engram::PersistentActor<CounterState> {
 public:
  Counter() {
    OnCommand([this](const Add& a) { Emit(Added{a.n}); });
    OnCommand([this](Get) { return state().value; });
    OnEvent([](CounterState& s, const Added& e) {
      s.value += e.n;
      ++s.changes;
    });
  }
};

const engram::EventRegistry& Registry() {
  static engram::EventRegistry* r = [] {
    auto* reg = new engram::EventRegistry();
    (void)reg->Register<Added>("bench.Added");
    (void)bank::RegisterEvents(*reg);
    return reg;
  }();
  return *r;
}

struct Image {
  Image(const std::string& dir, engram::Durability d, bool use_snapshots = true)
      : system(engram::ActorSystemOptions{}), image(system, Registry()) {
    image.RegisterKind<Counter>("counter");
    bank::RegisterKinds(image);
    engram::MemoryImage::Options o;
    o.journal.durability = d;
    o.use_snapshots = use_snapshots;
    status = image.Open(dir, o);
    if (!status.ok()) {
      std::fprintf(stderr, "image_bench: %s\n", status.ToString().c_str());
      std::exit(1);
    }
  }
  engram::ActorSystem system;
  engram::MemoryImage image;
  absl::Status status;
};

// Keeps `window` requests in flight to the counters and sends the next on
// each reply: commands from an actor, as a service's front end would.
struct Go {};
class Driver : public engram::Actor {
 public:
  Driver(std::vector<ActorRef> to, int64_t total, size_t window, engram::Notification* done)
      : to_(std::move(to)), total_(total), window_(window), done_(done) {
    Handle([this](Go) {
      for (size_t i = 0; i < window_ && sent_ < total_; ++i) SendOne();
    });
  }

 private:
  void SendOne() {
    const ActorRef& target = to_[static_cast<size_t>(sent_++) % to_.size()];
    Request<Done>(target, Add{1}, absl::InfiniteDuration(), [this](absl::StatusOr<Done> r) {
      if (!r.ok()) std::abort();
      if (++answered_ == total_) done_->Notify();
      if (sent_ < total_) SendOne();
    });
  }
  std::vector<ActorRef> to_;
  int64_t total_;
  size_t window_;
  engram::Notification* done_;
  int64_t sent_ = 0, answered_ = 0;
};

// Commands through `streams` counters, replies included.
double CounterCommands(engram::Durability d, int64_t commands, int streams) {
  const std::string dir = TempDir("cmd");
  double rate = 0;
  {
    Image m(dir + "/journal", d);
    std::vector<ActorRef> refs;
    for (int i = 1; i <= streams; ++i) refs.push_back(m.image.Spawn<Counter>(i).value());
    engram::Notification done;
    ActorRef driver = m.system.Spawn<Driver>(refs, commands, size_t{4096}, &done);
    const auto start = Clock::now();
    driver.Send(Go{});
    done.WaitForNotification();
    rate = commands / Since(start);
  }
  std::filesystem::remove_all(dir);
  return rate;
}

// The floor: one thread appends the same records and applies them.
double RawAppendApply(engram::Durability d, int64_t commands) {
  const std::string dir = TempDir("raw");
  engram::JournalOptions o;
  o.durability = d;
  auto j = engram::Journal::Open(dir + "/journal", o).value();
  CounterState state;
  const auto start = Clock::now();
  uint64_t last = 0;
  for (int64_t i = 0; i < commands; ++i) {
    Added e{1};
    engram::RecordInput r;
    r.stream_id = 1;
    r.stream_version = static_cast<uint64_t>(i + 1);
    r.type_id = engram::EventRegistry::TypeIdOf("bench.Added");
    r.schema_version = 1;
    r.payload = absl::string_view(reinterpret_cast<const char*>(&e), sizeof e);
    last = j->Append(r).value();
    state.value += e.n;
    ++state.changes;
    // Sync: wait per batch of 4096, as the actor benchmark's window does.
    if (d == engram::Durability::kSync && i % 4096 == 4095) (void)j->WaitDurable(last);
  }
  if (d == engram::Durability::kSync) (void)j->WaitDurable(last);
  const double s = Since(start);
  (void)j->Close();
  std::filesystem::remove_all(dir);
  if (state.value != commands) std::abort();
  return commands / s;
}

double BankTransfers(engram::Durability d, int64_t transfers) {
  const std::string dir = TempDir("bank");
  Image m(dir + "/journal", d);
  constexpr int kAccounts = 1000;
  for (int i = 1; i <= kAccounts; ++i) {
    m.image.Spawn<bank::Account>(i).value().Send(bank::Open{bank::kInitialBalance});
  }
  std::mt19937_64 rng(1);
  std::deque<engram::AskFuture<Done>> inflight;
  uint64_t id = bank::kFirstTransferId;
  const auto start = Clock::now();
  for (int64_t i = 0; i < transfers; ++i) {
    const uint64_t from = 1 + rng() % kAccounts;
    const uint64_t to = 1 + (from + rng() % (kAccounts - 1)) % kAccounts;
    ActorRef t = m.image.Spawn<bank::Transfer>(id++).value();
    inflight.push_back(m.system.AskAsync<Done>(t, bank::Start{from, to == 0 ? 1 : to, 1},
                                               absl::Seconds(60)));
    if (inflight.size() >= 1024) {
      (void)inflight.front().Get();
      inflight.pop_front();
    }
  }
  while (!inflight.empty()) {
    (void)inflight.front().Get();
    inflight.pop_front();
  }
  const double s = Since(start);
  std::filesystem::remove_all(dir);
  return transfers / s;
}

struct RecoveryFigures {
  double events_per_s;
  double first_command_s;
  uint64_t skipped;
};

RecoveryFigures Recover(const std::string& journal, bool use_snapshots) {
  const auto start = Clock::now();
  Image m(journal, engram::Durability::kProcess, use_snapshots);
  const uint64_t events = m.image.recovery().events + m.image.recovery().events_skipped;
  const double replay_s = Since(start);
  // The first new command served.
  if (!m.system.Ask<Done>(m.image.Find(1).value(), Add{1}, absl::Seconds(60)).ok()) std::abort();
  return {events / replay_s, Since(start), m.image.recovery().events_skipped};
}

double RawScan(const std::string& journal, uint64_t* bytes) {
  auto reader = engram::Reader::Open(journal, 0).value();
  engram::RecordView rec;
  uint64_t n = 0;
  *bytes = 0;
  const auto start = Clock::now();
  while (reader->Next(&rec).value()) {
    ++n;
    *bytes += rec.payload.size();
  }
  return n / Since(start);
}

double Median3(double a, double b, double c) {
  return std::max(std::min(a, b), std::min(std::max(a, b), c));
}

void SnapshotIo() {
  const std::string dir = TempDir("snapio");
  constexpr size_t kBytes = 64u << 20;
  std::string state(kBytes, '\0');
  for (size_t i = 0; i < kBytes; i += 64) state[i] = static_cast<char>(i * 131);
  engram::SnapshotStore store(dir + "/snaps");
  (void)store.Init();
  const std::string raw = dir + "/raw";
  double w[3], l[3], rw[3], rr[3];
  for (int rep = 0; rep < 3; ++rep) {
    auto t0 = Clock::now();
    if (!store.Write({1, static_cast<uint64_t>(rep + 1), 1, state}).ok()) std::abort();
    w[rep] = Since(t0);
    t0 = Clock::now();
    std::vector<engram::SnapshotStore::Rejected> rejected;
    auto loaded = store.LoadNewest(&rejected).value();
    l[rep] = Since(t0);
    if (loaded.size() != 1 || loaded[0].state.size() != kBytes) std::abort();
    // Baselines: write()+fdatasync() and read() of the same bytes.
    // Same work as the snapshot: a new file each time, a fresh buffer.
    const std::string raw_file = raw + std::to_string(rep);
    t0 = Clock::now();
    int fd = open(raw_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    for (size_t done = 0; done < kBytes;) {
      ssize_t n = write(fd, state.data() + done, kBytes - done);
      if (n <= 0) std::abort();
      done += static_cast<size_t>(n);
    }
    fdatasync(fd);
    close(fd);
    rw[rep] = Since(t0);
    t0 = Clock::now();
    std::string back(kBytes, '\0');
    fd = open(raw_file.c_str(), O_RDONLY);
    for (size_t done = 0; done < kBytes;) {
      ssize_t n = read(fd, back.data() + done, kBytes - done);
      if (n <= 0) std::abort();
      done += static_cast<size_t>(n);
    }
    close(fd);
    rr[rep] = Since(t0);
  }
  const double mb = kBytes / 1e6;
  const double ws = Median3(w[0], w[1], w[2]), ls = Median3(l[0], l[1], l[2]);
  const double rws = Median3(rw[0], rw[1], rw[2]), rrs = Median3(rr[0], rr[1], rr[2]);
  std::printf("snapshot write (64 MiB, median of 3): engram %.0f MB/s, write+fdatasync %.0f "
              "MB/s, ratio %.2f\n", mb / ws, mb / rws, rws / ws);
  std::printf("snapshot load (64 MiB, median of 3): engram %.0f MB/s, read() %.0f MB/s, "
              "ratio %.2f\n", mb / ls, mb / rrs, rrs / ls);
  std::filesystem::remove_all(dir);
}

// The p-th percentile (0..1) of `ns`, sorted in place, in microseconds.
double PercentileUs(std::vector<int64_t>& ns, double p) {
  std::sort(ns.begin(), ns.end());
  return static_cast<double>(ns[static_cast<size_t>(p * static_cast<double>(ns.size() - 1))]) /
         1e3;
}

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

// The limit: a thread sleeping in FUTEX_WAIT, woken by another (store,
// FUTEX_WAKE), until it runs; `samples` wakes spaced so that it sleeps.
std::vector<int64_t> FutexWakeNs(int samples) {
  std::atomic<uint32_t> word{0};
  std::atomic<int64_t> sent_at{0};
  std::vector<int64_t> lat;
  lat.reserve(samples);
  std::thread sleeper([&] {
    for (uint32_t seen = 0; seen < static_cast<uint32_t>(samples);) {
      const uint32_t now = word.load(std::memory_order_acquire);
      if (now == seen) {
        syscall(SYS_futex, reinterpret_cast<uint32_t*>(&word), FUTEX_WAIT_PRIVATE, seen, nullptr,
                nullptr, 0);
        continue;
      }
      lat.push_back(NowNs() - sent_at.load(std::memory_order_acquire));
      seen = now;
    }
  });
  for (int i = 1; i <= samples; ++i) {
    std::this_thread::sleep_for(std::chrono::microseconds(50));
    sent_at.store(NowNs(), std::memory_order_release);
    word.store(static_cast<uint32_t>(i), std::memory_order_release);
    syscall(SYS_futex, reinterpret_cast<uint32_t*>(&word), FUTEX_WAKE_PRIVATE, 1, nullptr,
            nullptr, 0);
  }
  sleeper.join();
  return lat;
}

// Standby lag at durability `d`: a leader image and a standby image in
// this process (one worker each), one command at a time with pauses (so
// the standby sleeps between them), from the event's append until the
// standby's applied LSN covers it.
void StandbyLag(engram::Durability d, int samples) {
  const std::string dir = TempDir("standby");
  const std::string journal = dir + "/journal";
  engram::ActorSystem leader_system(engram::ActorSystemOptions{.scheduler = {.threads = 1}});
  engram::MemoryImage leader(leader_system, Registry());
  leader.RegisterKind<Counter>("counter");
  engram::MemoryImage::Options o;
  o.journal.durability = d;
  if (absl::Status s = leader.Open(journal, o); !s.ok()) {
    std::fprintf(stderr, "image_bench: %s\n", s.ToString().c_str());
    std::exit(1);
  }
  ActorRef counter = leader.Spawn<Counter>(1).value();
  (void)leader_system.Ask<Done>(counter, Add{1}, absl::Seconds(60));
  engram::ActorSystem standby_system(engram::ActorSystemOptions{.scheduler = {.threads = 1}});
  engram::MemoryImage follower(standby_system, Registry());
  follower.RegisterKind<Counter>("counter");
  engram::Standby standby(follower);
  engram::Standby::Options so;
  so.image = o;
  so.take_over = false;
  if (absl::Status s = standby.Start(journal, so); !s.ok()) {
    std::fprintf(stderr, "image_bench: standby: %s\n", s.ToString().c_str());
    std::exit(1);
  }
  // Lag: from the event's journal timestamp (taken just before its append,
  // wall clock) to the standby's applied LSN covering it, seen by this
  // thread spinning. The leader's command round trip is printed beside.
  std::vector<int64_t> applied_at(samples), reply;
  std::vector<uint64_t> lsns(samples);
  reply.reserve(samples);
  for (int i = 0; i < samples; ++i) {
    std::this_thread::sleep_for(std::chrono::microseconds(50));
    const uint64_t lsn = leader.journal()->last_lsn() + 1;  // one event per Add
    const int64_t t0 = NowNs();
    auto done = leader_system.AskAsync<Done>(counter, Add{1}, absl::Seconds(60));
    while (standby.applied_lsn() < lsn) {
    }
    applied_at[i] = absl::GetCurrentTimeNanos();
    (void)done.Get();
    reply.push_back(NowNs() - t0);
    lsns[i] = lsn;
  }
  std::vector<int64_t> lag;
  lag.reserve(samples);
  {
    auto reader = engram::Reader::Open(journal, lsns[0]).value();
    engram::RecordView r;
    size_t k = 0;
    while (k < lsns.size() && reader->Next(&r).value()) {
      if (r.lsn == lsns[k]) lag.push_back(applied_at[k++] - r.timestamp_ns);
    }
  }
  standby.Stop();
  std::vector<int64_t> wake = FutexWakeNs(samples);
  const char* level = d == engram::Durability::kProcess ? "process" : "sync";
  const double p50 = PercentileUs(lag, 0.50), p99 = PercentileUs(lag, 0.99);
  const double w50 = PercentileUs(wake, 0.50), w99 = PercentileUs(wake, 0.99);
  std::printf("standby lag (%s, event journaled -> applied on the standby, %d samples): engram "
              "p50 %.1f us p99 %.1f us (the leader's command round trip p50 %.1f us p99 %.1f us), limit "
              "(futex wake of a sleeping thread) p50 %.1f us p99 %.1f us, ratio p99 %.2f; goal "
              "p99 < 50 us\n",
              level, samples, p50, p99, PercentileUs(reply, 0.50), PercentileUs(reply, 0.99),
              w50, w99, w99 / p99);
  std::fflush(stdout);
  std::filesystem::remove_all(dir);
}

}  // namespace

int main(int argc, char** argv) {
  int64_t events = 10'000'000;
  int64_t commands = 1'000'000;
  CLI::App app("Memory-image benchmarks, each beside a baseline measured in the same run.",
               "image_bench");
  app.add_option("--events", events, "events in the recovery journal (default 10000000)")
      ->type_name("N")
      ->check(engram::cli::Positive());
  app.add_option("--commands", commands, "commands per throughput run (default 1000000)")
      ->type_name("N")
      ->check(engram::cli::Positive());
  bool standby_only = false;
  app.add_flag("--standby-only", standby_only, "only the standby lag lines");
  if (const std::optional<int> code = engram::cli::Parse(app, argc, argv, "image_bench")) {
    return *code;
  }
  if (standby_only) {
    StandbyLag(engram::Durability::kProcess, 10000);
    StandbyLag(engram::Durability::kSync, 2000);
    return 0;
  }
  for (auto d : {engram::Durability::kProcess, engram::Durability::kSync}) {
    const char* level = d == engram::Durability::kProcess ? "process" : "sync";
    const int64_t n = d == engram::Durability::kProcess ? commands : commands / 4;
    const double ours = CounterCommands(d, n, 100);
    const double raw = RawAppendApply(d, n);
    std::printf("counter commands/s (%s): engram %.0f, raw append+apply loop %.0f, ratio %.2f\n",
                level, ours, raw, ours / raw);
    const double transfers = BankTransfers(d, n / 4);
    std::printf("bank transfers/s (%s): engram %.0f (each: 2 sagas steps, 3-4 events, "
                "4 gated messages)\n",
                level, transfers);
    std::fflush(stdout);
  }

  // A journal of `events` counter events over 1000 streams.
  const std::string dir = TempDir("recovery");
  const std::string journal = dir + "/journal";
  {
    Image m(journal, engram::Durability::kProcess);
    std::vector<ActorRef> refs;
    for (int i = 1; i <= 1000; ++i) refs.push_back(m.image.Spawn<Counter>(i).value());
    for (int64_t i = 0; i < events; ++i) refs[i % 1000].Send(Add{1});
    for (auto& r : refs) (void)m.system.Ask<int64_t>(r, Get{}, absl::Seconds(600));
  }
  uint64_t bytes = 0;
  const double scan = RawScan(journal, &bytes);
  const RecoveryFigures plain = Recover(journal, /*use_snapshots=*/true);
  std::printf("recovery of %lld events: engram %.0f events/s (first command after %.2f s), "
              "Reader scan %.0f records/s, ratio %.2f\n",
              static_cast<long long>(events), plain.events_per_s, plain.first_command_s, scan,
              plain.events_per_s / scan);
  {
    Image m(journal, engram::Durability::kProcess);
    for (int i = 1; i <= 1000; ++i) (void)m.image.Snapshot(i);
  }
  const RecoveryFigures snap = Recover(journal, /*use_snapshots=*/true);
  std::printf("recovery with snapshots: %.0f events/s covered (%llu skipped), first command "
              "after %.2f s, vs %.2f s without (ratio %.2f)\n",
              snap.events_per_s, static_cast<unsigned long long>(snap.skipped),
              snap.first_command_s, plain.first_command_s,
              plain.first_command_s / snap.first_command_s);
  std::filesystem::remove_all(dir);
  SnapshotIo();
  StandbyLag(engram::Durability::kProcess, 10000);
  StandbyLag(engram::Durability::kSync, 2000);
  return 0;
}
