// Helpers for the power-cut tests: the seed, loop scaling under sanitizers,
// verifiable payloads, the acknowledgement log and the check of a journal
// recovered from a crash image.
//
// Thread-safety: AckLog is thread-safe; the rest is used by one thread.
#ifndef ENGRAM_TESTS_POWERCUT_POWERCUT_UTIL_H_
#define ENGRAM_TESTS_POWERCUT_POWERCUT_UTIL_H_

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "engram/journal/journal.h"
#include "engram/journal/journal_scan.h"
#include "engram/journal/reader.h"
#include "tests/powercut/sync_model.h"

namespace engram::powercut {

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ENGRAM_POWERCUT_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define ENGRAM_POWERCUT_ASAN 1
#endif

// Loop sizes are multiplied by this (sanitized builds run 5-20x slower).
#ifdef ENGRAM_TSAN
inline constexpr double kScale = 0.25;
#elif defined(ENGRAM_POWERCUT_ASAN)
inline constexpr double kScale = 0.4;
#else
inline constexpr double kScale = 1.0;
#endif
inline int Scaled(int n, int at_least = 1) {
  return std::max(at_least, static_cast<int>(n * kScale));
}

// The seed: ENGRAM_POWERCUT_SEED if set, else a fixed one.
inline uint64_t Seed() {
  if (const char* s = std::getenv("ENGRAM_POWERCUT_SEED")) return std::strtoull(s, nullptr, 0);
  return 20240611;
}

inline constexpr uint64_t kSegmentSize = 8192;

// A payload that can be checked byte for byte: 8 bytes of key, then a
// filler whose length and bytes derive from the key.
inline std::string Payload(uint64_t key, size_t max_len = 700) {
  uint64_t h = key * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull;
  h ^= h >> 29;
  const size_t filler = static_cast<size_t>(h % max_len);
  std::string out(8 + filler, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>(key >> (8 * i));
  for (size_t i = 0; i < filler; ++i) out[8 + i] = static_cast<char>((h >> (i % 7)) + i);
  return out;
}

// Acknowledgements: (sync point read right after the ack, value acked).
// An ack at point k preceded every cut at a point >= k.
class AckLog {
 public:
  void Add(uint64_t point, uint64_t value) {
    std::lock_guard<std::mutex> l(mu_);
    acks_.emplace_back(point, value);
  }
  // The largest value acknowledged at or before sync point `p`.
  uint64_t AckedAt(uint64_t p) const {
    std::lock_guard<std::mutex> l(mu_);
    uint64_t m = 0;
    for (const auto& [point, v] : acks_) {
      if (point <= p) m = std::max(m, v);
    }
    return m;
  }
  uint64_t Max() const { return AckedAt(~uint64_t{0}); }
  size_t size() const {
    std::lock_guard<std::mutex> l(mu_);
    return acks_.size();
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::pair<uint64_t, uint64_t>> acks_;
};

inline JournalOptions SyncOptions() {
  JournalOptions o;
  o.segment_size = kSegmentSize;
  o.durability = Durability::kSync;
  return o;
}

// What one cut's recovery found.
struct JournalCheck {
  std::string error;          // "" when every check held
  uint64_t recovered_last = 0;
  uint64_t lost = 0;          // acknowledged LSNs missing
};

// Checks the journal in `dir` (a crash image): ScanJournal finds no
// corruption, Journal::Open (kSync) recovers it, engram::Reader returns LSNs
// 1..N densely with exactly the payloads appended (payload_by_lsn[lsn]),
// Open, Scan and Reader agree on N, and N >= `acked`. With `journal_out`,
// the opened journal is handed back instead of closed.
inline JournalCheck CheckJournal(const std::string& dir,
                                 const std::vector<std::string>& payload_by_lsn,
                                 uint64_t acked,
                                 std::unique_ptr<Journal>* journal_out = nullptr) {
  JournalCheck c;
  auto fail = [&](std::string e) {
    c.error = std::move(e);
    if (acked > c.recovered_last) c.lost = acked - c.recovered_last;
    return c;
  };
  struct stat st;
  if (stat(dir.c_str(), &st) != 0) {
    if (acked == 0) return c;
    return fail(absl::StrCat("the journal directory ", dir,
                             " is gone after the cut, but LSNs up to ", acked,
                             " were acknowledged"));
  }
  absl::StatusOr<JournalScanReport> scan = ScanJournal(dir);
  if (!scan.ok()) {
    if (scan.status().code() == absl::StatusCode::kNotFound && acked == 0) return c;
    return fail(absl::StrCat("ScanJournal: ", scan.status().ToString()));
  }
  if (scan->corrupt) return fail(absl::StrCat("ScanJournal: ", scan->CorruptionStatus().ToString()));
  JournalOptions o = SyncOptions();
  o.create_if_missing = false;
  absl::StatusOr<std::unique_ptr<Journal>> j = Journal::Open(dir, o);
  if (!j.ok()) return fail(absl::StrCat("Journal::Open: ", j.status().ToString()));
  c.recovered_last = (*j)->recovery().last_lsn;
  absl::StatusOr<std::unique_ptr<Reader>> r = Reader::Open(dir, 0);
  if (!r.ok()) return fail(absl::StrCat("Reader::Open: ", r.status().ToString()));
  uint64_t expect = 1;
  for (;;) {
    RecordView v;
    absl::StatusOr<bool> more = (*r)->Next(&v);
    if (!more.ok()) return fail(absl::StrCat("Reader::Next: ", more.status().ToString()));
    if (!*more) break;
    if (v.lsn != expect) {
      return fail(absl::StrFormat("LSNs not dense: expected %u, read %u", expect, v.lsn));
    }
    if (v.lsn >= payload_by_lsn.size()) {
      return fail(absl::StrFormat("LSN %u was never appended", v.lsn));
    }
    if (v.payload != payload_by_lsn[v.lsn]) {
      return fail(absl::StrFormat("LSN %u holds a payload of %u bytes that differs from the "
                                  "%u bytes appended",
                                  v.lsn, v.payload.size(), payload_by_lsn[v.lsn].size()));
    }
    ++expect;
  }
  const uint64_t read_last = expect - 1;
  if (read_last != c.recovered_last || scan->last_lsn != c.recovered_last) {
    return fail(absl::StrFormat("Reader read up to LSN %u, Journal::Open recovered %u, "
                                "ScanJournal found %u",
                                read_last, c.recovered_last, scan->last_lsn));
  }
  if (c.recovered_last < acked) {
    return fail(absl::StrFormat(
        "acknowledged records lost: LSNs up to %u were declared durable, recovery kept %u "
        "(%s)",
        acked, c.recovered_last, (*j)->recovery().ToString()));
  }
  if (journal_out != nullptr) {
    *journal_out = std::move(*j);
  } else {
    absl::Status s = (*j)->Close();
    if (!s.ok()) return fail(absl::StrCat("Close: ", s.ToString()));
  }
  return c;
}

// Counts cuts and losses of one test case; prints the summary line.
struct CutStats {
  explicit CutStats(std::string name) : test(std::move(name)) {}
  ~CutStats() {
    std::printf("%s: power cuts: %llu, acknowledged records lost: %llu, failing cuts: %llu "
                "(seed %llu)\n",
                test.c_str(), static_cast<unsigned long long>(cuts),
                static_cast<unsigned long long>(lost),
                static_cast<unsigned long long>(failing),
                static_cast<unsigned long long>(Seed()));
    std::fflush(stdout);
  }
  // Records one cut's outcome; keeps the first failure's description.
  void Add(const std::string& where, const JournalCheck& c) { Add(where, c.error, c.lost); }
  void Add(const std::string& where, const std::string& error, uint64_t lost_records) {
    ++cuts;
    lost += lost_records;
    if (!error.empty()) {
      ++failing;
      if (first_failure.empty()) first_failure = absl::StrCat(where, ": ", error);
    }
  }
  std::string test;
  uint64_t cuts = 0, lost = 0, failing = 0;
  std::string first_failure;
};

// Watches `root` for the scope of a test; stops watching on exit.
class Watching {
 public:
  explicit Watching(const std::string& root, bool keep_points = true) {
    status_ = SyncModel::Get().Watch(root, keep_points);
  }
  ~Watching() { SyncModel::Get().Unwatch(); }
  const absl::Status& status() const { return status_; }

 private:
  absl::Status status_;
};

// A fresh scratch directory, removed on destruction. On tmpfs (/dev/shm)
// when there is one, or under $ENGRAM_POWERCUT_TMP: the model decides what
// survives a cut, so real fsyncs only cost time (on ext4 each one commits
// the file system's journal, about a millisecond per cut image).
class ScratchDir {
 public:
  ScratchDir() {
    std::string base;
    if (const char* e = std::getenv("ENGRAM_POWERCUT_TMP")) {
      base = e;
    } else if (access("/dev/shm", W_OK) == 0) {
      base = "/dev/shm";
    } else {
      base = std::filesystem::temp_directory_path().string();
    }
    std::string tmpl = base + "/engram-powercut-XXXXXX";
    if (mkdtemp(tmpl.data()) == nullptr) {
      std::perror("mkdtemp");
      std::abort();
    }
    path_ = tmpl;
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::string& path() const { return path_; }
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

inline void RemoveTree(const std::string& dir) {
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

}  // namespace engram::powercut

#endif  // ENGRAM_TESTS_POWERCUT_POWERCUT_UTIL_H_
