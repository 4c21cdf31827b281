#include "tests/powercut/sync_model.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

// The real system calls (resolved by the linker's --wrap).
extern "C" {
int __real_fdatasync(int fd);
int __real_fsync(int fd);
int __real_msync(void* addr, size_t len, int flags);
int __real_rename(const char* from, const char* to);
int __real_unlink(const char* path);
int __real_mkdir(const char* path, mode_t mode);
int __real_ftruncate(int fd, off_t len);
int __real_posix_fallocate(int fd, off_t off, off_t len);
}

namespace engram::powercut {
namespace {

constexpr size_t kPage = 4096;

absl::Status Errno(const std::string& what) {
  return absl::InternalError(absl::StrCat(what, ": ", std::strerror(errno)));
}

std::string FdPath(int fd) {
  char buf[PATH_MAX + 1];
  const std::string link = absl::StrCat("/proc/self/fd/", fd);
  ssize_t n = readlink(link.c_str(), buf, PATH_MAX);
  if (n <= 0) return "";
  std::string p(buf, static_cast<size_t>(n));
  constexpr absl::string_view kDeleted = " (deleted)";
  if (p.size() > kDeleted.size() &&
      p.compare(p.size() - kDeleted.size(), kDeleted.size(), kDeleted.data()) == 0) {
    p.resize(p.size() - kDeleted.size());
  }
  return p;
}

// The whole current content of the file open as `fd` (read-only is enough).
bool ReadAll(int fd, std::string* out) {
  struct stat st;
  if (fstat(fd, &st) != 0) return false;
  out->assign(static_cast<size_t>(st.st_size), '\0');
  size_t done = 0;
  while (done < out->size()) {
    ssize_t n = pread(fd, out->data() + done, out->size() - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  out->resize(done);
  return true;
}

bool WriteFile(const std::string& path, const std::string& data) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      close(fd);
      return false;
    }
    done += static_cast<size_t>(n);
  }
  return close(fd) == 0;
}

uint64_t SplitMix(uint64_t* s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

}  // namespace

const char* KindName(SyncEvent::Kind kind) {
  switch (kind) {
    case SyncEvent::Kind::kFdatasync: return "fdatasync";
    case SyncEvent::Kind::kFsyncFile: return "fsync";
    case SyncEvent::Kind::kFsyncDir: return "fsync(dir)";
    case SyncEvent::Kind::kMsync: return "msync";
    case SyncEvent::Kind::kRename: return "rename";
    case SyncEvent::Kind::kUnlink: return "unlink";
    case SyncEvent::Kind::kMkdir: return "mkdir";
    case SyncEvent::Kind::kFtruncate: return "ftruncate";
    case SyncEvent::Kind::kFallocate: return "posix_fallocate";
  }
  return "?";
}

SyncModel& SyncModel::Get() {
  static SyncModel* m = new SyncModel();
  return *m;
}

void SyncModel::ResetLocked() {
  for (auto& [ino, fd] : pinned_) close(fd);
  pinned_.clear();
  durable_ = State{};
  points_.clear();
  events_.clear();
  point_ = 0;
  watching_ = false;
}

absl::Status SyncModel::Watch(const std::string& root, bool keep_points) {
  std::lock_guard<std::mutex> l(mu_);
  ResetLocked();
  char buf[PATH_MAX + 1];
  if (realpath(root.c_str(), buf) == nullptr) return Errno("realpath " + root);
  root_ = buf;
  struct stat st;
  if (stat(root_.c_str(), &st) != 0) return Errno("stat " + root_);
  if (!S_ISDIR(st.st_mode)) return absl::InvalidArgumentError(root_ + " is not a directory");
  dev_ = st.st_dev;
  root_ino_ = st.st_ino;
  keep_points_ = keep_points;
  int fd = open(root_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Errno("open " + root_);
  PinLocked(root_ino_, fd);
  absl::Status s = SnapshotTreeLocked(root_, root_ino_);
  if (!s.ok()) return s;
  points_.push_back(durable_);
  watching_ = true;
  return absl::OkStatus();
}

void SyncModel::Unwatch() {
  std::lock_guard<std::mutex> l(mu_);
  ResetLocked();
}

uint64_t SyncModel::point() const {
  std::lock_guard<std::mutex> l(mu_);
  return point_;
}

std::vector<SyncEvent> SyncModel::Events() const {
  std::lock_guard<std::mutex> l(mu_);
  return events_;
}

std::string SyncModel::DescribeEvents(uint64_t from, uint64_t to) const {
  std::lock_guard<std::mutex> l(mu_);
  std::string out;
  for (const SyncEvent& e : events_) {
    if (e.point < from || e.point > to) continue;
    absl::StrAppendFormat(&out, "  %s%u %s %s%s%s\n", e.is_sync_point() ? "#" : " after #",
                          e.point, KindName(e.kind), e.path.empty() ? "." : e.path,
                          e.detail.empty() ? "" : " ", e.detail);
  }
  return out;
}

bool SyncModel::Relative(const std::string& abs, std::string* rel) const {
  if (abs == root_) {
    rel->clear();
    return true;
  }
  if (abs.size() > root_.size() && abs.compare(0, root_.size(), root_) == 0 &&
      abs[root_.size()] == '/') {
    *rel = abs.substr(root_.size() + 1);
    return true;
  }
  return false;
}

void SyncModel::PinLocked(ino_t ino, int fd_to_adopt) {
  auto [it, inserted] = pinned_.emplace(ino, fd_to_adopt);
  if (!inserted && fd_to_adopt >= 0) close(fd_to_adopt);
}

absl::Status SyncModel::ListLocked(const std::string& abs_dir, Listing* out) {
  int dfd = open(abs_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return Errno("open directory " + abs_dir);
  DIR* d = fdopendir(dfd);
  if (d == nullptr) {
    close(dfd);
    return Errno("fdopendir " + abs_dir);
  }
  while (struct dirent* de = readdir(d)) {
    const char* name = de->d_name;
    if (std::strcmp(name, ".") == 0 || std::strcmp(name, "..") == 0) continue;
    struct stat st;
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;  // raced away
    if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) continue;
    int fd = openat(dfd, name,
                    O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK |
                        (S_ISDIR(st.st_mode) ? O_DIRECTORY : 0));
    if (fd < 0) continue;  // removed while listing: either outcome is legal
    if (fstat(fd, &st) != 0) {
      close(fd);
      continue;
    }
    Entry e;
    e.ino = st.st_ino;
    e.is_dir = S_ISDIR(st.st_mode);
    e.size = static_cast<uint64_t>(st.st_size);
    PinLocked(e.ino, fd);
    (*out)[name] = e;
  }
  closedir(d);
  return absl::OkStatus();
}

absl::Status SyncModel::SnapshotTreeLocked(const std::string& abs_dir, ino_t ino) {
  auto listing = std::make_shared<Listing>();
  absl::Status s = ListLocked(abs_dir, listing.get());
  if (!s.ok()) return s;
  durable_.dirs[ino] = listing;
  for (const auto& [name, e] : *listing) {
    if (e.is_dir) {
      s = SnapshotTreeLocked(abs_dir + "/" + name, e.ino);
      if (!s.ok()) return s;
    } else {
      auto content = std::make_shared<std::string>();
      if (!ReadAll(pinned_.at(e.ino), content.get())) return Errno("read " + abs_dir + "/" + name);
      durable_.content[e.ino] = std::move(content);
    }
  }
  return absl::OkStatus();
}

void SyncModel::CommitPointLocked(SyncEvent ev) {
  ++point_;
  ev.point = point_;
  events_.push_back(std::move(ev));
  if (keep_points_) points_.push_back(durable_);
}

int SyncModel::OnFileSync(int fd, SyncEvent::Kind kind, int (*real)(int)) {
  std::unique_lock<std::mutex> l(mu_);
  struct stat st;
  std::string rel;
  if (!watching_ || fstat(fd, &st) != 0 || st.st_dev != dev_ ||
      !Relative(FdPath(fd), &rel)) {
    l.unlock();
    return real(fd);
  }
  if (S_ISDIR(st.st_mode)) {
    // The names covered are those present when fsync is called.
    auto listing = std::make_shared<Listing>();
    const std::string abs = rel.empty() ? root_ : root_ + "/" + rel;
    if (!ListLocked(abs, listing.get()).ok()) {
      std::fprintf(stderr, "sync_model: cannot list %s\n", abs.c_str());
      std::abort();
    }
    int dfd = open(abs.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) PinLocked(st.st_ino, dfd);
    const int rc = real(fd);
    const int err = errno;
    if (rc == 0) {
      const size_t n = listing->size();
      durable_.dirs[st.st_ino] = std::move(listing);
      CommitPointLocked({0, SyncEvent::Kind::kFsyncDir, rel, absl::StrCat(n, " names")});
    }
    errno = err;
    return rc;
  }
  if (!S_ISREG(st.st_mode)) {
    l.unlock();
    return real(fd);
  }
  // The bytes covered are (at least) those present when the sync is called.
  int rfd = open(absl::StrCat("/proc/self/fd/", fd).c_str(), O_RDONLY | O_CLOEXEC);
  auto content = std::make_shared<std::string>();
  if (rfd < 0 || !ReadAll(rfd, content.get())) {
    std::fprintf(stderr, "sync_model: cannot read %s: %s\n", rel.c_str(), std::strerror(errno));
    std::abort();
  }
  PinLocked(st.st_ino, rfd);
  const int rc = real(fd);
  const int err = errno;
  if (rc == 0) {
    const size_t n = content->size();
    durable_.content[st.st_ino] = std::move(content);
    CommitPointLocked({0, kind, rel, absl::StrCat(n, " bytes")});
  }
  errno = err;
  return rc;
}

int SyncModel::OnMsync(void* addr, size_t len, int flags, int (*real)(void*, size_t, int)) {
  std::unique_lock<std::mutex> l(mu_);
  if (!watching_ || (flags & MS_SYNC) == 0) {
    l.unlock();
    return real(addr, len, flags);
  }
  // Which file and offset is addr? Ask /proc/self/maps.
  const uintptr_t a = reinterpret_cast<uintptr_t>(addr);
  std::string path;
  uint64_t file_off = 0, span = len;
  if (FILE* maps = std::fopen("/proc/self/maps", "re")) {
    char line[PATH_MAX + 256];
    while (std::fgets(line, sizeof line, maps) != nullptr) {
      unsigned long start = 0, end = 0, off = 0, inode = 0;
      char perms[8], devs[32];
      int pos = 0;
      if (std::sscanf(line, "%lx-%lx %7s %lx %31s %lu %n", &start, &end, perms, &off, devs,
                      &inode, &pos) < 6) {
        continue;
      }
      if (a < start || a >= end) continue;
      std::string p = line + pos;
      while (!p.empty() && (p.back() == '\n' || p.back() == ' ')) p.pop_back();
      path = p;
      file_off = off + (a - start);
      if (span > end - a) span = end - a;
      break;
    }
    std::fclose(maps);
  }
  std::string rel;
  struct stat st;
  if (path.empty() || !Relative(path, &rel) || stat(path.c_str(), &st) != 0 ||
      st.st_dev != dev_ || !S_ISREG(st.st_mode)) {
    l.unlock();
    return real(addr, len, flags);
  }
  int rfd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  std::string current;
  if (rfd < 0 || !ReadAll(rfd, &current)) {
    std::fprintf(stderr, "sync_model: cannot read %s\n", path.c_str());
    std::abort();
  }
  PinLocked(st.st_ino, rfd);
  const int rc = real(addr, len, flags);
  const int err = errno;
  if (rc == 0) {
    auto it = durable_.content.find(st.st_ino);
    auto next = std::make_shared<std::string>(
        it != durable_.content.end() ? *it->second : std::string(current.size(), '\0'));
    next->resize(current.size(), '\0');
    if (file_off < current.size()) {
      const uint64_t n = std::min<uint64_t>(span, current.size() - file_off);
      std::memcpy(next->data() + file_off, current.data() + file_off, n);
    }
    durable_.content[st.st_ino] = std::move(next);
    CommitPointLocked({0, SyncEvent::Kind::kMsync, rel,
                       absl::StrFormat("bytes [%u, %u)", file_off, file_off + span)});
  }
  errno = err;
  return rc;
}

void SyncModel::Log(SyncEvent::Kind kind, const std::string& abs_path, const std::string& detail) {
  std::lock_guard<std::mutex> l(mu_);
  if (!watching_) return;
  std::string rel;
  if (!Relative(abs_path, &rel)) return;
  std::string d = detail;
  std::string rel_detail;
  if (!d.empty() && d[0] == '/' && Relative(d, &rel_detail)) d = rel_detail;
  events_.push_back({point_, kind, rel, d});
}

void SyncModel::LogFd(SyncEvent::Kind kind, int fd, const std::string& detail) {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (!watching_) return;
  }
  Log(kind, FdPath(fd), detail);
}

absl::Status SyncModel::EmitLocked(const State& s, ino_t dir_ino, const std::string& out,
                                   const CrashOptions& o, uint64_t* rng) const {
  auto d = s.dirs.find(dir_ino);
  if (d == s.dirs.end()) return absl::OkStatus();  // a directory no fsync covered: empty
  for (const auto& [name, e] : *d->second) {
    const std::string path = out + "/" + name;
    if (e.is_dir) {
      if (__real_mkdir(path.c_str(), 0700) != 0) return Errno("mkdir " + path);
      absl::Status st = EmitLocked(s, e.ino, path, o, rng);
      if (!st.ok()) return st;
      continue;
    }
    std::string data;
    if (auto c = s.content.find(e.ino); c != s.content.end()) {
      data = *c->second;
    } else if (!o.unsynced_files_empty) {
      data.assign(e.size, '\0');
    }
    if (o.at_point == CrashOptions::kNow && o.dirty_page_probability > 0) {
      std::string current;
      auto p = pinned_.find(e.ino);
      if (p != pinned_.end() && ReadAll(p->second, &current)) {
        const size_t pages = (std::max(current.size(), data.size()) + kPage - 1) / kPage;
        for (size_t i = 0; i < pages; ++i) {
          const double r = static_cast<double>(SplitMix(rng) >> 11) * 0x1.0p-53;
          if (r >= o.dirty_page_probability || i * kPage >= current.size()) continue;
          const size_t end = std::min(current.size(), (i + 1) * kPage);
          if (data.size() < end) data.resize(end, '\0');
          std::memcpy(data.data() + i * kPage, current.data() + i * kPage, end - i * kPage);
        }
      }
    }
    if (!WriteFile(path, data)) return Errno("write " + path);
  }
  return absl::OkStatus();
}

absl::Status SyncModel::CrashImage(const std::string& out_dir, const CrashOptions& o) const {
  std::lock_guard<std::mutex> l(mu_);
  if (!watching_) return absl::FailedPreconditionError("the sync model watches no directory");
  const State* s = &durable_;
  if (o.at_point != CrashOptions::kNow) {
    if (!keep_points_ || o.at_point >= points_.size()) {
      return absl::InvalidArgumentError(
          absl::StrFormat("no recorded sync point %u (last is %u%s)", o.at_point, point_,
                          keep_points_ ? "" : ", points not kept"));
    }
    s = &points_[o.at_point];
  }
  if (__real_mkdir(out_dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return Errno("mkdir " + out_dir);
  }
  uint64_t rng = o.seed;
  return EmitLocked(*s, root_ino_, out_dir, o, &rng);
}

}  // namespace engram::powercut

using engram::powercut::SyncEvent;
using engram::powercut::SyncModel;

extern "C" {

int __wrap_fdatasync(int fd) {
  return SyncModel::Get().OnFileSync(fd, SyncEvent::Kind::kFdatasync, &__real_fdatasync);
}

int __wrap_fsync(int fd) {
  return SyncModel::Get().OnFileSync(fd, SyncEvent::Kind::kFsyncFile, &__real_fsync);
}

int __wrap_msync(void* addr, size_t len, int flags) {
  return SyncModel::Get().OnMsync(addr, len, flags, &__real_msync);
}

namespace {
std::string Absolute(const char* p) {
  if (p == nullptr) return "";
  if (p[0] == '/') return p;
  char cwd[PATH_MAX + 1];
  if (getcwd(cwd, sizeof cwd) == nullptr) return p;
  return absl::StrCat(cwd, "/", p);
}
}  // namespace

int __wrap_rename(const char* from, const char* to) {
  const int rc = __real_rename(from, to);
  const int err = errno;
  if (rc == 0) SyncModel::Get().Log(SyncEvent::Kind::kRename, Absolute(from), Absolute(to));
  errno = err;
  return rc;
}

int __wrap_unlink(const char* path) {
  const int rc = __real_unlink(path);
  const int err = errno;
  if (rc == 0) SyncModel::Get().Log(SyncEvent::Kind::kUnlink, Absolute(path), "");
  errno = err;
  return rc;
}

int __wrap_mkdir(const char* path, mode_t mode) {
  const int rc = __real_mkdir(path, mode);
  const int err = errno;
  if (rc == 0) SyncModel::Get().Log(SyncEvent::Kind::kMkdir, Absolute(path), "");
  errno = err;
  return rc;
}

int __wrap_ftruncate(int fd, off_t len) {
  const int rc = __real_ftruncate(fd, len);
  const int err = errno;
  if (rc == 0) SyncModel::Get().LogFd(SyncEvent::Kind::kFtruncate, fd, absl::StrCat("to ", len));
  errno = err;
  return rc;
}

int __wrap_posix_fallocate(int fd, off_t off, off_t len) {
  const int rc = __real_posix_fallocate(fd, off, len);
  if (rc == 0) {
    const int err = errno;
    SyncModel::Get().LogFd(SyncEvent::Kind::kFallocate, fd,
                           absl::StrCat("[", off, ", ", off + len, ")"));
    errno = err;
  }
  return rc;
}

}  // extern "C"
