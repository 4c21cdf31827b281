// CAF 0.17.6 group publish/subscribe, set up as CAF users would: one
// caf::actor_system with "scheduler.max-threads" = threads and otherwise
// default settings; dynamically typed event-based actors spawned directly
// into a local group with spawn_in_group (equivalent to self->join(grp) in
// the actor's constructor); the publisher is the main thread, sending with
// caf::anon_send(grp, ...) as the engram side publishes from the main
// thread.
#include "caf_bus.h"

#include <caf/all.hpp>

#include <chrono>
#include <latch>
#include <string>
#include <vector>

namespace engram::bench::caf_bus {
namespace {

using tick_atom = caf::atom_constant<caf::atom("tick")>;

class PeerConfig : public caf::actor_system_config {
 public:
  explicit PeerConfig(int threads) {
    set("scheduler.max-threads", static_cast<size_t>(threads < 1 ? 1 : threads));
  }
};

caf::behavior Counter(caf::event_based_actor* self, int64_t expected, std::latch* done) {
  auto count = std::make_shared<int64_t>(0);
  return {
      [=](tick_atom, int64_t) {
        if (++*count == expected) {
          done->count_down();
          self->quit();
        }
      },
  };
}

}  // namespace

double GroupPublish(int threads, int subscribers, int64_t events) {
  PeerConfig cfg(threads);
  caf::actor_system system{cfg};
  caf::group grp = system.groups().get_local("bench.eu.tick");
  std::latch done(subscribers);
  for (int i = 0; i < subscribers; ++i) system.spawn_in_group(grp, Counter, events, &done);
  const auto start = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < events; ++i) caf::anon_send(grp, tick_atom::value, i);
  done.wait();
  const double s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return static_cast<double>(events) * subscribers / s;
}

double GroupLookup(int threads, int groups, int64_t lookups) {
  PeerConfig cfg(threads);
  caf::actor_system system{cfg};
  std::vector<std::string> names;
  std::vector<caf::group> keep;
  for (int i = 0; i < groups; ++i) {
    names.push_back("svc" + std::to_string(i % 100) + ".r" + std::to_string(i / 100) + ".evt");
    keep.push_back(system.groups().get_local(names.back()));
  }
  const auto start = std::chrono::steady_clock::now();
  size_t sink = 0;
  for (int64_t i = 0; i < lookups; ++i) {
    caf::group g = system.groups().get_local(names[static_cast<size_t>(i * 7919) % names.size()]);
    sink += g ? 1 : 0;
  }
  const double s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return sink == static_cast<size_t>(lookups) ? static_cast<double>(lookups) / s : 0.0;
}

}  // namespace engram::bench::caf_bus
