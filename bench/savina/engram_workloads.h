#ifndef ENGRAM_BENCH_SAVINA_ENGRAM_WORKLOADS_H_
#define ENGRAM_BENCH_SAVINA_ENGRAM_WORKLOADS_H_

// engram implementations of the Savina workloads, with the same definitions,
// sizes, units and timing rules as bench/savina/caf_workloads.h: each
// function builds its own ActorSystem with `threads` workers, times from
// the first workload message to verified completion (set-up and shutdown
// excluded), checks the result, and shuts the system down.

#include <cstdint>

#include "bench/savina/workload_result.h"

namespace engram::bench::engram_impl {

Result PingPong(int threads, int64_t round_trips);
Result Counting(int threads, int64_t n);
Result FjThroughput(int threads, int actors, int64_t per_actor);
Result ThreadRing(int threads, int actors, int64_t hops);
Result FjCreate(int threads, int64_t actors);
Result Big(int threads, int actors, int64_t pings);
Result Chameneos(int threads, int creatures, int64_t meetings);
double BytesPerIdleActor(int threads, int64_t actors);

}  // namespace engram::bench::engram_impl

#endif  // ENGRAM_BENCH_SAVINA_ENGRAM_WORKLOADS_H_
