// The SnapshotStore and the MemoryImage under the power-cut model: a command
// whose (gated) reply was released at kSync is in the image recovered after
// a cut; the recovered state is a replay of a prefix of the journal; no
// snapshot holds state beyond the journal that survived.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "engram/actors/actor_system.h"
#include "engram/image/memory_image.h"
#include "engram/image/snapshot_store.h"
#include "engram/journal/journal_scan.h"
#include "tests/powercut/powercut_util.h"
#include "tests/powercut/sync_model.h"

namespace engram::powercut {
namespace {

struct Add {
  int64_t n;
};
struct Get {};
struct Added {
  int64_t n;
};
struct Total {
  int64_t sum = 0;
  int64_t count = 0;
  // No HashState: trivially copyable without padding, hashed by its bytes.
};

class Summer : public PersistentActor<Total> {
 public:
  Summer() {
    OnCommand([this](const Add& a) { Emit(Added{a.n}); });
    OnCommand([this](Get) { return state().sum; });
    OnEvent([](Total& t, const Added& e) {
      t.sum += e.n;
      ++t.count;
    });
  }
};

const EventRegistry& Registry() {
  static EventRegistry* r = [] {
    auto* reg = new EventRegistry();
    if (!reg->Register<Added>("powercut.Added").ok()) std::abort();
    return reg;
  }();
  return *r;
}

void SyncDir(const std::string& dir) {
  int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  REQUIRE(fd >= 0);
  REQUIRE(fsync(fd) == 0);
  close(fd);
}

constexpr int kStreams = 3;

// Per stream: the Add values sent, in order (acknowledged or not).
using Sent = std::map<uint64_t, std::vector<int64_t>>;
// Per stream: how many of its commands were acknowledged.
using Acked = std::map<uint64_t, uint64_t>;

// Checks a crash image of an image directory (`journal` = its journal).
// Cheap checks always; `full` also recovers a MemoryImage from it.
std::string CheckImage(const std::string& journal, const Sent& sent, const Acked& acked,
                       bool full, uint64_t* lost) {
  *lost = 0;
  struct stat st;
  uint64_t acked_total = 0;
  for (const auto& [s, n] : acked) acked_total += n;
  if (stat(journal.c_str(), &st) != 0) {
    *lost = acked_total;
    return acked_total == 0 ? "" : "the journal directory is gone after the cut";
  }
  std::map<uint64_t, std::vector<int64_t>> in_journal;
  absl::StatusOr<JournalScanReport> scan = ScanJournal(
      journal,
      [&](const RecordView& v) {
        if (v.stream_id == 0 || v.type_id == 0 || v.payload.size() != sizeof(int64_t)) return;
        int64_t n;
        std::memcpy(&n, v.payload.data(), sizeof n);
        in_journal[v.stream_id].push_back(n);
      },
      [](uint64_t, uint64_t) {});
  if (!scan.ok()) {
    if (scan.status().code() == absl::StatusCode::kNotFound && acked_total == 0) return "";
    *lost = acked_total;
    return absl::StrCat("ScanJournal: ", scan.status().ToString());
  }
  if (scan->corrupt) return absl::StrCat("ScanJournal: ", scan->CorruptionStatus().ToString());
  std::string error;
  for (const auto& [s, values] : in_journal) {
    const std::vector<int64_t>& mine = sent.at(s);
    if (values.size() > mine.size() ||
        !std::equal(values.begin(), values.end(), mine.begin())) {
      return absl::StrCat("stream ", s, ": the journal's events are not a prefix of the commands sent");
    }
  }
  for (const auto& [s, n] : acked) {
    const uint64_t have = in_journal.count(s) ? in_journal[s].size() : 0;
    if (have < n) {
      *lost += n - have;
      if (error.empty()) {
        error = absl::StrCat("acknowledged commands lost: stream ", s, " had ", n,
                             " acknowledged, the journal after the cut holds ", have);
      }
    }
  }
  if (!error.empty()) return error;
  // No snapshot may be ahead of the journal that survived.
  SnapshotStore store(journal + "/snapshots");
  std::vector<SnapshotStore::Rejected> rejected;
  absl::StatusOr<std::vector<SnapshotStore::Snapshot>> snaps = store.LoadNewest(&rejected);
  if (!snaps.ok()) return absl::StrCat("LoadNewest: ", snaps.status().ToString());
  for (const SnapshotStore::Snapshot& s : *snaps) {
    if (s.lsn > scan->last_lsn) {
      return absl::StrFormat(
          "the snapshot of stream %u at version %u covers LSN %u, but the journal that "
          "survived the cut ends at LSN %u",
          s.stream_id, s.version, s.lsn, scan->last_lsn);
    }
  }
  if (!full) return "";
  ActorSystem system(ActorSystemOptions{.scheduler = {.threads = 1}});
  MemoryImage image(system, Registry());
  image.RegisterKind<Summer>("summer");
  MemoryImage::Options o;
  o.journal = SyncOptions();
  o.journal.create_if_missing = false;
  if (absl::Status s = image.Open(journal, o); !s.ok()) {
    return absl::StrCat("MemoryImage::Open: ", s.ToString());
  }
  for (const auto& [s, values] : in_journal) {
    absl::StatusOr<ActorRef> ref = image.Find(s);
    if (!ref.ok()) return absl::StrCat("stream ", s, " is not in the recovered image");
    absl::StatusOr<int64_t> sum = system.Ask<int64_t>(*ref, Get{}, absl::Seconds(60));
    if (!sum.ok()) return absl::StrCat("Get: ", sum.status().ToString());
    int64_t want = 0;
    for (int64_t v : values) want += v;
    if (*sum != want) {
      return absl::StrFormat(
          "stream %u: the recovered state (sum %d) is not the replay of the %u events in "
          "the journal (sum %d)",
          s, *sum, values.size(), want);
    }
  }
  return "";
}

// Runs commands against an image at kSync in a watched directory and cuts
// at every sync point (and now and then at the current instant).
void RunImage(uint64_t snapshot_every, CutStats* stats, uint64_t seed) {
  std::mt19937_64 rng(seed);
  ScratchDir tmp;
  const std::string root = tmp.Sub("root");
  const std::string dir = root + "/journal";
  REQUIRE(mkdir(root.c_str(), 0700) == 0);
  REQUIRE(mkdir(dir.c_str(), 0700) == 0);
  SyncDir(root);
  Watching watch(root);
  REQUIRE(watch.status().ok());
  Sent sent;
  std::vector<std::pair<uint64_t, Acked>> acks;  // (point, acked counts so far)
  std::vector<std::pair<std::string, Acked>> live;
  int cut_no = 0;
  auto cut = [&](const CrashOptions& o) {
    const std::string out = tmp.Sub(absl::StrCat("cut", ++cut_no));
    absl::Status s = SyncModel::Get().CrashImage(out, o);
    INFO(s.ToString());
    REQUIRE(s.ok());
    return out;
  };
  {
    ActorSystem system(ActorSystemOptions{.scheduler = {.threads = 2}});
    MemoryImage image(system, Registry());
    image.RegisterKind<Summer>("summer");
    MemoryImage::Options o;
    o.journal = SyncOptions();
    o.snapshot_every = snapshot_every;
    REQUIRE(image.Open(dir, o).ok());
    for (uint64_t s = 1; s <= kStreams; ++s) {
      REQUIRE(image.Spawn<Summer>(s).ok());
      sent[s];
    }
    Acked acked;
    const int commands = Scaled(400, 80);
    for (int i = 0; i < commands; ++i) {
      const uint64_t s = 1 + rng() % kStreams;
      const int64_t n = 1 + static_cast<int64_t>(rng() % 1000);
      sent[s].push_back(n);
      absl::StatusOr<Done> r =
          system.Ask<Done>(image.Find(s).value(), Add{n}, absl::Seconds(60));
      REQUIRE(r.ok());
      ++acked[s];  // the reply was released: the command is acknowledged
      acks.emplace_back(SyncModel::Get().point(), acked);
      if (rng() % 10 == 0) {
        CrashOptions c;
        c.dirty_page_probability = 0.3;
        c.seed = rng();
        live.emplace_back(cut(c), acked);
      }
    }
  }
  auto acked_at = [&](uint64_t p) {
    Acked a;
    for (const auto& [point, counts] : acks) {
      if (point <= p) a = counts;  // counts only grow
    }
    return a;
  };
  const uint64_t points = SyncModel::Get().point();
  for (uint64_t p = 0; p <= points; ++p) {
    CrashOptions o;
    o.at_point = p;
    const std::string img = cut(o);
    uint64_t lost = 0;
    const std::string e = CheckImage(img + "/journal", sent, acked_at(p), p % 4 == 0, &lost);
    stats->Add(absl::StrCat("cut at sync point ", p, " (seed ", seed, "); events:\n",
                            SyncModel::Get().DescribeEvents(p > 6 ? p - 6 : 0, p + 1)),
               e, lost);
    RemoveTree(img);
  }
  for (const auto& [img, acked] : live) {
    uint64_t lost = 0;
    const std::string e = CheckImage(img + "/journal", sent, acked, true, &lost);
    stats->Add(absl::StrCat("a cut at the current instant with dirty pages (seed ", seed, ")"),
               e, lost);
    RemoveTree(img);
  }
}

TEST_CASE("a power cut keeps every command whose reply was released at sync durability",
          "[powercut][image]") {
  CutStats stats("image, gated replies");
  RunImage(/*snapshot_every=*/0, &stats, Seed() + 10);
  INFO(stats.first_failure);
  REQUIRE(stats.failing == 0);
}

TEST_CASE("a snapshot never holds state beyond the journal that survives a power cut",
          "[powercut][image][snapshot]") {
  CutStats stats("image, snapshots every 2 events");
  RunImage(/*snapshot_every=*/2, &stats, Seed() + 11);
  INFO(stats.first_failure);
  REQUIRE(stats.failing == 0);
}

TEST_CASE("a snapshot the store has written survives a power cut whole", "[powercut][snapshot]") {
  CutStats stats("snapshot store");
  std::mt19937_64 rng(Seed() + 12);
  ScratchDir tmp;
  const std::string root = tmp.Sub("root");
  const std::string dir = root + "/snaps";
  REQUIRE(mkdir(root.c_str(), 0700) == 0);
  REQUIRE(mkdir(dir.c_str(), 0700) == 0);
  SyncDir(root);
  Watching watch(root);
  REQUIRE(watch.status().ok());
  SnapshotStore store(dir, /*keep=*/2);
  REQUIRE(store.Init().ok());
  auto state_of = [](uint64_t stream, uint64_t version) {
    std::string s = Payload(stream << 32 | version, 9000);
    return s;
  };
  AckLog acks[3];
  const int writes = Scaled(60, 20);
  for (int i = 1; i <= writes; ++i) {
    const uint64_t stream = 1 + rng() % 2;
    const uint64_t version = static_cast<uint64_t>(i);
    REQUIRE(store.Write({stream, version, version, state_of(stream, version)}).ok());
    acks[stream].Add(SyncModel::Get().point(), version);
  }
  const uint64_t points = SyncModel::Get().point();
  for (uint64_t p = 0; p <= points; ++p) {
    CrashOptions o;
    o.at_point = p;
    const std::string out = tmp.Sub(absl::StrCat("cut", p));
    REQUIRE(SyncModel::Get().CrashImage(out, o).ok());
    SnapshotStore again(out + "/snaps");
    std::vector<SnapshotStore::Rejected> rejected;
    auto loaded = again.LoadNewest(&rejected);
    std::string error;
    uint64_t lost = 0;
    if (!loaded.ok()) {
      error = loaded.status().ToString();
    } else {
      std::map<uint64_t, uint64_t> newest;
      for (const auto& s : *loaded) {
        newest[s.stream_id] = s.version;
        if (s.state != state_of(s.stream_id, s.version)) {
          error = absl::StrCat("stream ", s.stream_id, " version ", s.version, ": wrong state");
        }
      }
      for (uint64_t stream = 1; stream <= 2; ++stream) {
        const uint64_t want = acks[stream].AckedAt(p);
        if (want > 0 && newest[stream] < want) {
          ++lost;
          error = absl::StrCat("stream ", stream, ": the store wrote version ", want,
                               ", the newest whole snapshot after the cut is ",
                               newest[stream]);
        }
      }
      for (const auto& r : rejected) {
        if (error.empty()) error = absl::StrCat("damaged snapshot ", r.file, ": ", r.reason);
      }
    }
    stats.Add(absl::StrCat("cut at sync point ", p, " (seed ", Seed(), ")"), error, lost);
    RemoveTree(out);
  }
  INFO(stats.first_failure);
  REQUIRE(stats.failing == 0);
}

}  // namespace
}  // namespace engram::powercut
