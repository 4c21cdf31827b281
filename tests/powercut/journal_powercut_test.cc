// The journal at Durability::kSync under the power-cut model: every LSN that
// WaitDurable/OnDurable declared durable before a cut is recovered, in
// order, with its exact payload; LSNs are dense from 1; nothing torn is kept.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "journal/internal/format.h"
#include "engram/journal/journal.h"
#include "engram/journal/journal_scan.h"
#include "tests/powercut/powercut_util.h"
#include "tests/powercut/sync_model.h"

namespace engram::powercut {
namespace {

void SyncDir(const std::string& dir) {
  int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  REQUIRE(fd >= 0);
  REQUIRE(fsync(fd) == 0);
  close(fd);
}

// A watched root holding an (already durable) empty journal directory, as
// a careful operator would create it, so that only the test's own subject
// decides the outcome.
struct Rig {
  explicit Rig(bool make_journal_dir = true)
      : root(tmp.Sub("root")), dir(root + "/journal") {
    REQUIRE(mkdir(root.c_str(), 0700) == 0);
    if (make_journal_dir) {
      REQUIRE(mkdir(dir.c_str(), 0700) == 0);
      SyncDir(root);
    }
    watch = std::make_unique<Watching>(root);
    REQUIRE(watch->status().ok());
  }
  // Cuts now or at a point; returns the journal directory in the image.
  std::string Cut(const CrashOptions& o) {
    const std::string out = tmp.Sub(absl::StrCat("cut", ++cuts));
    absl::Status s = SyncModel::Get().CrashImage(out, o);
    INFO(s.ToString());
    REQUIRE(s.ok());
    return out + "/journal";
  }
  void Drop(const std::string& journal_in_image) {
    RemoveTree(std::filesystem::path(journal_in_image).parent_path().string());
  }
  std::string Where(uint64_t point) const {
    return absl::StrCat("cut at sync point ", point, " (seed ", Seed(), "); events:\n",
                        SyncModel::Get().DescribeEvents(point > 6 ? point - 6 : 0, point + 1));
  }

  ScratchDir tmp;
  std::string root, dir;
  std::unique_ptr<Watching> watch;
  int cuts = 0;
};

// Appends records (batches of 1..3) with verifiable payloads; records every
// payload by LSN.
struct Writer {
  Journal& j;
  std::vector<std::string>& by_lsn;
  uint64_t next_key = 1;
  uint64_t AppendSome(std::mt19937_64& rng) {
    const size_t n = 1 + rng() % 3;
    std::vector<std::string> payloads;
    for (size_t i = 0; i < n; ++i) payloads.push_back(Payload(next_key++));
    std::vector<RecordInput> recs(n);
    for (size_t i = 0; i < n; ++i) recs[i].payload = payloads[i];
    absl::StatusOr<uint64_t> first = j.AppendBatch(recs);
    REQUIRE(first.ok());
    if (by_lsn.size() < *first + n) by_lsn.resize(*first + n);
    for (size_t i = 0; i < n; ++i) by_lsn[*first + i] = payloads[i];
    return *first + n - 1;
  }
};

TEST_CASE("a power cut at any sync point keeps every acknowledged journal record",
          "[powercut][journal]") {
  CutStats stats("journal, every sync point");
  std::mt19937_64 rng(Seed());
  Rig rig;
  std::vector<std::string> by_lsn(1);
  AckLog acks;
  // Cuts at the current instant, with some dirty pages written back.
  std::vector<std::pair<std::string, uint64_t>> live;  // image, acked
  {
    auto j = Journal::Open(rig.dir, SyncOptions());
    REQUIRE(j.ok());
    Writer w{**j, by_lsn};
    const int records = Scaled(2000, 300);
    while ((*j)->last_lsn() < static_cast<uint64_t>(records)) {
      const uint64_t last = w.AppendSome(rng);
      if (rng() % 3 == 0) {
        REQUIRE((*j)->WaitDurable(last).ok());
        acks.Add(SyncModel::Get().point(), last);
      }
      if (rng() % 12 == 0) {
        CrashOptions o;
        o.dirty_page_probability = 0.3;
        o.seed = rng();
        live.emplace_back(rig.Cut(o), acks.Max());
      }
    }
    REQUIRE((*j)->Close().ok());
    acks.Add(SyncModel::Get().point(), (*j)->last_lsn());
  }
  const uint64_t points = SyncModel::Get().point();
  for (uint64_t p = 0; p <= points; ++p) {
    CrashOptions o;
    o.at_point = p;
    const std::string img = rig.Cut(o);
    stats.Add(rig.Where(p), CheckJournal(img, by_lsn, acks.AckedAt(p)));
    rig.Drop(img);
  }
  for (const auto& [img, acked] : live) {
    stats.Add(absl::StrCat("a cut at the current instant with dirty pages (seed ", Seed(), ")"),
              CheckJournal(img, by_lsn, acked));
    rig.Drop(img);
  }
  INFO(stats.first_failure);
  REQUIRE(stats.failing == 0);
  REQUIRE(stats.cuts > 100 * kScale);
}

TEST_CASE("a power cut after a segment roll keeps every acknowledged record",
          "[powercut][journal]") {
  CutStats stats("journal, after a roll");
  Rig rig;
  std::vector<std::string> by_lsn(1);
  auto j = Journal::Open(rig.dir, SyncOptions());
  REQUIRE(j.ok());
  // Fill the first segment record by record, each one acknowledged, until a
  // record lands in the second segment; then three more.
  std::string payload(300, 'r');
  uint64_t last = 0;
  int after_roll = 0;
  while (after_roll < 3) {
    payload[0] = static_cast<char>(last);
    auto lsn = (*j)->Append(RecordInput{.payload = payload});
    REQUIRE(lsn.ok());
    last = *lsn;
    by_lsn.resize(last + 1);
    by_lsn[last] = payload;
    REQUIRE((*j)->WaitDurable(last).ok());
    auto segs = ListSegments(rig.dir);
    REQUIRE(segs.ok());
    if (segs->size() >= 2) ++after_roll;
  }
  const JournalCheck c = CheckJournal(rig.Cut({}), by_lsn, last);
  stats.Add(rig.Where(SyncModel::Get().point()), c);
  INFO(stats.first_failure);
  REQUIRE(c.error == "");
  REQUIRE((*j)->Close().ok());
}

TEST_CASE("concurrent appenders lose no acknowledged record at a power cut",
          "[powercut][journal]") {
  CutStats stats("journal, concurrent appenders");
  std::mt19937_64 rng(Seed() + 1);
  Rig rig;
#ifdef ENGRAM_TSAN
  const int threads = 2;
#else
  const int threads = 4;
#endif
  const int per_thread = Scaled(600, 100);
  AckLog acks;
  std::atomic<uint64_t> acked_max{0};  // relaxed is enough: read by the cutter only
  std::vector<std::vector<std::pair<uint64_t, std::string>>> appended(threads);
  std::vector<std::pair<std::string, uint64_t>> live;
  {
    auto j = Journal::Open(rig.dir, SyncOptions());
    REQUIRE(j.ok());
    Journal& journal = **j;
    std::atomic<int> running{threads};
    std::vector<std::thread> ts;
    for (int t = 0; t < threads; ++t) {
      ts.emplace_back([&, t] {
        std::mt19937_64 r(Seed() * 31 + t);
        for (int i = 0; i < per_thread; ++i) {
          std::string p = Payload((uint64_t{static_cast<uint32_t>(t)} << 32) | i);
          absl::StatusOr<uint64_t> lsn = journal.Append(RecordInput{.payload = p});
          if (!lsn.ok()) std::abort();
          appended[t].emplace_back(*lsn, std::move(p));
          auto ack = [&acks, &acked_max, l = *lsn] {
            acks.Add(SyncModel::Get().point(), l);
            uint64_t m = acked_max.load(std::memory_order_relaxed);
            while (m < l && !acked_max.compare_exchange_weak(m, l, std::memory_order_relaxed)) {
            }
          };
          if (r() % 4 != 0) continue;
          if (t % 2 == 0) {
            if (journal.WaitDurable(*lsn).ok()) ack();
          } else {
            journal.OnDurable(*lsn, [ack](absl::Status s) {
              if (s.ok()) ack();
            });
          }
        }
        running.fetch_sub(1);
      });
    }
    // Cut at the current instant now and then while they run.
    while (running.load() > 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(3));
      CrashOptions o;
      o.dirty_page_probability = (rng() % 2) ? 0.25 : 0;
      o.seed = rng();
      const uint64_t acked = acked_max.load(std::memory_order_relaxed);
      live.emplace_back(rig.Cut(o), acked);
    }
    for (auto& t : ts) t.join();
    REQUIRE(journal.Close().ok());
  }
  std::vector<std::string> by_lsn(1);
  for (auto& v : appended) {
    for (auto& [lsn, p] : v) {
      if (by_lsn.size() <= lsn) by_lsn.resize(lsn + 1);
      by_lsn[lsn] = std::move(p);
    }
  }
  for (const auto& [img, acked] : live) {
    stats.Add(absl::StrCat("a cut at the current instant (seed ", Seed(), ")"),
              CheckJournal(img, by_lsn, acked));
    rig.Drop(img);
  }
  const uint64_t points = SyncModel::Get().point();
  const int cuts = Scaled(800, 150);
  for (int i = 0; i < cuts; ++i) {
    CrashOptions o;
    o.at_point = rng() % (points + 1);
    const std::string img = rig.Cut(o);
    stats.Add(rig.Where(o.at_point), CheckJournal(img, by_lsn, acks.AckedAt(o.at_point)));
    rig.Drop(img);
  }
  INFO(stats.first_failure);
  REQUIRE(stats.failing == 0);
}

TEST_CASE("a power cut right after recovery keeps every record recovery declared durable",
          "[powercut][journal]") {
  CutStats stats("journal, cut right after recovery");
  std::mt19937_64 rng(Seed() + 2);
  Rig rig;
  std::vector<std::string> by_lsn(1);
  // A writer at kProcess (or one killed before its flusher ran) leaves
  // records in the page cache only: a process crash keeps them, a power cut
  // need not.
  {
    JournalOptions o = SyncOptions();
    o.durability = Durability::kProcess;
    auto j = Journal::Open(rig.dir, o);
    REQUIRE(j.ok());
    Writer w{**j, by_lsn};
    while ((*j)->last_lsn() < 60) w.AppendSome(rng);
    REQUIRE((*j)->Close().ok());
  }
  // The restart at kSync recovers them and calls them durable.
  auto j = Journal::Open(rig.dir, SyncOptions());
  REQUIRE(j.ok());
  const uint64_t declared = (*j)->durable_lsn();
  REQUIRE(declared == by_lsn.size() - 1);
  REQUIRE((*j)->WaitDurable(declared, absl::Seconds(10)).ok());
  const JournalCheck c = CheckJournal(rig.Cut({}), by_lsn, declared);
  stats.Add(rig.Where(SyncModel::Get().point()), c);
  REQUIRE((*j)->Close().ok());

  // The same from power-cut images: recover each, cut again at once.
  const int rounds = Scaled(40, 10);
  for (int r = 0; r < rounds; ++r) {
    Rig inner;
    std::vector<std::string> mine(1);
    std::string image;
    {
      auto w = Journal::Open(inner.dir, SyncOptions());
      REQUIRE(w.ok());
      Writer wr{**w, mine};
      const int n = 5 + static_cast<int>(rng() % 80);
      while ((*w)->last_lsn() < static_cast<uint64_t>(n)) {
        const uint64_t last = wr.AppendSome(rng);
        if (rng() % 4 == 0) REQUIRE((*w)->WaitDurable(last).ok());
      }
      CrashOptions o;
      o.dirty_page_probability = 0.3;
      o.seed = rng();
      image = inner.Cut(o);
      REQUIRE((*w)->Close().ok());
    }
    const std::string image_root = std::filesystem::path(image).parent_path().string();
    Watching again(image_root);  // the image is what the disk holds: all durable
    REQUIRE(again.status().ok());
    std::unique_ptr<Journal> reopened;
    JournalCheck first = CheckJournal(image, mine, 0, &reopened);
    stats.Add("recovering a cut image", first);
    if (reopened == nullptr) continue;
    const uint64_t d = reopened->durable_lsn();
    const std::string second = inner.tmp.Sub("second");
    REQUIRE(SyncModel::Get().CrashImage(second).ok());
    stats.Add(absl::StrCat("a second cut right after recovering a cut image (seed ", Seed(), ")"),
              CheckJournal(second + "/journal", mine, d));
    REQUIRE(reopened->Close().ok());
  }
  INFO(stats.first_failure);
  REQUIRE(stats.failing == 0);
}

TEST_CASE("a power cut right after a journal directory is created keeps its acknowledged "
          "records",
          "[powercut][journal]") {
  CutStats stats("journal, fresh directory");
  Rig rig(/*make_journal_dir=*/false);
  std::vector<std::string> by_lsn(1);
  auto j = Journal::Open(rig.dir, SyncOptions());  // creates the directory
  REQUIRE(j.ok());
  std::mt19937_64 rng(Seed() + 3);
  Writer w{**j, by_lsn};
  uint64_t last = 0;
  for (int i = 0; i < 10; ++i) last = w.AppendSome(rng);
  REQUIRE((*j)->WaitDurable(last).ok());
  const JournalCheck c = CheckJournal(rig.Cut({}), by_lsn, last);
  stats.Add(rig.Where(SyncModel::Get().point()), c);
  INFO(stats.first_failure);
  REQUIRE(c.error == "");
  REQUIRE((*j)->Close().ok());
}

TEST_CASE("a power cut after a repairing recovery does not bring back the segments it removed",
          "[powercut][journal]") {
  CutStats stats("journal, cut after repair");
  Rig rig;
  std::mt19937_64 rng(Seed() + 4);
  std::vector<std::string> by_lsn(1);
  {
    auto j = Journal::Open(rig.dir, SyncOptions());
    REQUIRE(j.ok());
    Writer w{**j, by_lsn};
    for (;;) {
      const uint64_t last = w.AppendSome(rng);
      auto segs = ListSegments(rig.dir);
      REQUIRE(segs.ok());
      if (segs->size() >= 4) {
        REQUIRE((*j)->WaitDurable(last).ok());
        break;
      }
    }
    REQUIRE((*j)->Close().ok());
  }
  // Damage the second record of the second segment (durably, as a media
  // error would be): the records after it are proof of corruption.
  auto segs = ListSegments(rig.dir);
  REQUIRE(segs.ok());
  const std::string victim = (*segs)[1].second;
  {
    int fd = open(victim.c_str(), O_RDWR);
    REQUIRE(fd >= 0);
    uint32_t size = 0;
    REQUIRE(pread(fd, &size, 4, internal::kSegmentHeaderSize) == 4);
    const off_t second = internal::kSegmentHeaderSize + internal::AlignRecord(size);
    const char junk[4] = {'\x5a', '\x5a', '\x5a', '\x5a'};
    REQUIRE(pwrite(fd, junk, 4, second + 20) == 4);
    REQUIRE(fdatasync(fd) == 0);
    close(fd);
  }
  JournalOptions o = SyncOptions();
  o.repair = true;
  auto j = Journal::Open(rig.dir, o);
  REQUIRE(j.ok());
  const RecoveryReport& rep = (*j)->recovery();
  REQUIRE(rep.repaired);
  REQUIRE(rep.removed_files.size() >= 2);
  const uint64_t kept = rep.last_lsn;
  const std::string img = rig.Cut({});
  std::string back;
  for (const std::string& f : rep.removed_files) {
    const std::string in_image = img + "/" + std::filesystem::path(f).filename().string();
    struct stat st;
    if (stat(in_image.c_str(), &st) == 0) absl::StrAppend(&back, back.empty() ? "" : ", ", f);
  }
  std::string error;
  if (!back.empty()) {
    error = absl::StrCat("segments removed by the repair are back after the cut: ", back);
  }
  JournalCheck c = CheckJournal(img, by_lsn, kept);
  if (c.error.empty() && c.recovered_last != kept) {
    c.error = absl::StrCat("the repair kept LSNs up to ", kept, ", after the cut ",
                           c.recovered_last);
  }
  if (error.empty()) error = c.error;
  stats.Add(rig.Where(SyncModel::Get().point()), error, c.lost);
  INFO(stats.first_failure);
  REQUIRE(error == "");
  REQUIRE((*j)->Close().ok());
}

}  // namespace
}  // namespace engram::powercut
