// Runs the Savina workloads on engram and on CAF 0.17.6 in one process, with
// the same worker count, and prints one line per workload:
//   name: engram X/s, caf Y/s, ratio X/Y
// Each figure is the median of --reps runs; a run whose result does not
// check out fails the whole program.
//
//   savina [--threads N] [--reps R] [--scale F] [--only NAME]
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>

#include "engram/tools/cli_flags.h"

#include "bench/savina/caf_workloads.h"
#include "bench/savina/engram_workloads.h"

namespace {

using engram::bench::Result;
namespace ours = engram::bench::engram_impl;
namespace caf = engram::bench::caf_peer;

struct Workload {
  const char* name;
  std::function<Result(int threads, double scale)> engram;
  std::function<Result(int threads, double scale)> caf;
};

int64_t Scaled(int64_t n, double scale) {
  return std::max<int64_t>(1, static_cast<int64_t>(static_cast<double>(n) * scale));
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Runs `fn` `reps` times; returns the median rate, or -1 after printing why
// a run failed its check.
double Measure(const char* name, const char* who,
               const std::function<Result(int, double)>& fn, int threads, double scale,
               int reps) {
  std::vector<double> rates;
  for (int i = 0; i < reps; ++i) {
    Result r = fn(threads, scale);
    if (!r.ok) {
      std::fprintf(stderr, "%s: %s run failed its check: %s\n", name, who, r.detail.c_str());
      return -1;
    }
    rates.push_back(r.ops_per_sec);
  }
  return Median(rates);
}

std::string Human(double v) {
  char buf[64];
  if (v >= 1e6) {
    std::snprintf(buf, sizeof buf, "%.2fM", v / 1e6);
  } else if (v >= 1e3) {
    std::snprintf(buf, sizeof buf, "%.1fk", v / 1e3);
  } else {
    std::snprintf(buf, sizeof buf, "%.0f", v);
  }
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  int reps = 3;
  double scale = 1.0;
  std::string only;
  CLI::App app("Savina workloads on engram and on CAF 0.17.6 with the same worker count; "
               "prints `name: engram X/s, caf Y/s, ratio X/Y`.",
               "savina");
  app.add_option("--threads", threads, "worker threads (default: one per core)")
      ->check(engram::cli::Positive());
  app.add_option("--reps", reps, "runs per figure, the median is printed (default 3)")
      ->check(engram::cli::Positive());
  app.add_option("--scale", scale, "multiplies every workload's size (default 1; e.g. 0.1)")
      ->check(engram::cli::Positive());
  app.add_option("--only", only, "run one workload")
      ->check(CLI::IsMember({"pingpong", "counting", "fjthrput", "threadring", "fjcreate", "big",
                             "chameneos", "idle"}));
  if (const std::optional<int> code = engram::cli::Parse(app, argc, argv, "savina")) {
    return *code;
  }

  const std::vector<Workload> workloads = {
      {"pingpong", [](int t, double s) { return ours::PingPong(t, Scaled(1'000'000, s)); },
       [](int t, double s) { return caf::PingPong(t, Scaled(1'000'000, s)); }},
      {"counting", [](int t, double s) { return ours::Counting(t, Scaled(10'000'000, s)); },
       [](int t, double s) { return caf::Counting(t, Scaled(10'000'000, s)); }},
      {"fjthrput",
       [](int t, double s) { return ours::FjThroughput(t, 60, Scaled(100'000, s)); },
       [](int t, double s) { return caf::FjThroughput(t, 60, Scaled(100'000, s)); }},
      {"threadring",
       [](int t, double s) { return ours::ThreadRing(t, 100, Scaled(1'000'000, s)); },
       [](int t, double s) { return caf::ThreadRing(t, 100, Scaled(1'000'000, s)); }},
      {"fjcreate", [](int t, double s) { return ours::FjCreate(t, Scaled(1'000'000, s)); },
       [](int t, double s) { return caf::FjCreate(t, Scaled(1'000'000, s)); }},
      {"big", [](int t, double s) { return ours::Big(t, 120, Scaled(20'000, s)); },
       [](int t, double s) { return caf::Big(t, 120, Scaled(20'000, s)); }},
      {"chameneos",
       [](int t, double s) { return ours::Chameneos(t, 100, Scaled(200'000, s)); },
       [](int t, double s) { return caf::Chameneos(t, 100, Scaled(200'000, s)); }},
  };

  std::printf("Savina on %d worker thread(s), median of %d run(s), scale %g\n", threads,
              reps, scale);
  int failures = 0;
  for (const Workload& w : workloads) {
    if (!only.empty() && only != w.name) continue;
    const double ours_rate = Measure(w.name, "engram", w.engram, threads, scale, reps);
    const double caf_rate = Measure(w.name, "caf", w.caf, threads, scale, reps);
    if (ours_rate < 0 || caf_rate < 0) {
      ++failures;
      continue;
    }
    std::printf("%s: engram %s/s, caf %s/s, ratio %.2f\n", w.name, Human(ours_rate).c_str(),
                Human(caf_rate).c_str(), ours_rate / caf_rate);
    std::fflush(stdout);
  }
  if (only.empty() || only == "idle") {
    const int64_t n = Scaled(1'000'000, scale);
    const double ours_bytes = ours::BytesPerIdleActor(threads, n);
    const double caf_bytes = caf::BytesPerIdleActor(threads, n);
    std::printf("bytes per idle actor (%lld actors, RSS delta): engram %.0f B, caf %.0f B, "
                "ratio %.2f\n",
                static_cast<long long>(n), ours_bytes, caf_bytes, ours_bytes / caf_bytes);
  }
  return failures == 0 ? 0 : 1;
}
