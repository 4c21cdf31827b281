// CAF 0.17.6 peer of the bus benchmarks: local-group publish/subscribe.
// No CAF header here, so the driver's translation unit stays CAF-free.
#ifndef ENGRAM_BENCH_BUS_CAF_BUS_H_
#define ENGRAM_BENCH_BUS_CAF_BUS_H_

#include <cstdint>

namespace engram::bench::caf_bus {

// `subscribers` event-based actors join one local group; the main thread
// sends `events` messages to the group with caf::anon_send. Returns
// deliveries (events * subscribers) per second, from the first send until
// every subscriber has counted all its messages; 0 on failure.
double GroupPublish(int threads, int subscribers, int64_t events);

// Looks up `lookups` group names among `groups` local groups through
// system.groups().get_local(name). Returns lookups per second.
double GroupLookup(int threads, int groups, int64_t lookups);

}  // namespace engram::bench::caf_bus

#endif  // ENGRAM_BENCH_BUS_CAF_BUS_H_
