// Many writer threads with concurrent tailing readers: LSNs dense and
// ordered, every checksum good, every writer's records in its own order.
#include <catch2/catch.hpp>

#include <atomic>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "engram/journal/journal.h"
#include "engram/journal/reader.h"
#include "tests/journal/test_util.h"

namespace engram {
namespace {

using testing::PayloadFor;
using testing::TempDir;

#ifdef ENGRAM_TSAN
constexpr int kWriters = 3;
constexpr int kPerWriter = 3000;
#else
constexpr int kWriters = 4;
constexpr int kPerWriter = 40000;
#endif

// Payload: writer id (4 bytes), sequence (4 bytes), then bytes derived
// from both, of a length that varies with the sequence.
std::string WriterPayload(uint32_t writer, uint32_t seq) {
  std::string body = PayloadFor((uint64_t{writer} << 32) | seq, seq % 200);
  std::string p(8, '\0');
  std::memcpy(p.data(), &writer, 4);
  std::memcpy(p.data() + 4, &seq, 4);
  return p + body;
}

void CheckedRead(const std::string& dir, uint64_t total, std::atomic<bool>* failed) {
  auto r = Reader::Open(dir, 1);
  if (!r.ok()) {
    failed->store(true);
    return;
  }
  std::vector<int64_t> last_seq(kWriters, -1);
  uint64_t expect = 1;
  RecordView v;
  while (expect <= total) {
    auto got = (*r)->NextWait(&v, absl::Seconds(30));
    if (!got.ok() || !*got || v.lsn != expect || v.payload.size() < 8) {
      failed->store(true);
      return;
    }
    uint32_t w, s;
    std::memcpy(&w, v.payload.data(), 4);
    std::memcpy(&s, v.payload.data() + 4, 4);
    if (w >= kWriters || static_cast<int64_t>(s) <= last_seq[w] ||
        std::string(v.payload) != WriterPayload(w, s)) {
      failed->store(true);
      return;
    }
    last_seq[w] = s;
    ++expect;
  }
}

TEST_CASE("concurrent writers and tailing readers see dense ordered whole records",
          "[journal][concurrency]") {
  TempDir tmp;
  const std::string dir = tmp.Sub("j");
  JournalOptions o;
  o.segment_size = 256 * 1024;
  auto j = Journal::Open(dir, o);
  REQUIRE(j.ok());
  const uint64_t total = uint64_t{kWriters} * kPerWriter;
  std::atomic<bool> failed{false};
  std::vector<std::thread> readers;
  for (int i = 0; i < 2; ++i) readers.emplace_back(CheckedRead, dir, total, &failed);
  std::atomic<bool> write_failed{false};
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      uint64_t prev = 0;
      for (int s = 0; s < kPerWriter;) {
        if (s % 10 == 3 && s + 3 <= kPerWriter) {
          // A batch of three.
          std::string p[3];
          RecordInput in[3];
          for (int k = 0; k < 3; ++k) {
            p[k] = WriterPayload(w, s + k);
            in[k].payload = p[k];
          }
          auto lsn = (*j)->AppendBatch(in);
          if (!lsn.ok() || *lsn <= prev) write_failed.store(true);
          if (lsn.ok()) prev = *lsn + 2;
          s += 3;
        } else {
          std::string p = WriterPayload(w, s);
          RecordInput in;
          in.stream_id = w;
          in.payload = p;
          auto lsn = (*j)->Append(in);
          if (!lsn.ok() || *lsn <= prev) write_failed.store(true);
          if (lsn.ok()) prev = *lsn;
          ++s;
        }
      }
    });
  }
  for (auto& t : writers) t.join();
  CHECK_FALSE(write_failed.load());
  CHECK((*j)->last_lsn() == total);
  // A reader in the middle of it all, started late.
  std::thread late(CheckedRead, dir, total, &failed);
  for (auto& t : readers) t.join();
  late.join();
  CHECK_FALSE(failed.load());
}

TEST_CASE("concurrent writers at sync durability all become durable", "[journal][concurrency]") {
  TempDir tmp;
  JournalOptions o;
  o.segment_size = 256 * 1024;
  o.durability = Durability::kSync;
  auto j = Journal::Open(tmp.Sub("j"), o);
  REQUIRE(j.ok());
  std::atomic<bool> failed{false};
  std::vector<std::thread> writers;
  for (int w = 0; w < 2; ++w) {
    writers.emplace_back([&] {
      for (int i = 0; i < 200; ++i) {
        RecordInput in;
        in.payload = "x";
        auto lsn = (*j)->Append(in);
        if (!lsn.ok() || !(*j)->WaitDurable(*lsn, absl::Seconds(30)).ok()) failed = true;
      }
    });
  }
  for (auto& t : writers) t.join();
  CHECK_FALSE(failed.load());
  CHECK((*j)->durable_lsn() == 400);
}

}  // namespace
}  // namespace engram
