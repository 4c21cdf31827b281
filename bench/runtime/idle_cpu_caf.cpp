// CAF's side of the idle-runtime benchmark: CPU seconds an idle CAF 0.17
// actor system with the same worker count and idle actors burns over a wall
// interval. Kept apart so that only this file includes CAF.
#include <chrono>
#include <thread>
#include <vector>

#include "bench/bench_util.h"
#include "caf/all.hpp"

namespace engram::bench {
namespace {
class IdleConfig : public caf::actor_system_config {
 public:
  explicit IdleConfig(int threads) {
    set("scheduler.max-threads", static_cast<size_t>(threads));
  }
};
}  // namespace

double CafIdleCpuSeconds(int threads, int actors, double settle_s, double wall_s) {
  IdleConfig cfg(threads);
  caf::actor_system sys{cfg};
  std::vector<caf::actor> idle;
  for (int i = 0; i < actors; ++i) {
    idle.push_back(sys.spawn([](caf::event_based_actor*) -> caf::behavior {
      return {[](int x) { return x; }};
    }));
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(settle_s));
  const double cpu0 = ProcessCpuSeconds();
  std::this_thread::sleep_for(std::chrono::duration<double>(wall_s));
  const double cpu = ProcessCpuSeconds() - cpu0;
  for (auto& a : idle) caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  return cpu;
}

}  // namespace engram::bench
