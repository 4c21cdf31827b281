// CAF 0.17 peer implementations of the Savina workloads; see caf_workloads.h.
//
// Setup, applied to every workload so that CAF gets its ordinary best setup:
//  * one caf::actor_system per workload, configured only with
//    "scheduler.max-threads" = threads; every other setting (work-stealing
//    scheduler, max-throughput, polling/stealing intervals) is CAF's default;
//  * dynamically typed, event-based, cooperatively scheduled actors
//    (function-based, with caf::stateful_actor where an actor keeps state);
//  * hot-path replies (pong) are explicit sends to self->current_sender();
//    CAF's alternative "return a value from the handler" form routes the
//    reply through a response promise and measured ~5-8% slower for
//    PingPong/Big here, so it is used only for one-off replies (query, ack);
//  * the main thread talks to the system through a caf::scoped_actor (waiting
//    for completion with a blocking receive) or caf::anon_send.
//
// Timing covers the first workload message up to the verified completion
// notification; spawning that has to precede the first message (rings,
// neighbour lists), set-up acknowledgements and the teardown are excluded,
// except for FjCreate, where spawning the actors is the workload.
#include "caf_workloads.h"

#include <caf/all.hpp>

#include <unistd.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

namespace engram::bench::caf_peer {
namespace {

// -- messages -----------------------------------------------------------------
// CAF 0.17 atoms: at most 10 characters, matched by type in handlers.
using ping_atom = caf::atom_constant<caf::atom("ping")>;
using pong_atom = caf::atom_constant<caf::atom("pong")>;
using start_atom = caf::atom_constant<caf::atom("start")>;
using done_atom = caf::atom_constant<caf::atom("done")>;
using incr_atom = caf::atom_constant<caf::atom("incr")>;
using query_atom = caf::atom_constant<caf::atom("query")>;
using work_atom = caf::atom_constant<caf::atom("work")>;
using next_atom = caf::atom_constant<caf::atom("next")>;
using ack_atom = caf::atom_constant<caf::atom("ack")>;
using token_atom = caf::atom_constant<caf::atom("token")>;
using meet_atom = caf::atom_constant<caf::atom("meet")>;
using change_atom = caf::atom_constant<caf::atom("change")>;
using stop_atom = caf::atom_constant<caf::atom("stop")>;
using sum_atom = caf::atom_constant<caf::atom("sum")>;

using Clock = std::chrono::steady_clock;

// A workload that does not finish within this time is reported as failed
// instead of hanging the benchmark driver.
constexpr auto kTimeout = std::chrono::seconds(120);

// -- common helpers -------------------------------------------------------------

class PeerConfig : public caf::actor_system_config {
 public:
  explicit PeerConfig(int threads) {
    set("scheduler.max-threads", static_cast<size_t>(threads < 1 ? 1 : threads));
  }
};

// Savina's fork-join "tiny computation": sin(theta)^2 of a fixed angle. The
// angle is read through a volatile so the call cannot be constant-folded, and
// every caller consumes the result (a sum or a positivity check).
volatile double g_theta = 37.2;

inline double TinyCompute() {
  const double s = std::sin(g_theta);
  return s * s;
}

double Seconds(Clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

Result Finish(int64_t ops, Clock::time_point start, Clock::time_point end,
              bool ok, std::string detail) {
  const double secs = Seconds(end - start);
  Result r;
  r.ops_per_sec = (ok && secs > 0) ? static_cast<double>(ops) / secs : 0.0;
  r.ok = ok;
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%lld ops in %.4f s",
                static_cast<long long>(ops), secs);
  r.detail = detail.empty() ? std::string(buf) : detail + "; " + buf;
  return r;
}

Result Invalid(const char* what) { return Result{0.0, false, what}; }

// -- PingPong -----------------------------------------------------------------

// Replies go straight back to the sender of the current message.
inline void ReplyPong(caf::event_based_actor* self) {
  self->send(caf::actor_cast<caf::actor>(self->current_sender()), pong_atom::value);
}

caf::behavior PongActor(caf::event_based_actor* self) {
  return {
      [=](ping_atom) { ReplyPong(self); },
  };
}

struct PingState {
  int64_t target = 0;
  int64_t received = 0;
};

caf::behavior PingActor(caf::stateful_actor<PingState>* self, caf::actor pong,
                        caf::actor main) {
  return {
      [=](start_atom, int64_t n) {
        self->state.target = n;
        self->send(pong, ping_atom::value);
      },
      [=](pong_atom) {
        auto& s = self->state;
        if (++s.received < s.target) {
          self->send(pong, ping_atom::value);
        } else {
          self->send(main, done_atom::value, s.received);
          self->quit();
        }
      },
  };
}

// -- Counting -----------------------------------------------------------------

struct CounterState {
  int64_t count = 0;
};

caf::behavior CounterActor(caf::stateful_actor<CounterState>* self) {
  return {
      [=](incr_atom) { ++self->state.count; },
      [=](query_atom) {
        const int64_t count = self->state.count;
        self->quit();
        return count;  // reply to the producer
      },
  };
}

caf::behavior ProducerActor(caf::event_based_actor* self, caf::actor counter,
                            caf::actor main) {
  return {
      [=](start_atom, int64_t n) {
        for (int64_t i = 0; i < n; ++i) self->send(counter, incr_atom::value);
        self->send(counter, query_atom::value);
      },
      [=](int64_t count) {
        self->send(main, done_atom::value, count);
        self->quit();
      },
  };
}

// -- FjThroughput -------------------------------------------------------------

struct FjState {
  int64_t processed = 0;
  double sum = 0;
};

caf::behavior FjThroughputWorker(caf::stateful_actor<FjState>* self,
                                 int64_t expected, caf::actor main) {
  return {
      [=](work_atom) {
        auto& s = self->state;
        s.sum += TinyCompute();
        if (++s.processed == expected) {
          self->send(main, done_atom::value, s.processed, s.sum);
          self->quit();
        }
      },
  };
}

// -- ThreadRing ---------------------------------------------------------------

struct RingState {
  caf::actor next;
};

caf::behavior RingNode(caf::stateful_actor<RingState>* self, int index,
                       caf::actor main) {
  return {
      [=](next_atom, caf::actor next) {
        self->state.next = std::move(next);
        return ack_atom::value;
      },
      // `remaining` = hops still to go; a node that receives 0 ends the run.
      [=](token_atom, int64_t remaining) {
        if (remaining > 0)
          self->send(self->state.next, token_atom::value, remaining - 1);
        else
          self->send(main, done_atom::value, static_cast<int64_t>(index));
      },
  };
}

// -- FjCreate -----------------------------------------------------------------

caf::behavior FjCreateWorker(caf::event_based_actor* self,
                             std::atomic<int64_t>* processed) {
  return {
      [=](work_atom) {
        // Savina checks the result is positive; count only valid results.
        if (TinyCompute() > 0.0) processed->fetch_add(1, std::memory_order_relaxed);
        self->quit();
      },
  };
}

// -- Big ----------------------------------------------------------------------

struct BigState {
  uint64_t rng = 0;
  int64_t sent = 0;
};

// splitmix64: a small, fast, seedable generator (one per actor).
inline uint64_t NextRandom(uint64_t& x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// `peers` is filled by the main thread before any start message is sent and
// outlives the actors (the main thread waits for all actors before freeing
// it), so reading it from handlers is safe.
caf::behavior BigNode(caf::stateful_actor<BigState>* self, int index,
                      const std::vector<caf::actor>* peers, int64_t pings,
                      caf::actor sink) {
  self->state.rng = 0x5eed0000ULL + static_cast<uint64_t>(index);
  auto send_ping = [=] {
    auto& s = self->state;
    const auto n = static_cast<uint64_t>(peers->size());
    uint64_t j = NextRandom(s.rng) % (n - 1);  // any actor but this one
    if (j >= static_cast<uint64_t>(index)) ++j;
    ++s.sent;
    self->send((*peers)[j], ping_atom::value);
  };
  return {
      [=](start_atom) {
        if (pings > 0)
          send_ping();
        else
          self->send(sink, done_atom::value, int64_t{0});
      },
      [=](ping_atom) { ReplyPong(self); },
      [=](pong_atom) {
        if (self->state.sent < pings)
          send_ping();
        else
          self->send(sink, done_atom::value, self->state.sent);
      },
  };
}

struct SinkState {
  int finished = 0;
  int64_t total = 0;
};

caf::behavior BigSink(caf::stateful_actor<SinkState>* self, int actors,
                      caf::actor main) {
  return {
      [=](done_atom, int64_t sent) {
        auto& s = self->state;
        s.total += sent;
        if (++s.finished == actors) {
          self->send(main, done_atom::value, s.total);
          self->quit();
        }
      },
  };
}

// -- Chameneos ----------------------------------------------------------------

enum Colour : int { kRed = 0, kYellow = 1, kBlue = 2, kFaded = 3 };

inline int Complement(int a, int b) {
  // Same colours stay; two different colours give the third one.
  return a == b ? a : 3 - a - b;
}

struct MallState {
  int64_t remaining = 0;   // meetings still to arrange
  caf::actor waiting;      // creature waiting for a partner, if any
  int64_t sum = 0;         // meetings reported by faded creatures
  int faded = 0;
};

caf::behavior MallActor(caf::stateful_actor<MallState>* self, int64_t meetings,
                        int creatures, caf::actor main) {
  self->state.remaining = meetings;
  return {
      [=](meet_atom, int colour, caf::actor creature) {
        auto& s = self->state;
        if (s.remaining > 0) {
          if (!s.waiting) {
            s.waiting = std::move(creature);
          } else {
            --s.remaining;
            // The waiting creature meets the newcomer.
            self->send(s.waiting, meet_atom::value, colour, std::move(creature));
            s.waiting = nullptr;
          }
        } else {
          self->send(creature, stop_atom::value);
        }
      },
      [=](sum_atom, int64_t count) {
        auto& s = self->state;
        s.sum += count;
        if (++s.faded == creatures) {
          self->send(main, done_atom::value, s.sum, meetings - s.remaining);
          self->quit();
        }
      },
  };
}

struct CreatureState {
  int colour = kRed;
  int64_t meetings = 0;
};

caf::behavior CreatureActor(caf::stateful_actor<CreatureState>* self,
                            caf::actor mall, int colour) {
  self->state.colour = colour;
  return {
      [=](start_atom) {
        self->send(mall, meet_atom::value, self->state.colour,
                   caf::actor_cast<caf::actor>(self));
      },
      // Mall paired us with `other` (whose colour is `other_colour`).
      [=](meet_atom, int other_colour, caf::actor other) {
        auto& s = self->state;
        s.colour = Complement(s.colour, other_colour);
        ++s.meetings;
        self->send(other, change_atom::value, s.colour);
        self->send(mall, meet_atom::value, s.colour,
                   caf::actor_cast<caf::actor>(self));
      },
      [=](change_atom, int new_colour) {
        auto& s = self->state;
        s.colour = new_colour;
        ++s.meetings;
        self->send(mall, meet_atom::value, s.colour,
                   caf::actor_cast<caf::actor>(self));
      },
      [=](stop_atom) {
        auto& s = self->state;
        s.colour = kFaded;
        self->send(mall, sum_atom::value, s.meetings);
        self->quit();
      },
  };
}

// -- idle actors ----------------------------------------------------------------

caf::behavior IdleActor(caf::event_based_actor*) {
  return {
      [](ping_atom) { return pong_atom::value; },
  };
}

// Resident set size in bytes, from /proc/self/statm (second field, pages).
long ResidentBytes() {
  long size = 0, resident = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &size, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  return resident * sysconf(_SC_PAGESIZE);
}

}  // namespace

// =============================================================================

Result PingPong(int threads, int64_t round_trips) {
  if (round_trips < 1) return Invalid("round_trips must be >= 1");
  PeerConfig cfg{threads};
  caf::actor_system sys{cfg};
  Result result;
  {
    caf::scoped_actor self{sys};
    auto pong = sys.spawn(PongActor);
    auto ping = sys.spawn(PingActor, pong, caf::actor{self});
    bool timed_out = false;
    int64_t received = -1;
    const auto start = Clock::now();
    self->send(ping, start_atom::value, round_trips);
    self->receive([&](done_atom, int64_t n) { received = n; },
                  caf::after(kTimeout) >> [&] { timed_out = true; });
    const auto end = Clock::now();
    const bool ok = !timed_out && received == round_trips;
    result = Finish(round_trips, start, end, ok,
                    ok ? "" : (timed_out ? "timed out"
                                         : "ping counted " + std::to_string(received) +
                                               " pongs"));
    self->send_exit(pong, caf::exit_reason::user_shutdown);
    if (timed_out) self->send_exit(ping, caf::exit_reason::user_shutdown);
  }
  sys.await_all_actors_done();
  return result;
}

Result Counting(int threads, int64_t n) {
  if (n < 0) return Invalid("n must be >= 0");
  PeerConfig cfg{threads};
  caf::actor_system sys{cfg};
  Result result;
  {
    caf::scoped_actor self{sys};
    auto counter = sys.spawn(CounterActor);
    auto producer = sys.spawn(ProducerActor, counter, caf::actor{self});
    bool timed_out = false;
    int64_t count = -1;
    const auto start = Clock::now();
    self->send(producer, start_atom::value, n);
    self->receive([&](done_atom, int64_t c) { count = c; },
                  caf::after(kTimeout) >> [&] { timed_out = true; });
    const auto end = Clock::now();
    const bool ok = !timed_out && count == n;
    result = Finish(n, start, end, ok,
                    ok ? "" : (timed_out ? "timed out"
                                         : "counter reported " + std::to_string(count)));
    if (timed_out) {
      self->send_exit(counter, caf::exit_reason::user_shutdown);
      self->send_exit(producer, caf::exit_reason::user_shutdown);
    }
  }
  sys.await_all_actors_done();
  return result;
}

Result FjThroughput(int threads, int actors, int64_t per_actor) {
  if (actors < 1 || per_actor < 1) return Invalid("actors and per_actor must be >= 1");
  PeerConfig cfg{threads};
  caf::actor_system sys{cfg};
  Result result;
  {
    caf::scoped_actor self{sys};
    std::vector<caf::actor> workers;
    workers.reserve(actors);
    for (int i = 0; i < actors; ++i)
      workers.push_back(sys.spawn(FjThroughputWorker, per_actor, caf::actor{self}));
    bool timed_out = false;
    int finished = 0;
    int64_t processed = 0;
    double sum = 0;
    const auto start = Clock::now();
    // Savina: the driver (outside the actor system) sends round-robin.
    for (int64_t m = 0; m < per_actor; ++m)
      for (const auto& w : workers) caf::anon_send(w, work_atom::value);
    while (finished < actors && !timed_out) {
      self->receive(
          [&](done_atom, int64_t p, double s) {
            ++finished;
            processed += p;
            sum += s;
          },
          caf::after(kTimeout) >> [&] { timed_out = true; });
    }
    const auto end = Clock::now();
    const int64_t total = static_cast<int64_t>(actors) * per_actor;
    const bool ok = !timed_out && processed == total && sum > 0;
    result = Finish(total, start, end, ok,
                    ok ? "" : (timed_out ? "timed out"
                                         : "processed " + std::to_string(processed)));
    if (timed_out)
      for (const auto& w : workers) self->send_exit(w, caf::exit_reason::user_shutdown);
  }
  sys.await_all_actors_done();
  return result;
}

Result ThreadRing(int threads, int actors, int64_t hops) {
  if (actors < 1 || hops < 0) return Invalid("actors must be >= 1, hops >= 0");
  PeerConfig cfg{threads};
  caf::actor_system sys{cfg};
  Result result;
  {
    caf::scoped_actor self{sys};
    std::vector<caf::actor> ring;
    ring.reserve(actors);
    for (int i = 0; i < actors; ++i)
      ring.push_back(sys.spawn(RingNode, i, caf::actor{self}));
    // Close the ring and wait until every node knows its successor.
    for (int i = 0; i < actors; ++i)
      self->send(ring[i], next_atom::value, ring[(i + 1) % actors]);
    bool timed_out = false;
    for (int i = 0; i < actors && !timed_out; ++i)
      self->receive([](ack_atom) {}, caf::after(kTimeout) >> [&] { timed_out = true; });
    int64_t last = -1;
    const auto start = Clock::now();
    if (!timed_out) {
      self->send(ring[0], token_atom::value, hops);
      self->receive([&](done_atom, int64_t index) { last = index; },
                    caf::after(kTimeout) >> [&] { timed_out = true; });
    }
    const auto end = Clock::now();
    const int64_t expected = hops % actors;
    const bool ok = !timed_out && last == expected;
    result = Finish(hops, start, end, ok,
                    ok ? "" : (timed_out ? "timed out"
                                         : "token ended at node " + std::to_string(last) +
                                               ", expected " + std::to_string(expected)));
    for (const auto& node : ring) self->send_exit(node, caf::exit_reason::user_shutdown);
  }
  sys.await_all_actors_done();
  return result;
}

Result FjCreate(int threads, int64_t actors) {
  if (actors < 0) return Invalid("actors must be >= 0");
  PeerConfig cfg{threads};
  caf::actor_system sys{cfg};
  std::atomic<int64_t> processed{0};
  // No scoped_actor here: completion is "every spawned actor has terminated",
  // which is exactly what await_all_actors_done() waits for. Plain spawn
  // (no caf::lazy_init): lazy_init showed no measurable gain here, and the
  // brief asks for CAF defaults.
  const auto start = Clock::now();
  for (int64_t i = 0; i < actors; ++i) {
    auto worker = sys.spawn(FjCreateWorker, &processed);
    caf::anon_send(worker, work_atom::value);
  }
  sys.await_all_actors_done();
  const auto end = Clock::now();
  const int64_t got = processed.load();
  const bool ok = got == actors;
  return Finish(actors, start, end, ok,
                ok ? "" : "processed " + std::to_string(got));
}

Result Big(int threads, int actors, int64_t pings) {
  if (actors < 2 || pings < 0) return Invalid("actors must be >= 2, pings >= 0");
  PeerConfig cfg{threads};
  caf::actor_system sys{cfg};
  std::vector<caf::actor> peers;  // read by the actors; outlives them
  peers.reserve(actors);
  Result result;
  {
    caf::scoped_actor self{sys};
    auto sink = sys.spawn(BigSink, actors, caf::actor{self});
    for (int i = 0; i < actors; ++i)
      peers.push_back(sys.spawn(BigNode, i, &peers, pings, sink));
    bool timed_out = false;
    int64_t total = -1;
    const auto start = Clock::now();
    for (const auto& p : peers) self->send(p, start_atom::value);
    self->receive([&](done_atom, int64_t t) { total = t; },
                  caf::after(kTimeout) >> [&] { timed_out = true; });
    const auto end = Clock::now();
    const int64_t expected = static_cast<int64_t>(actors) * pings;
    const bool ok = !timed_out && total == expected;
    result = Finish(expected, start, end, ok,
                    ok ? "" : (timed_out ? "timed out"
                                         : "sink counted " + std::to_string(total) +
                                               " pings"));
    for (const auto& p : peers) self->send_exit(p, caf::exit_reason::user_shutdown);
    if (timed_out) self->send_exit(sink, caf::exit_reason::user_shutdown);
  }
  sys.await_all_actors_done();
  peers.clear();
  return result;
}

Result Chameneos(int threads, int creatures, int64_t meetings) {
  if (creatures < 2 || meetings < 0) return Invalid("creatures must be >= 2, meetings >= 0");
  PeerConfig cfg{threads};
  caf::actor_system sys{cfg};
  Result result;
  {
    caf::scoped_actor self{sys};
    auto mall = sys.spawn(MallActor, meetings, creatures, caf::actor{self});
    std::vector<caf::actor> all;
    all.reserve(creatures);
    for (int i = 0; i < creatures; ++i)
      all.push_back(sys.spawn(CreatureActor, mall, i % 3));
    bool timed_out = false;
    int64_t sum = -1, held = -1;
    const auto start = Clock::now();
    for (const auto& c : all) self->send(c, start_atom::value);
    self->receive(
        [&](done_atom, int64_t s, int64_t h) {
          sum = s;
          held = h;
        },
        caf::after(kTimeout) >> [&] { timed_out = true; });
    const auto end = Clock::now();
    const bool ok = !timed_out && sum == 2 * meetings && held == meetings;
    result = Finish(meetings, start, end, ok,
                    ok ? "" : (timed_out ? "timed out"
                                         : "creatures counted " + std::to_string(sum) +
                                               ", mall held " + std::to_string(held)));
    if (timed_out) {
      for (const auto& c : all) self->send_exit(c, caf::exit_reason::user_shutdown);
      self->send_exit(mall, caf::exit_reason::user_shutdown);
    }
  }
  sys.await_all_actors_done();
  return result;
}

double BytesPerIdleActor(int threads, int64_t actors) {
  if (actors < 1) return 0.0;
  PeerConfig cfg{threads};
  caf::actor_system sys{cfg};
  // Allocate and touch the handle storage before the baseline so only the
  // actors themselves are measured.
  std::vector<caf::actor> handles(static_cast<size_t>(actors));
  double per_actor = 0.0;
  {
    caf::scoped_actor self{sys};
    // Warm up the spawn and messaging paths once, outside the measurement.
    {
      auto warm = sys.spawn(IdleActor);
      self->send(warm, ping_atom::value);
      self->receive([](pong_atom) {});
      self->send_exit(warm, caf::exit_reason::user_shutdown);
    }
    // Memory freed by earlier workloads in this process would otherwise be
    // reused without raising RSS; hand it back to the OS first so every page
    // the actors touch shows up in the delta.
#if defined(__GLIBC__)
    malloc_trim(0);
#endif
    const long before = ResidentBytes();
    for (int64_t i = 0; i < actors; ++i) handles[i] = sys.spawn(IdleActor);
    // Round trip to every actor, in bounded batches so that message buffers
    // do not inflate the resident set, so each actor is fully initialised
    // (behaviour installed, one message processed) when RSS is read.
    constexpr int64_t kBatch = 1024;
    for (int64_t base = 0; base < actors; base += kBatch) {
      const int64_t end = std::min(actors, base + kBatch);
      for (int64_t i = base; i < end; ++i) self->send(handles[i], ping_atom::value);
      for (int64_t i = base; i < end; ++i) self->receive([](pong_atom) {});
    }
    const long after = ResidentBytes();
    per_actor = static_cast<double>(after - before) / static_cast<double>(actors);
    for (const auto& h : handles) caf::anon_send_exit(h, caf::exit_reason::user_shutdown);
  }
  sys.await_all_actors_done();
  handles.clear();
  return per_actor;
}

}  // namespace engram::bench::caf_peer
