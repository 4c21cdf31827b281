// Helper for crash_test.cc: appends records from two threads until killed,
// writing "LSN WRITER SEQ\n" to stdout after each append is acknowledged.
// Usage: journal_crash_child DIR SEED
#include <stdio.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>

#include "absl/strings/str_format.h"
#include "engram/journal/journal.h"
#include "tests/journal/test_util.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s DIR SEED\n", argv[0]);
    return 2;
  }
  engram::JournalOptions o;
  o.segment_size = 64 * 1024;
  auto j = engram::Journal::Open(argv[1], o);
  if (!j.ok()) {
    fprintf(stderr, "open: %s\n", std::string(j.status().message()).c_str());
    return 1;
  }
  const uint32_t seed = static_cast<uint32_t>(atoi(argv[2]));
  std::mutex out_mu;
  auto writer = [&](uint32_t w) {
    for (uint32_t seq = 0;; ++seq) {
      const uint64_t key = (uint64_t{seed} << 40) | (uint64_t{w} << 32) | seq;
      std::string p = engram::testing::PayloadFor(key, (seq * 37 + w) % 700);
      engram::RecordInput in[2];
      in[0].stream_id = w;
      in[0].stream_version = seq;
      in[0].type_id = seed;
      in[0].payload = p;
      std::string p2;
      const bool batch = seq % 5 == 4;
      if (batch) {
        p2 = engram::testing::PayloadFor(key ^ 0xFFFF, 300);
        in[1] = in[0];
        in[1].payload = p2;
      }
      auto lsn = batch ? (*j)->AppendBatch(absl::MakeSpan(in, 2)) : (*j)->Append(in[0]);
      if (!lsn.ok()) {
        fprintf(stderr, "append: %s\n", std::string(lsn.status().message()).c_str());
        _exit(1);
      }
      std::string line = absl::StrFormat("%u %u %u %d\n", *lsn, w, seq, batch ? 2 : 1);
      std::lock_guard<std::mutex> l(out_mu);
      if (write(1, line.data(), line.size()) != static_cast<ssize_t>(line.size())) _exit(1);
    }
  };
  std::thread t1(writer, 0);
  writer(1);
  t1.join();
}
