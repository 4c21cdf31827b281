// Smoke check for the CAF peer workloads: runs every workload and prints its
// Result. Sizes are the Savina sizes divided by a divisor (default 100).
//
//   caf_check [threads=2] [divisor=100]
//
// Returns non-zero if any workload reports ok == false.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "caf_workloads.h"

namespace cp = engram::bench::caf_peer;

namespace {

int failures = 0;

void Print(const char* name, const cp::Result& r) {
  std::printf("%-14s %-4s %14.0f ops/s  %s\n", name, r.ok ? "ok" : "FAIL",
              r.ops_per_sec, r.detail.c_str());
  std::fflush(stdout);
  if (!r.ok) ++failures;
}

}  // namespace

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 2;
  const long long div = argc > 2 ? std::atoll(argv[2]) : 100;
  if (threads < 1 || div < 1) {
    std::fprintf(stderr, "usage: %s [threads>=1] [divisor>=1]\n", argv[0]);
    return 2;
  }
  auto scaled = [&](long long n) { return n / div > 0 ? n / div : 1; };

  std::printf("CAF peer check: threads=%d, sizes = Savina / %lld\n", threads, div);
  Print("PingPong", cp::PingPong(threads, scaled(1'000'000)));
  Print("Counting", cp::Counting(threads, scaled(1'000'000)));
  Print("FjThroughput", cp::FjThroughput(threads, 60, scaled(100'000)));
  Print("ThreadRing", cp::ThreadRing(threads, 100, scaled(1'000'000)));
  Print("FjCreate", cp::FjCreate(threads, scaled(1'000'000)));
  Print("Big", cp::Big(threads, 120, scaled(20'000)));
  Print("Chameneos", cp::Chameneos(threads, 100, scaled(200'000)));
  const double bytes = cp::BytesPerIdleActor(threads, scaled(1'000'000));
  const bool bytes_ok = bytes > 0.0;
  std::printf("%-14s %-4s %14.1f bytes/idle actor\n", "IdleActorRSS",
              bytes_ok ? "ok" : "FAIL", bytes);
  if (!bytes_ok) ++failures;

  std::printf("%s (%d failure%s)\n", failures ? "FAILED" : "PASSED", failures,
              failures == 1 ? "" : "s");
  return failures ? 1 : 0;
}
