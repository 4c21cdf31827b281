#ifndef ENGRAM_BENCH_SAVINA_WORKLOAD_RESULT_H_
#define ENGRAM_BENCH_SAVINA_WORKLOAD_RESULT_H_

#include <string>

namespace engram::bench {

// The outcome of one timed Savina workload run: its rate (in the unit the
// workload defines), whether its result checked out, and why not.
struct Result {
  double ops_per_sec = 0;
  bool ok = false;
  std::string detail;
};

}  // namespace engram::bench

#endif  // ENGRAM_BENCH_SAVINA_WORKLOAD_RESULT_H_
