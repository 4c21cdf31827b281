// CAF (C++ Actor Framework 0.17) peer implementations of the Savina workloads
// used by the engram-vs-CAF benchmark driver.
//
// Every function builds its own caf::actor_system with `threads` scheduler
// workers, times from the first workload message to verified completion with
// std::chrono::steady_clock (system start-up, actor set-up that happens before
// the first workload message, and shutdown are excluded), checks the result,
// and tears the system down before returning.
//
// This header deliberately does not include any CAF header, so the driver can
// include it without pulling CAF into its own translation units.
#pragma once

#include <cstdint>
#include <string>

#include "workload_result.h"

namespace engram::bench::caf_peer {

// { double ops_per_sec; bool ok; std::string detail; } -- the driver's shared
// result type, so the engram and CAF sides return the same struct.
using Result = ::engram::bench::Result;

// Two actors; ping sends, pong answers, the next ping goes out on the pong.
// ops = round trips (Savina size: 1,000,000).
Result PingPong(int threads, int64_t round_trips);

// A producer actor sends `n` increments to a counter actor, then a query; the
// counter answers with its count, which must equal `n`. ops = increments.
Result Counting(int threads, int64_t n);

// `actors` workers each receive `per_actor` messages sent round-robin from
// outside the actor system (the main thread); each message does the tiny
// Savina computation (sin(theta)^2). Done when every worker has processed all
// its messages. ops = actors * per_actor (Savina: 60 x 100,000).
Result FjThroughput(int threads, int actors, int64_t per_actor);

// `actors` actors in a ring pass one token for `hops` hops. ops = hops
// (Savina: 100 actors, 1,000,000 hops).
Result ThreadRing(int threads, int actors, int64_t hops);

// `actors` actors are spawned from outside, each is sent one message, does the
// tiny computation and terminates. Done when all have terminated.
// ops = actors (Savina: 1,000,000).
Result FjCreate(int threads, int64_t actors);

// `actors` actors; each sends `pings` pings, one at a time, to a random other
// actor (per-actor seeded RNG), which answers pong; the next ping goes out on
// the pong. A sink actor counts finished actors. ops = actors * pings
// (Savina: 120 x 20,000).
Result Big(int threads, int actors, int64_t pings);

// Savina chameneos: a mall actor and `creatures` creatures, `meetings`
// meetings, colour complement rule; the meetings counted by the creatures
// must sum to 2 * meetings. ops = meetings (Savina: 100 creatures, 200,000).
Result Chameneos(int threads, int creatures, int64_t meetings);

// Spawns `actors` idle event-based actors (kept alive by holding their
// handles, fully initialised by a round trip to each), returns the resident
// set size growth divided by `actors`. The handle vector itself is allocated
// and touched before the baseline reading, so it is not counted.
double BytesPerIdleActor(int threads, int64_t actors);

}  // namespace engram::bench::caf_peer
