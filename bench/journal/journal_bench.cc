// Journal benchmarks, each beside its baseline measured in the same run:
//   append throughput (64 B / 1 KiB / 4 KiB payloads, 1 and 2 threads,
//     kProcess) vs memcpy of the same bytes into prefaulted memory;
//   kSync group commit (16 clients: Append + WaitDurable) vs a raw
//     write()+fdatasync() loop batching as many records per sync;
//   append latency p50/p99/p99.9 (64 B) vs a 64-byte memcpy timed the same way;
//   scan of a 10,000,000-record journal vs read() of the same files.
// Output lines: `name: ours X, peer Y, ratio Z`.
// Usage: journal_bench [--dir DIR] [--scan-records N] [--quick]
//                      [--only append|rolls|sync|latency|scan]
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>

#include "engram/tools/cli_flags.h"

#include "engram/journal/journal.h"
#include "engram/journal/journal_scan.h"
#include "engram/journal/reader.h"

namespace {

using Clock = std::chrono::steady_clock;
using engram::Durability;
using engram::Journal;
using engram::JournalOptions;
using engram::RecordInput;

std::string g_base = "/tmp";
bool g_quick = false;
std::string g_only;  // run only this group: append|rolls|sync|latency|scan

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

std::string FreshDir(const std::string& name) {
  std::string dir = g_base + "/engram-bench-" + name;
  std::string cmd = "rm -rf '" + dir + "'";
  if (std::system(cmd.c_str()) != 0) std::perror("rm");
  return dir;
}

void RemoveDir(const std::string& dir) {
  std::string cmd = "rm -rf '" + dir + "'";
  if (std::system(cmd.c_str()) != 0) std::perror("rm");
}

void Die(const absl::Status& s) {
  std::fprintf(stderr, "journal_bench: %s\n", std::string(s.message()).c_str());
  std::exit(1);
}

// memcpy of `bytes_per_thread` in `payload`-sized pieces into a prefaulted
// buffer of `ring` bytes per thread, on `threads` threads. Returns GB/s.
double MemcpyGBps(size_t payload, int threads, uint64_t bytes_per_thread, size_t ring) {
  std::vector<std::thread> ts;
  std::vector<double> secs(threads);
  std::atomic<int> ready{0};
  for (int t = 0; t < threads; ++t) {
    ts.emplace_back([&, t] {
      std::vector<char> src(payload, 'x');
      char* dst = static_cast<char*>(mmap(nullptr, ring, PROT_READ | PROT_WRITE,
                                          MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0));
      ready.fetch_add(1);
      while (ready.load() < threads) {
      }
      auto a = Clock::now();
      size_t off = 0;
      for (uint64_t done = 0; done < bytes_per_thread; done += payload) {
        if (off + payload > ring) off = 0;
        std::memcpy(dst + off, src.data(), payload);
        asm volatile("" : : "r"(dst) : "memory");
        off += payload;
      }
      secs[t] = Seconds(a, Clock::now());
      munmap(dst, ring);
    });
  }
  for (auto& t : ts) t.join();
  const double s = *std::max_element(secs.begin(), secs.end());
  return static_cast<double>(bytes_per_thread) * threads / s / 1e9;
}

void AppendThroughput(size_t payload, int threads) {
  // Sized to stay inside the prefaulted active segment, so the figure is the
  // append path itself (see the roll figure below for the steady state).
  const uint64_t seg = 512ull << 20;
  const uint64_t per_record = 56 + ((payload + 7) & ~size_t{7});
  uint64_t records = (seg - (16 << 20)) / per_record / threads;
  if (g_quick) records /= 8;
  const std::string dir = FreshDir("append");
  JournalOptions o;
  o.segment_size = seg;
  auto j = Journal::Open(dir, o);
  if (!j.ok()) Die(j.status());
  // Let the preallocator fault in the active segment first.
  std::this_thread::sleep_for(std::chrono::milliseconds(g_quick ? 300 : 2500));
  std::vector<std::thread> ts;
  std::vector<double> secs(threads);
  std::atomic<int> ready{0};
  for (int t = 0; t < threads; ++t) {
    ts.emplace_back([&, t] {
      std::string p(payload, 'a' + t);
      RecordInput in;
      in.payload = p;
      in.timestamp_ns = 1;
      ready.fetch_add(1);
      while (ready.load() < threads) {
      }
      auto a = Clock::now();
      for (uint64_t i = 0; i < records; ++i) {
        auto lsn = (*j)->Append(in);
        if (!lsn.ok()) Die(lsn.status());
      }
      secs[t] = Seconds(a, Clock::now());
    });
  }
  for (auto& t : ts) t.join();
  const double s = *std::max_element(secs.begin(), secs.end());
  const double total = static_cast<double>(records) * threads;
  const double gbps = total * payload / s / 1e9;
  j->reset();
  RemoveDir(dir);
  const double mem = MemcpyGBps(payload, threads, records * payload, 256 << 20);
  std::printf(
      "append %zu B x %d thread(s): ours %.2f M records/s = %.2f GB/s payload, "
      "peer memcpy %.2f GB/s, ratio %.2f\n",
      payload, threads, total / s / 1e6, gbps, mem, gbps / mem);
  std::fflush(stdout);
}

// Steady state across many segment rolls (every segment freshly fallocated
// and faulted in by the background thread).
void AppendAcrossRolls(size_t payload) {
  const std::string dir = FreshDir("rolls");
  JournalOptions o;
  o.segment_size = 64ull << 20;
  auto j = Journal::Open(dir, o);
  if (!j.ok()) Die(j.status());
  const uint64_t bytes = g_quick ? (128ull << 20) : (1ull << 30);
  const uint64_t records = bytes / payload;
  std::string p(payload, 'r');
  RecordInput in;
  in.payload = p;
  in.timestamp_ns = 1;
  auto a = Clock::now();
  for (uint64_t i = 0; i < records; ++i) {
    auto lsn = (*j)->Append(in);
    if (!lsn.ok()) Die(lsn.status());
  }
  const double s = Seconds(a, Clock::now());
  j->reset();
  RemoveDir(dir);
  const double mem = MemcpyGBps(payload, 1, records * payload, 256 << 20);
  std::printf(
      "append %zu B x 1 thread over %llu MiB (64 MiB segments, rolls): ours %.2f GB/s, "
      "peer memcpy %.2f GB/s, ratio %.2f\n",
      payload, static_cast<unsigned long long>(bytes >> 20), records * payload / s / 1e9,
      mem, records * payload / s / 1e9 / mem);
  std::fflush(stdout);
}

void SyncGroupCommit() {
  const int clients = 16;
  const double run_s = g_quick ? 0.5 : 2.0;
  const size_t payload = 64;
  const std::string dir = FreshDir("sync");
  JournalOptions o;
  o.segment_size = 64ull << 20;
  o.durability = Durability::kSync;
  auto j = Journal::Open(dir, o);
  if (!j.ok()) Die(j.status());
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> acked{0};
  std::vector<std::thread> ts;
  const uint64_t syncs0 = (*j)->sync_count();
  auto a = Clock::now();
  for (int c = 0; c < clients; ++c) {
    ts.emplace_back([&] {
      std::string p(payload, 's');
      RecordInput in;
      in.payload = p;
      while (!stop.load(std::memory_order_relaxed)) {
        auto lsn = (*j)->Append(in);
        if (!lsn.ok()) Die(lsn.status());
        absl::Status s = (*j)->WaitDurable(*lsn);
        if (!s.ok()) Die(s);
        acked.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(run_s));
  stop = true;
  for (auto& t : ts) t.join();
  const double s = Seconds(a, Clock::now());
  const uint64_t syncs = (*j)->sync_count() - syncs0;
  const double ours = acked.load() / s;
  const uint64_t batch = std::max<uint64_t>(1, acked.load() / std::max<uint64_t>(1, syncs));
  j->reset();
  RemoveDir(dir);

  // Raw baseline: write() `batch` records of the same size, fdatasync, repeat.
  const std::string rdir = FreshDir("rawsync");
  mkdir(rdir.c_str(), 0700);
  const std::string path = rdir + "/raw";
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  std::vector<char> buf(batch * (56 + payload), 'w');
  uint64_t raw_records = 0;
  auto b = Clock::now();
  while (Seconds(b, Clock::now()) < run_s) {
    if (write(fd, buf.data(), buf.size()) != static_cast<ssize_t>(buf.size())) {
      std::perror("write");
      break;
    }
    fdatasync(fd);
    raw_records += batch;
  }
  const double raw = raw_records / Seconds(b, Clock::now());
  close(fd);
  RemoveDir(rdir);
  std::printf(
      "sync group commit, %d clients (append+wait), %llu records per fdatasync: "
      "ours %.0f records/s, peer write()+fdatasync() batching %llu: %.0f records/s, "
      "ratio %.2f\n",
      clients, static_cast<unsigned long long>(batch), ours,
      static_cast<unsigned long long>(batch), raw, ours / raw);
  std::fflush(stdout);
}

void Latency() {
  const std::string dir = FreshDir("latency");
  JournalOptions o;
  o.segment_size = 256ull << 20;
  auto j = Journal::Open(dir, o);
  if (!j.ok()) Die(j.status());
  std::this_thread::sleep_for(std::chrono::milliseconds(g_quick ? 200 : 800));
  const size_t n = g_quick ? 200000 : 1000000;
  std::vector<uint32_t> ours(n), peer(n);
  std::string p(64, 'l');
  RecordInput in;
  in.payload = p;
  in.timestamp_ns = 1;
  for (size_t i = 0; i < n; ++i) {
    auto a = Clock::now();
    auto lsn = (*j)->Append(in);
    auto b = Clock::now();
    if (!lsn.ok()) Die(lsn.status());
    ours[i] = static_cast<uint32_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(b - a).count());
  }
  j->reset();
  RemoveDir(dir);
  std::vector<char> dst(64 << 20);
  std::memset(dst.data(), 0, dst.size());
  size_t off = 0;
  for (size_t i = 0; i < n; ++i) {
    if (off + 64 > dst.size()) off = 0;
    auto a = Clock::now();
    std::memcpy(dst.data() + off, p.data(), 64);
    asm volatile("" : : "r"(dst.data()) : "memory");
    auto b = Clock::now();
    off += 120;
    peer[i] = static_cast<uint32_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(b - a).count());
  }
  auto pct = [](std::vector<uint32_t>& v, double q) {
    std::nth_element(v.begin(), v.begin() + static_cast<long>(q * (v.size() - 1)), v.end());
    return v[static_cast<size_t>(q * (v.size() - 1))];
  };
  for (double q : {0.5, 0.99, 0.999}) {
    const uint32_t a = pct(ours, q), b = pct(peer, q);
    std::printf("append latency 64 B p%g: ours %u ns, peer 64 B memcpy (same clock) %u ns, ratio %.2f\n",
                q * 100, a, b, b == 0 ? 0.0 : static_cast<double>(a) / b);
  }
  std::fflush(stdout);
}

void Scan(uint64_t records) {
  const std::string dir = FreshDir("scan");
  {
    JournalOptions o;
    o.segment_size = 256ull << 20;
    auto j = Journal::Open(dir, o);
    if (!j.ok()) Die(j.status());
    std::string p(64, 'q');
    RecordInput in;
    in.payload = p;
    in.timestamp_ns = 1;
    for (uint64_t i = 0; i < records; ++i) {
      auto lsn = (*j)->Append(in);
      if (!lsn.ok()) Die(lsn.status());
    }
  }
  // Warm the page cache for both contenders with one pass of read().
  auto segs = engram::ListSegments(dir);
  if (!segs.ok()) Die(segs.status());
  std::vector<char> buf(1 << 20);
  auto read_all = [&]() {
    uint64_t bytes = 0;
    for (auto& [lsn, path] : *segs) {
      int fd = open(path.c_str(), O_RDONLY);
      ssize_t n;
      while ((n = read(fd, buf.data(), buf.size())) > 0) bytes += static_cast<uint64_t>(n);
      close(fd);
    }
    return bytes;
  };
  read_all();
  auto r = engram::Reader::Open(dir, 1);
  if (!r.ok()) Die(r.status());
  engram::RecordView v;
  uint64_t n = 0, data_bytes = 0;
  auto a = Clock::now();
  for (;;) {
    auto got = (*r)->Next(&v);
    if (!got.ok()) Die(got.status());
    if (!*got) break;
    ++n;
    data_bytes += 56 + ((v.payload.size() + 7) & ~size_t{7});
  }
  const double s = Seconds(a, Clock::now());
  auto b = Clock::now();
  const uint64_t file_bytes = read_all();
  const double rs = Seconds(b, Clock::now());
  RemoveDir(dir);
  if (n != records) {
    std::fprintf(stderr, "scan saw %llu of %llu records\n", static_cast<unsigned long long>(n),
                 static_cast<unsigned long long>(records));
  }
  const double ours = data_bytes / s / 1e9, peer = file_bytes / rs / 1e9;
  std::printf(
      "scan %llu records (64 B payload, checksums verified): ours %.1f M records/s = %.2f GB/s, "
      "peer read() of the same files %.2f GB/s, ratio %.2f\n",
      static_cast<unsigned long long>(n), n / s / 1e6, ours, peer, ours / peer);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t scan_records = 10000000;
  CLI::App app("Journal benchmarks, each beside its baseline measured in the same run; prints "
               "`name: ours X, peer Y, ratio Z`.",
               "journal_bench");
  app.add_option("--dir", g_base, "where the journals are written (default /tmp)")
      ->type_name("DIR");
  CLI::Option* scan = app.add_option("--scan-records", scan_records,
                                     "records of the scan benchmark (default 10000000; "
                                     "1000000 with --quick)")
                          ->type_name("N")
                          ->check(engram::cli::Positive());
  app.add_flag("--quick", g_quick, "smaller runs");
  app.add_option("--only", g_only, "run one group")
      ->type_name("GROUP")
      ->check(CLI::IsMember({"append", "rolls", "sync", "latency", "scan"}));
  if (const std::optional<int> code = engram::cli::Parse(app, argc, argv, "journal_bench")) {
    return *code;
  }
  if (g_quick && scan->count() == 0) scan_records = 1000000;
  auto want = [&](const char* name) { return g_only.empty() || g_only == name; };
  if (want("append")) {
    for (size_t payload : {64, 1024, 4096}) {
      for (int threads : {1, 2}) AppendThroughput(payload, threads);
    }
  }
  if (want("rolls")) AppendAcrossRolls(4096);
  if (want("sync")) SyncGroupCommit();
  if (want("latency")) Latency();
  if (want("scan")) Scan(scan_records);
  return 0;
}
