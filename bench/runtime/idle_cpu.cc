// How much CPU an idle runtime burns: an actor system with idle actors and
// nothing to do, measured in process CPU seconds over a wall interval,
// engram beside CAF 0.17.6 with the same worker count.
//
//   idle_cpu [--threads N] [--seconds S]
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

#include "engram/actors/actor_system.h"
#include "bench/bench_util.h"

namespace engram::bench {
double CafIdleCpuSeconds(int threads, int actors, double settle_s, double wall_s);
}

namespace {

struct Nothing {};

class Idle : public engram::Actor {
 public:
  Idle() {
    Handle([](Nothing) {});
  }
};

double EngramIdleCpuSeconds(int threads, int actors, double settle_s, double wall_s) {
  engram::ActorSystem system(
      engram::ActorSystemOptions{.scheduler = {.threads = threads}});
  std::vector<engram::ActorRef> idle;
  for (int i = 0; i < actors; ++i) idle.push_back(system.Spawn<Idle>());
  std::this_thread::sleep_for(std::chrono::duration<double>(settle_s));
  const double cpu0 = engram::bench::ProcessCpuSeconds();
  std::this_thread::sleep_for(std::chrono::duration<double>(wall_s));
  return engram::bench::ProcessCpuSeconds() - cpu0;
}

}  // namespace

int main(int argc, char** argv) {
  int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  double seconds = 2.0;
  CLI::App app("CPU burnt by an idle runtime (1000 idle actors), engram beside CAF 0.17.6.",
               "idle_cpu");
  app.add_option("--threads", threads, "worker threads (default: one per core)")
      ->check(engram::cli::Positive());
  app.add_option("--seconds", seconds, "wall seconds measured (default 2)")
      ->check(engram::cli::Positive());
  if (const std::optional<int> code = engram::cli::Parse(app, argc, argv, "idle_cpu")) {
    return *code;
  }
  constexpr int kActors = 1000;
  const double settle = 0.5;
  const double ours = EngramIdleCpuSeconds(threads, kActors, settle, seconds);
  const double caf = engram::bench::CafIdleCpuSeconds(threads, kActors, settle, seconds);
  std::printf(
      "idle runtime (%d workers, %d idle actors, %.1f s wall): engram %.4f CPU-s "
      "(%.2f%% of one core), caf %.4f CPU-s (%.2f%%), ratio %.2f\n",
      threads, kActors, seconds, ours, 100 * ours / seconds, caf, 100 * caf / seconds,
      caf > 0 ? ours / caf : 0.0);
  return 0;
}
