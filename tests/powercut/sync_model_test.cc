// Tests of the power-cut model itself: each rule of sync_model.h on plain
// files, and that libengram.a's sync calls reach the model.
#include "tests/powercut/sync_model.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#include <catch2/catch.hpp>

#include "engram/journal/journal.h"
#include "tests/powercut/powercut_util.h"

namespace engram::powercut {
namespace {

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
bool Exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}
int OpenRw(const std::string& path) { return open(path.c_str(), O_RDWR | O_CREAT, 0600); }
void Put(int fd, const std::string& bytes, off_t at) {
  REQUIRE(pwrite(fd, bytes.data(), bytes.size(), at) == static_cast<ssize_t>(bytes.size()));
}
void SyncDir(const std::string& dir) {
  int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  REQUIRE(fd >= 0);
  REQUIRE(fsync(fd) == 0);
  close(fd);
}

struct Setup {
  Setup() : root(tmp.Sub("root")), watch((mkdir(root.c_str(), 0700), root)) {
    REQUIRE(watch.status().ok());
  }
  // A fresh crash image directory.
  std::string Cut(CrashOptions o = {}) {
    const std::string out = tmp.Sub(absl::StrCat("cut", ++cuts));
    absl::Status s = SyncModel::Get().CrashImage(out, o);
    INFO(s.ToString());
    REQUIRE(s.ok());
    return out;
  }
  ScratchDir tmp;
  std::string root;
  Watching watch;
  int cuts = 0;
};

TEST_CASE("a file written but never synced is not in the power cut's image", "[powercut][model]") {
  Setup s;
  int fd = OpenRw(s.root + "/f");
  Put(fd, std::string(100, 'x'), 0);
  REQUIRE_FALSE(Exists(s.Cut() + "/f"));  // no directory fsync covered its name
  SyncDir(s.root);
  // Named, never data-synced: its size in zeros, or empty.
  REQUIRE(Slurp(s.Cut() + "/f") == std::string(100, '\0'));
  CrashOptions empty;
  empty.unsynced_files_empty = true;
  REQUIRE(Slurp(s.Cut(empty) + "/f").empty());
  REQUIRE(fdatasync(fd) == 0);
  REQUIRE(Slurp(s.Cut() + "/f") == std::string(100, 'x'));
  close(fd);
}

TEST_CASE("a fresh file that was data-synced but whose name was never dir-synced is gone",
          "[powercut][model]") {
  Setup s;
  int fd = OpenRw(s.root + "/f");
  Put(fd, "abc", 0);
  REQUIRE(fdatasync(fd) == 0);
  close(fd);
  REQUIRE_FALSE(Exists(s.Cut() + "/f"));
  SyncDir(s.root);
  REQUIRE(Slurp(s.Cut() + "/f") == "abc");
}

TEST_CASE("a rename not followed by a directory fsync is undone", "[powercut][model]") {
  Setup s;
  int fd = OpenRw(s.root + "/old");
  Put(fd, "content", 0);
  REQUIRE(fdatasync(fd) == 0);
  close(fd);
  SyncDir(s.root);
  REQUIRE(rename((s.root + "/old").c_str(), (s.root + "/new").c_str()) == 0);
  std::string cut = s.Cut();
  REQUIRE(Slurp(cut + "/old") == "content");
  REQUIRE_FALSE(Exists(cut + "/new"));
  SyncDir(s.root);
  cut = s.Cut();
  REQUIRE_FALSE(Exists(cut + "/old"));
  REQUIRE(Slurp(cut + "/new") == "content");
}

TEST_CASE("an unlink not followed by a directory fsync is undone, with the durable content",
          "[powercut][model]") {
  Setup s;
  int fd = OpenRw(s.root + "/f");
  Put(fd, "synced", 0);
  REQUIRE(fdatasync(fd) == 0);
  Put(fd, "SYNCED and more", 0);  // never synced
  close(fd);
  SyncDir(s.root);
  REQUIRE(unlink((s.root + "/f").c_str()) == 0);
  // A new file must not take over the unlinked one's identity.
  int other = OpenRw(s.root + "/g");
  Put(other, "other", 0);
  REQUIRE(fdatasync(other) == 0);
  close(other);
  REQUIRE(Slurp(s.Cut() + "/f") == "synced");
  SyncDir(s.root);
  const std::string cut = s.Cut();
  REQUIRE_FALSE(Exists(cut + "/f"));
  REQUIRE(Slurp(cut + "/g") == "other");
}

TEST_CASE("bytes written after the last sync are lost unless their page was written back",
          "[powercut][model]") {
  Setup s;
  int fd = OpenRw(s.root + "/f");
  Put(fd, std::string(8192, 'a'), 0);
  REQUIRE(fdatasync(fd) == 0);
  SyncDir(s.root);
  Put(fd, std::string(10, 'b'), 4096);  // the second page only
  close(fd);
  std::string expect(8192, 'a');
  REQUIRE(Slurp(s.Cut() + "/f") == expect);
  CrashOptions all;
  all.dirty_page_probability = 1;
  std::memset(expect.data() + 4096, 'b', 10);
  REQUIRE(Slurp(s.Cut(all) + "/f") == expect);
  // Some pages, seeded: each page is either the old or the new one, whole.
  CrashOptions some;
  some.dirty_page_probability = 0.5;
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    some.seed = seed;
    const std::string got = Slurp(s.Cut(some) + "/f");
    REQUIRE(got.size() == 8192);
    REQUIRE(got.substr(0, 4096) == std::string(4096, 'a'));
    REQUIRE((got == expect || got == std::string(8192, 'a')));
  }
}

TEST_CASE("stores into a shared mapping count once fdatasync or msync covers them",
          "[powercut][model]") {
  Setup s;
  int fd = OpenRw(s.root + "/m");
  REQUIRE(posix_fallocate(fd, 0, 3 * 4096) == 0);
  SyncDir(s.root);
  auto* p = static_cast<char*>(mmap(nullptr, 3 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0));
  REQUIRE(p != MAP_FAILED);
  std::memset(p, 'x', 3 * 4096);
  // Unsynced: the fallocated size in zeros.
  REQUIRE(Slurp(s.Cut() + "/m") == std::string(3 * 4096, '\0'));
  REQUIRE(msync(p + 4096, 4096, MS_SYNC) == 0);  // the middle page only
  std::string expect(3 * 4096, '\0');
  std::memset(expect.data() + 4096, 'x', 4096);
  REQUIRE(Slurp(s.Cut() + "/m") == expect);
  REQUIRE(msync(p, 4096, MS_ASYNC) == 0);  // covers nothing
  REQUIRE(Slurp(s.Cut() + "/m") == expect);
  REQUIRE(fdatasync(fd) == 0);
  REQUIRE(Slurp(s.Cut() + "/m") == std::string(3 * 4096, 'x'));
  munmap(p, 3 * 4096);
  close(fd);
}

TEST_CASE("a mkdir not followed by an fsync of the parent is gone after the cut",
          "[powercut][model]") {
  Setup s;
  REQUIRE(mkdir((s.root + "/d").c_str(), 0700) == 0);
  int fd = OpenRw(s.root + "/d/f");
  Put(fd, "in d", 0);
  REQUIRE(fdatasync(fd) == 0);
  close(fd);
  SyncDir(s.root + "/d");
  REQUIRE_FALSE(Exists(s.Cut() + "/d"));
  SyncDir(s.root);
  REQUIRE(Slurp(s.Cut() + "/d/f") == "in d");
}

TEST_CASE("a cut at an earlier sync point gives the disk as of that point", "[powercut][model]") {
  Setup s;
  int fd = OpenRw(s.root + "/f");
  SyncDir(s.root);                       // point 1: the name
  Put(fd, "one", 0);
  REQUIRE(fdatasync(fd) == 0);           // point 2
  Put(fd, "two", 0);
  REQUIRE(fdatasync(fd) == 0);           // point 3
  close(fd);
  REQUIRE(SyncModel::Get().point() == 3);
  CrashOptions o;
  o.at_point = 0;
  REQUIRE_FALSE(Exists(s.Cut(o) + "/f"));
  o.at_point = 1;
  REQUIRE(Slurp(s.Cut(o) + "/f").empty());
  o.at_point = 2;
  REQUIRE(Slurp(s.Cut(o) + "/f") == "one");
  o.at_point = 3;
  REQUIRE(Slurp(s.Cut(o) + "/f") == "two");
  const std::vector<SyncEvent> ev = SyncModel::Get().Events();
  REQUIRE(ev.size() == 3);
  REQUIRE(ev[0].kind == SyncEvent::Kind::kFsyncDir);
  REQUIRE(ev[1].kind == SyncEvent::Kind::kFdatasync);
  REQUIRE(ev[1].path == "f");
}

TEST_CASE("the journal's own fdatasync, rename and directory fsync reach the model",
          "[powercut][model]") {
  Setup s;
  const std::string dir = s.root + "/journal";
  REQUIRE(mkdir(dir.c_str(), 0700) == 0);
  SyncDir(s.root);
  {
    auto j = Journal::Open(dir, SyncOptions());
    REQUIRE(j.ok());
    std::string p = Payload(1);
    auto lsn = (*j)->Append(RecordInput{.payload = p});
    REQUIRE(lsn.ok());
    REQUIRE((*j)->WaitDurable(*lsn).ok());
    REQUIRE((*j)->Close().ok());
  }
  bool data = false, dir_sync = false, renamed = false;
  for (const SyncEvent& e : SyncModel::Get().Events()) {
    data |= e.kind == SyncEvent::Kind::kFdatasync && e.path.rfind("journal/", 0) == 0;
    dir_sync |= e.kind == SyncEvent::Kind::kFsyncDir && e.path == "journal";
    renamed |= e.kind == SyncEvent::Kind::kRename;
  }
  INFO(SyncModel::Get().DescribeEvents(0, ~uint64_t{0}));
  REQUIRE(data);
  REQUIRE(dir_sync);
  REQUIRE(renamed);
}

}  // namespace
}  // namespace engram::powercut
