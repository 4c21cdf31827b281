// Checks engram_lazyfs itself: what a power cut keeps and drops, and the
// injected faults. The bank power-cut test relies on exactly these.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#include <catch2/catch.hpp>

#include "tests/powercut_fuse/lazy_fs_mount.h"
#include "tests/temp_dir.h"

#ifndef ENGRAM_LAZYFS_MISSING
namespace {

using engram::testing::LazyFsMount;
using engram::testing::TempDir;

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "<missing>";
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

bool Exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

void WriteFile(const std::string& path, const std::string& data, bool fsync_file) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  REQUIRE(fd >= 0);
  REQUIRE(write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size()));
  if (fsync_file) REQUIRE(fsync(fd) == 0);
  REQUIRE(close(fd) == 0);
}

void SyncDir(const std::string& dir) {
  int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  REQUIRE(fd >= 0);
  REQUIRE(fsync(fd) == 0);
  close(fd);
}

// A mounted lazy fs over fresh temp dirs.
struct Fixture {
  TempDir tmp;
  std::string backing = tmp.Sub("backing");
  std::string mnt = tmp.Sub("mnt");
  LazyFsMount fs{LAZYFS_BINARY, backing, mnt};
  Fixture() {
    REQUIRE(access("/dev/fuse", R_OK | W_OK) == 0);
    mkdir(backing.c_str(), 0755);
    const std::string err = fs.Mount();
    INFO(err);
    REQUIRE(err.empty());
  }
  // Cuts the power, unmounts, mounts the backing directory again.
  void CutAndRemount(const std::string& cut = "cut") {
    REQUIRE(fs.Ctl(cut).empty());
    REQUIRE(fs.Unmount() == 0);
    const std::string err = fs.Mount();
    INFO(err);
    REQUIRE(err.empty());
  }
  std::string P(const std::string& name) const { return mnt + "/" + name; }
};

TEST_CASE("lazyfs: a write without fsync is gone after a power cut", "[powercut][lazyfs]") {
  Fixture f;
  WriteFile(f.P("a"), "old", true);
  SyncDir(f.mnt);
  WriteFile(f.P("a"), "new data", false);
  REQUIRE(Slurp(f.P("a")) == "new data");
  f.CutAndRemount();
  REQUIRE(Slurp(f.P("a")) == "old");
}

TEST_CASE("lazyfs: a write followed by fsync survives a power cut", "[powercut][lazyfs]") {
  Fixture f;
  WriteFile(f.P("a"), "durable", true);
  SyncDir(f.mnt);
  f.CutAndRemount();
  REQUIRE(Slurp(f.P("a")) == "durable");
  // The backing directory holds it too, under its own name.
  REQUIRE(Slurp(f.backing + "/a") == "durable");
}

TEST_CASE("lazyfs: a file fsync'ed but whose directory was not is gone after a power cut",
          "[powercut][lazyfs]") {
  Fixture f;
  REQUIRE(mkdir(f.P("d").c_str(), 0755) == 0);
  SyncDir(f.mnt);
  WriteFile(f.P("d/x"), "x", true);
  REQUIRE(Exists(f.P("d/x")));
  f.CutAndRemount();
  REQUIRE(Exists(f.P("d")));
  REQUIRE_FALSE(Exists(f.P("d/x")));
}

TEST_CASE("lazyfs: mkdir, rename and unlink are volatile until the directory is fsync'ed",
          "[powercut][lazyfs]") {
  Fixture f;
  WriteFile(f.P("keep"), "k", true);
  WriteFile(f.P("tmp"), "t", true);
  SyncDir(f.mnt);
  REQUIRE(mkdir(f.P("newdir").c_str(), 0755) == 0);
  REQUIRE(rename(f.P("tmp").c_str(), f.P("final").c_str()) == 0);
  REQUIRE(unlink(f.P("keep").c_str()) == 0);
  f.CutAndRemount();
  REQUIRE_FALSE(Exists(f.P("newdir")));
  REQUIRE_FALSE(Exists(f.P("final")));
  REQUIRE(Slurp(f.P("tmp")) == "t");
  REQUIRE(Slurp(f.P("keep")) == "k");
  // The same, covered by an fsync of the directory.
  REQUIRE(mkdir(f.P("newdir").c_str(), 0755) == 0);
  REQUIRE(rename(f.P("tmp").c_str(), f.P("final").c_str()) == 0);
  REQUIRE(unlink(f.P("keep").c_str()) == 0);
  SyncDir(f.mnt);
  f.CutAndRemount();
  REQUIRE(Exists(f.P("newdir")));
  REQUIRE(Slurp(f.P("final")) == "t");
  REQUIRE_FALSE(Exists(f.P("tmp")));
  REQUIRE_FALSE(Exists(f.P("keep")));
}

// Maps `path` (size `len`, fallocated), writes `text` at `off` through the
// mapping, msyncs if asked.
void MmapWrite(const std::string& path, size_t len, size_t off, const std::string& text,
               bool sync) {
  int fd = open(path.c_str(), O_RDWR | O_CREAT, 0644);
  REQUIRE(fd >= 0);
  REQUIRE(posix_fallocate(fd, 0, static_cast<off_t>(len)) == 0);
  void* p = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  REQUIRE(p != MAP_FAILED);
  std::memcpy(static_cast<char*>(p) + off, text.data(), text.size());
  if (sync) REQUIRE(msync(p, len, MS_SYNC) == 0);
  REQUIRE(munmap(p, len) == 0);
  close(fd);
}

std::string ReadAt(const std::string& path, size_t off, size_t len) {
  std::string s = Slurp(path);
  if (s.size() < off + len) return "<short: " + std::to_string(s.size()) + " bytes>";
  return s.substr(off, len);
}

TEST_CASE("lazyfs: an mmap write survives a power cut only after msync", "[powercut][lazyfs]") {
  Fixture f;
  MmapWrite(f.P("seg"), 65536, 12345, "synced via msync", true);
  SyncDir(f.mnt);
  MmapWrite(f.P("seg"), 65536, 40000, "never synced", false);
  f.CutAndRemount();
  REQUIRE(ReadAt(f.P("seg"), 12345, 16) == "synced via msync");
  REQUIRE(ReadAt(f.P("seg"), 40000, 12) == std::string(12, '\0'));
}

TEST_CASE("lazyfs: a cut with keep fraction 1 keeps every dirty page within the durable size",
          "[powercut][lazyfs]") {
  Fixture f;
  MmapWrite(f.P("seg"), 65536, 0, "first", true);
  SyncDir(f.mnt);
  MmapWrite(f.P("seg"), 65536, 30000, "written back anyway", false);
  f.CutAndRemount("cut 1 42");
  REQUIRE(ReadAt(f.P("seg"), 30000, 19) == "written back anyway");
}

TEST_CASE("lazyfs: after an fsync EIO a later successful fsync does not make the lost write durable",
          "[powercut][lazyfs]") {
  Fixture f;
  WriteFile(f.P("a"), "old!", true);
  SyncDir(f.mnt);
  REQUIRE(f.fs.Ctl("fail fsync EIO once a").empty());
  int fd = open(f.P("a").c_str(), O_WRONLY);
  REQUIRE(fd >= 0);
  REQUIRE(pwrite(fd, "lost", 4, 0) == 4);
  errno = 0;
  REQUIRE(fdatasync(fd) == -1);
  REQUIRE(errno == EIO);
  REQUIRE(fdatasync(fd) == 0);  // the error is reported once
  close(fd);
  REQUIRE(Slurp(f.P("a")) == "lost");  // still readable before the cut
  f.CutAndRemount();
  REQUIRE(Slurp(f.P("a")) == "old!");
}

TEST_CASE("lazyfs: writes to files matching the ENOSPC pattern fail, others do not",
          "[powercut][lazyfs]") {
  Fixture f;
  REQUIRE(f.fs.Ctl("fail write ENOSPC snap*").empty());
  int fd = open(f.P("snap-1.tmp").c_str(), O_WRONLY | O_CREAT, 0644);
  REQUIRE(fd >= 0);
  errno = 0;
  REQUIRE(write(fd, "x", 1) == -1);
  REQUIRE(errno == ENOSPC);
  close(fd);
  WriteFile(f.P("other"), "fine", true);
  REQUIRE(f.fs.Ctl("clear").empty());
  WriteFile(f.P("snap-1.tmp"), "now fine", true);
  REQUIRE(f.fs.Status().find("injected_enospc 1") != std::string::npos);
}

TEST_CASE("lazyfs: a read covering the injected offset fails with EIO", "[powercut][lazyfs]") {
  Fixture f;
  WriteFile(f.P("data"), std::string(10000, 'z'), true);
  SyncDir(f.mnt);
  f.CutAndRemount();  // a cold page cache
  REQUIRE(f.fs.Ctl("fail read EIO data 5000").empty());
  int fd = open(f.P("data").c_str(), O_RDONLY);
  REQUIRE(fd >= 0);
  char buf[100];
  REQUIRE(pread(fd, buf, sizeof buf, 0) == 100);
  errno = 0;
  REQUIRE(pread(fd, buf, sizeof buf, 4990) == -1);
  REQUIRE(errno == EIO);
  close(fd);
}

TEST_CASE("lazyfs: bad control commands are refused", "[powercut][lazyfs]") {
  Fixture f;
  REQUIRE_FALSE(f.fs.Ctl("cut 2 1").empty());
  REQUIRE_FALSE(f.fs.Ctl("explode").empty());
  REQUIRE(f.fs.Status().find("power on") != std::string::npos);
}

}  // namespace
#endif  // ENGRAM_LAZYFS_MISSING
