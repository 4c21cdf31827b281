// engram_lazyfs: a FUSE 3 file system for power-cut tests (in the spirit of
// LazyFS). It serves the tree of a backing directory, but everything written
// since a file's last fsync/fdatasync, and every directory change (create,
// mkdir, rename, unlink, rmdir) since the last fsync of that directory, is
// kept in a volatile layer that a "power cut" throws away.
//
//   engram_lazyfs BACKING_DIR MOUNTPOINT [extra fuse options...]
//
// Runs in the foreground until unmounted (fusermount3 -u / umount). The
// whole file system lives in memory while mounted: at mount it loads
// BACKING_DIR; the durable state (what the last syncs covered) is written
// back to BACKING_DIR at a cut, and at a clean unmount without a cut
// everything (a clean unmount syncs). So after `cut` + unmount, mounting
// BACKING_DIR again shows exactly what survived the power cut.
//
// Control: the file `.lazyfs_ctl` at the mount root (not listed). Write one
// command per line:
//   cut [KEEP_FRACTION SEED]   the power goes off now: the durable state is
//        kept, plus (with KEEP_FRACTION > 0) a seeded random subset of the
//        dirty 4 KiB pages (the kernel may write back any dirty page at any
//        time; pages beyond a file's durable size are not kept). Namespace
//        changes not covered by a directory fsync are lost. Afterwards every
//        operation but the control file's fails with EIO until unmounted.
//   fail fsync EIO once [GLOB] the next fsync/fdatasync of a file whose name
//        matches GLOB (default *) fails with EIO, and the data it should
//        have made durable is lost for good (as Linux marks the pages clean
//        after a failed writeback: the 2018 PostgreSQL "fsync gate"): the
//        file still reads the new data, but no later fsync persists it.
//   fail write ENOSPC GLOB     writes and fallocates to files matching GLOB
//        fail with ENOSPC (until `clear`).
//   fail read EIO GLOB OFFSET  reads of files matching GLOB that cover byte
//        OFFSET fail with EIO (until `clear`).
//   clear                      removes every injected fault.
// A bad command fails the write with EINVAL. Reading the control file gives
// counters: `power on|off`, `fsyncs N`, `injected_fsync_eio N`,
// `injected_enospc N`, `injected_read_eio N`, `kept_pages N`,
// `dropped_pages N`.
//
// GLOBs match a file's name (its last component), fnmatch(3) rules.
//
// Thread-safety: libfuse calls the operations from several threads; one
// mutex guards the whole model. Ownership: the model owns every inode;
// inodes are never freed while mounted (tests are small), so operations on
// open, unlinked files keep working.
#define FUSE_USE_VERSION 31

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <fuse.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace {

constexpr uint64_t kPage = 4096;
constexpr uint64_t kRootIno = 1;
constexpr uint64_t kCtlIno = 2;
constexpr char kCtlName[] = ".lazyfs_ctl";

using Page = std::array<char, kPage>;
using Pages = std::map<uint64_t, std::unique_ptr<Page>>;

struct Inode {
  uint64_t ino = 0;
  bool dir = false;
  mode_t mode = 0644;
  std::string name;  // last name given to it (for fault GLOBs)
  struct timespec mtime {};
  // Files. The current content of page i: dirty[i] if present, else
  // ghost[i], else durable[i] for bytes below `floor`, else zeros.
  Pages durable;          // what the last successful fsync covered
  uint64_t durable_size = 0;
  Pages dirty;            // written since, to be made durable by fsync
  Pages ghost;            // lost by a failed fsync: visible, never durable
  uint64_t size = 0;      // current size
  uint64_t floor = 0;     // durable pages are visible only below this
  // Directories: current names and the names the last fsyncdir covered.
  std::map<std::string, uint64_t> entries;
  std::map<std::string, uint64_t> durable_entries;
};

struct Faults {
  bool fsync_eio_once = false;
  std::string fsync_glob = "*";
  bool write_enospc = false;
  std::string write_glob;
  bool read_eio = false;
  std::string read_glob;
  uint64_t read_offset = 0;
};

struct Counters {
  uint64_t fsyncs = 0, fsync_eio = 0, enospc = 0, read_eio = 0, kept = 0, dropped = 0;
};

std::mutex g_mu;
std::string g_backing;
std::map<uint64_t, std::unique_ptr<Inode>> g_inodes;  // guarded by g_mu
uint64_t g_next_ino = 3;
bool g_power_off = false;
Faults g_faults;
Counters g_counters;

struct timespec Now() {
  struct timespec t;
  clock_gettime(CLOCK_REALTIME, &t);
  return t;
}

Inode* NewInode(bool dir, mode_t mode, const std::string& name) {
  auto n = std::make_unique<Inode>();
  n->ino = g_next_ino++;
  n->dir = dir;
  n->mode = mode & 07777;
  n->name = name;
  n->mtime = Now();
  Inode* raw = n.get();
  g_inodes[raw->ino] = std::move(n);
  return raw;
}

Inode* Get(uint64_t ino) {
  auto it = g_inodes.find(ino);
  return it == g_inodes.end() ? nullptr : it->second.get();
}

bool Matches(const std::string& glob, const std::string& name) {
  return fnmatch(glob.c_str(), name.c_str(), 0) == 0;
}

// ---- file content ----

// Copies the current content of page `i` into `out`.
void CurrentPage(const Inode& n, uint64_t i, char* out) {
  if (auto it = n.dirty.find(i); it != n.dirty.end()) {
    std::memcpy(out, it->second->data(), kPage);
    return;
  }
  if (auto it = n.ghost.find(i); it != n.ghost.end()) {
    std::memcpy(out, it->second->data(), kPage);
    return;
  }
  std::memset(out, 0, kPage);
  const uint64_t start = i * kPage;
  if (start >= n.floor) return;
  if (auto it = n.durable.find(i); it != n.durable.end()) {
    const uint64_t visible = std::min(kPage, n.floor - start);
    std::memcpy(out, it->second->data(), visible);
  }
}

Page& DirtyPage(Inode& n, uint64_t i) {
  auto it = n.dirty.find(i);
  if (it != n.dirty.end()) return *it->second;
  auto p = std::make_unique<Page>();
  CurrentPage(n, i, p->data());
  Page& ref = *p;
  n.dirty[i] = std::move(p);
  return ref;
}

void WriteBytes(Inode& n, const char* buf, size_t len, uint64_t off) {
  uint64_t done = 0;
  while (done < len) {
    const uint64_t at = off + done;
    const uint64_t i = at / kPage;
    const uint64_t in = at % kPage;
    const uint64_t k = std::min<uint64_t>(kPage - in, len - done);
    std::memcpy(DirtyPage(n, i).data() + in, buf + done, k);
    done += k;
  }
  n.size = std::max<uint64_t>(n.size, off + len);
  n.mtime = Now();
}

void Truncate(Inode& n, uint64_t size) {
  if (size < n.size) {
    // Zero the tail of the page that straddles the new end, drop pages
    // beyond it, and hide durable bytes beyond it.
    if (size % kPage != 0) {
      Page& p = DirtyPage(n, size / kPage);
      std::memset(p.data() + size % kPage, 0, kPage - size % kPage);
    }
    const uint64_t first_gone = (size + kPage - 1) / kPage;
    n.dirty.erase(n.dirty.lower_bound(first_gone), n.dirty.end());
    n.ghost.erase(n.ghost.lower_bound(first_gone), n.ghost.end());
    n.floor = std::min(n.floor, size);
  }
  n.size = size;
  n.mtime = Now();
}

// Makes the current content durable (a successful fsync).
void SyncFile(Inode& n) {
  // Durable pages beyond the floor were truncated away since the last sync.
  const uint64_t first_hidden = n.floor / kPage;
  for (auto it = n.durable.lower_bound(first_hidden); it != n.durable.end();) {
    const uint64_t start = it->first * kPage;
    if (start >= n.floor) {
      it = n.durable.erase(it);
    } else {
      std::memset(it->second->data() + (n.floor - start), 0, kPage - (n.floor - start));
      ++it;
    }
  }
  for (auto& [i, p] : n.dirty) n.durable[i] = std::move(p);
  n.dirty.clear();
  n.durable_size = n.size;
  const uint64_t first_beyond = (n.size + kPage - 1) / kPage;
  n.durable.erase(n.durable.lower_bound(first_beyond), n.durable.end());
  n.floor = n.size;
}

// ---- namespace ----

// Resolves `path` ("/a/b") in the current namespace.
Inode* Resolve(const char* path) {
  if (path == nullptr) return nullptr;
  Inode* cur = Get(kRootIno);
  std::string p(path);
  size_t pos = 0;
  while (cur != nullptr && pos < p.size()) {
    while (pos < p.size() && p[pos] == '/') ++pos;
    if (pos >= p.size()) break;
    size_t end = p.find('/', pos);
    if (end == std::string::npos) end = p.size();
    const std::string part = p.substr(pos, end - pos);
    pos = end;
    if (!cur->dir) return nullptr;
    if (cur->ino == kRootIno && part == kCtlName) {
      cur = Get(kCtlIno);
      continue;
    }
    auto it = cur->entries.find(part);
    cur = it == cur->entries.end() ? nullptr : Get(it->second);
  }
  return cur;
}

// Splits "/a/b/c" into the parent inode and "c".
Inode* ResolveParent(const char* path, std::string* name) {
  std::string p(path);
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  const size_t slash = p.rfind('/');
  *name = p.substr(slash + 1);
  const std::string parent = slash == 0 ? "/" : p.substr(0, slash);
  Inode* d = Resolve(parent.c_str());
  return d != nullptr && d->dir ? d : nullptr;
}

Inode* FromFi(const char* path, struct fuse_file_info* fi) {
  if (fi != nullptr && fi->fh != 0) return Get(fi->fh);
  return Resolve(path);
}

// ---- the backing directory ----

int LoadDir(const std::string& real, Inode& dir) {
  DIR* d = opendir(real.c_str());
  if (d == nullptr) return -errno;
  std::vector<std::string> names;
  while (struct dirent* e = readdir(d)) {
    const std::string name = e->d_name;
    if (name == "." || name == ".." || name == kCtlName) continue;
    names.push_back(name);
  }
  closedir(d);
  for (const std::string& name : names) {
    const std::string path = real + "/" + name;
    struct stat st;
    if (lstat(path.c_str(), &st) != 0) return -errno;
    if (S_ISDIR(st.st_mode)) {
      Inode* sub = NewInode(true, st.st_mode, name);
      if (int rc = LoadDir(path, *sub); rc != 0) return rc;
      dir.entries[name] = sub->ino;
    } else if (S_ISREG(st.st_mode)) {
      Inode* f = NewInode(false, st.st_mode, name);
      f->mtime = st.st_mtim;
      int fd = open(path.c_str(), O_RDONLY);
      if (fd < 0) return -errno;
      const uint64_t size = static_cast<uint64_t>(st.st_size);
      for (uint64_t i = 0; i * kPage < size; ++i) {
        auto p = std::make_unique<Page>();
        p->fill(0);
        const ssize_t n = pread(fd, p->data(), kPage, static_cast<off_t>(i * kPage));
        if (n < 0) {
          close(fd);
          return -errno;
        }
        bool zero = std::all_of(p->begin(), p->end(), [](char c) { return c == 0; });
        if (!zero) f->durable[i] = std::move(p);
      }
      close(fd);
      f->durable_size = f->size = f->floor = size;
      dir.entries[name] = f->ino;
    }
  }
  dir.durable_entries = dir.entries;
  return 0;
}

int StoreDir(const std::string& real, const Inode& dir) {
  for (const auto& [name, ino] : dir.durable_entries) {
    const Inode* n = Get(ino);
    const std::string path = real + "/" + name;
    if (n->dir) {
      if (mkdir(path.c_str(), n->mode | 0700) != 0) return -errno;
      if (int rc = StoreDir(path, *n); rc != 0) return rc;
    } else {
      int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, n->mode | 0600);
      if (fd < 0) return -errno;
      for (const auto& [i, p] : n->durable) {
        const uint64_t start = i * kPage;
        if (start >= n->durable_size) break;
        const size_t len = static_cast<size_t>(std::min(kPage, n->durable_size - start));
        if (pwrite(fd, p->data(), len, static_cast<off_t>(start)) != static_cast<ssize_t>(len)) {
          close(fd);
          return -EIO;
        }
      }
      if (ftruncate(fd, static_cast<off_t>(n->durable_size)) != 0) {
        close(fd);
        return -errno;
      }
      close(fd);
    }
  }
  return 0;
}

// Replaces the backing directory's content with the durable state.
int StoreBacking() {
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(g_backing, ec)) {
    std::filesystem::remove_all(e.path(), ec);
  }
  int rc = StoreDir(g_backing, *Get(kRootIno));
  if (rc != 0) {
    fprintf(stderr, "engram_lazyfs: writing %s failed: %s\n", g_backing.c_str(), strerror(-rc));
  }
  sync();
  return rc;
}

// The power cut: keeps durable state plus a random subset of dirty pages.
void Cut(double keep_fraction, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::bernoulli_distribution keep(std::clamp(keep_fraction, 0.0, 1.0));
  for (auto& [ino, n] : g_inodes) {
    if (n->dir) {
      n->entries = n->durable_entries;
      continue;
    }
    for (auto& [i, p] : n->dirty) {
      if (keep_fraction > 0 && keep(rng) && i * kPage < n->durable_size) {
        n->durable[i] = std::move(p);
        ++g_counters.kept;
      } else {
        ++g_counters.dropped;
      }
    }
    n->dirty.clear();
    n->ghost.clear();
    n->size = n->floor = n->durable_size;
  }
  g_power_off = true;
  StoreBacking();
}

// ---- control file ----

std::string CtlStatus() {
  std::ostringstream o;
  o << "power " << (g_power_off ? "off" : "on") << "\n"
    << "fsyncs " << g_counters.fsyncs << "\n"
    << "injected_fsync_eio " << g_counters.fsync_eio << "\n"
    << "injected_enospc " << g_counters.enospc << "\n"
    << "injected_read_eio " << g_counters.read_eio << "\n"
    << "kept_pages " << g_counters.kept << "\n"
    << "dropped_pages " << g_counters.dropped << "\n";
  return o.str();
}

int CtlCommand(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> w;
  for (std::string s; in >> s;) w.push_back(s);
  if (w.empty()) return 0;
  if (w[0] == "cut" && (w.size() == 1 || w.size() == 3)) {
    if (g_power_off) return -EIO;
    double keep = 0;
    uint64_t seed = 0;
    if (w.size() == 3) {
      char* end = nullptr;
      keep = std::strtod(w[1].c_str(), &end);
      if (*end != 0 || keep < 0 || keep > 1) return -EINVAL;
      seed = std::strtoull(w[2].c_str(), &end, 10);
      if (*end != 0) return -EINVAL;
    }
    Cut(keep, seed);
    return 0;
  }
  if (w[0] == "clear" && w.size() == 1) {
    g_faults = Faults{};
    return 0;
  }
  if (w[0] == "fail" && w.size() >= 4 && w[1] == "fsync" && w[2] == "EIO" && w[3] == "once" &&
      w.size() <= 5) {
    g_faults.fsync_eio_once = true;
    g_faults.fsync_glob = w.size() == 5 ? w[4] : "*";
    return 0;
  }
  if (w[0] == "fail" && w.size() == 4 && w[1] == "write" && w[2] == "ENOSPC") {
    g_faults.write_enospc = true;
    g_faults.write_glob = w[3];
    return 0;
  }
  if (w[0] == "fail" && w.size() == 5 && w[1] == "read" && w[2] == "EIO") {
    char* end = nullptr;
    const uint64_t off = std::strtoull(w[4].c_str(), &end, 10);
    if (*end != 0) return -EINVAL;
    g_faults.read_eio = true;
    g_faults.read_glob = w[3];
    g_faults.read_offset = off;
    return 0;
  }
  return -EINVAL;
}

// ---- operations ----

void FillStat(const Inode& n, struct stat* st) {
  std::memset(st, 0, sizeof *st);
  st->st_ino = n.ino;
  st->st_uid = getuid();
  st->st_gid = getgid();
  st->st_mtim = st->st_ctim = st->st_atim = n.mtime;
  st->st_blksize = kPage;
  if (n.dir) {
    st->st_mode = S_IFDIR | n.mode;
    st->st_nlink = 2;
  } else if (n.ino == kCtlIno) {
    st->st_mode = S_IFREG | 0600;
    st->st_nlink = 1;
    st->st_size = 0;
  } else {
    st->st_mode = S_IFREG | n.mode;
    st->st_nlink = 1;
    st->st_size = static_cast<off_t>(n.size);
    st->st_blocks = static_cast<blkcnt_t>((n.dirty.size() + n.durable.size()) * (kPage / 512));
  }
}

void* OpInit(struct fuse_conn_info*, struct fuse_config* cfg) {
  cfg->use_ino = 1;
  cfg->hard_remove = 1;
  cfg->nullpath_ok = 1;
  cfg->entry_timeout = 0;
  cfg->attr_timeout = 0;
  cfg->negative_timeout = 0;
  cfg->kernel_cache = 0;
  cfg->direct_io = 0;
  return nullptr;
}

void OpDestroy(void*) {
  std::lock_guard<std::mutex> l(g_mu);
  if (g_power_off) return;  // the cut already stored the durable state
  // A clean unmount syncs everything.
  for (auto& [ino, n] : g_inodes) {
    if (n->dir) {
      n->durable_entries = n->entries;
    } else {
      SyncFile(*n);
    }
  }
  StoreBacking();
}

int OpGetattr(const char* path, struct stat* st, struct fuse_file_info* fi) {
  std::lock_guard<std::mutex> l(g_mu);
  Inode* n = FromFi(path, fi);
  if (n == nullptr) return -ENOENT;
  if (g_power_off && n->ino != kCtlIno && n->ino != kRootIno) return -EIO;
  FillStat(*n, st);
  return 0;
}

int OpReaddir(const char* path, void* buf, fuse_fill_dir_t filler, off_t,
              struct fuse_file_info* fi, enum fuse_readdir_flags) {
  std::lock_guard<std::mutex> l(g_mu);
  if (g_power_off) return -EIO;
  Inode* d = FromFi(path, fi);
  if (d == nullptr) return -ENOENT;
  if (!d->dir) return -ENOTDIR;
  filler(buf, ".", nullptr, 0, static_cast<fuse_fill_dir_flags>(0));
  filler(buf, "..", nullptr, 0, static_cast<fuse_fill_dir_flags>(0));
  for (const auto& [name, ino] : d->entries) {
    struct stat st;
    FillStat(*Get(ino), &st);
    filler(buf, name.c_str(), &st, 0, static_cast<fuse_fill_dir_flags>(0));
  }
  return 0;
}

int OpOpendir(const char* path, struct fuse_file_info* fi) {
  std::lock_guard<std::mutex> l(g_mu);
  if (g_power_off) return -EIO;
  Inode* d = Resolve(path);
  if (d == nullptr) return -ENOENT;
  if (!d->dir) return -ENOTDIR;
  fi->fh = d->ino;
  return 0;
}

int OpMkdir(const char* path, mode_t mode) {
  std::lock_guard<std::mutex> l(g_mu);
  if (g_power_off) return -EIO;
  std::string name;
  Inode* parent = ResolveParent(path, &name);
  if (parent == nullptr) return -ENOENT;
  if (parent->entries.count(name) || (parent->ino == kRootIno && name == kCtlName)) {
    return -EEXIST;
  }
  Inode* d = NewInode(true, mode, name);
  parent->entries[name] = d->ino;
  parent->mtime = Now();
  return 0;
}

int RemoveEntry(const char* path, bool want_dir) {
  std::lock_guard<std::mutex> l(g_mu);
  if (g_power_off) return -EIO;
  std::string name;
  Inode* parent = ResolveParent(path, &name);
  if (parent == nullptr) return -ENOENT;
  auto it = parent->entries.find(name);
  if (it == parent->entries.end()) return -ENOENT;
  Inode* n = Get(it->second);
  if (want_dir && !n->dir) return -ENOTDIR;
  if (!want_dir && n->dir) return -EISDIR;
  if (want_dir && !n->entries.empty()) return -ENOTEMPTY;
  parent->entries.erase(it);
  parent->mtime = Now();
  return 0;
}

int OpUnlink(const char* path) { return RemoveEntry(path, false); }
int OpRmdir(const char* path) { return RemoveEntry(path, true); }

int OpRename(const char* from, const char* to, unsigned int flags) {
  std::lock_guard<std::mutex> l(g_mu);
  if (g_power_off) return -EIO;
  if (flags & ~RENAME_NOREPLACE) return -EINVAL;
  std::string from_name, to_name;
  Inode* fp = ResolveParent(from, &from_name);
  Inode* tp = ResolveParent(to, &to_name);
  if (fp == nullptr || tp == nullptr) return -ENOENT;
  auto it = fp->entries.find(from_name);
  if (it == fp->entries.end()) return -ENOENT;
  const uint64_t ino = it->second;
  Inode* n = Get(ino);
  auto old = tp->entries.find(to_name);
  if (old != tp->entries.end()) {
    if (old->second == ino) return 0;
    if (flags & RENAME_NOREPLACE) return -EEXIST;
    Inode* victim = Get(old->second);
    if (victim->dir != n->dir) return n->dir ? -ENOTDIR : -EISDIR;
    if (victim->dir && !victim->entries.empty()) return -ENOTEMPTY;
  }
  fp->entries.erase(from_name);
  tp->entries[to_name] = ino;
  n->name = to_name;
  fp->mtime = tp->mtime = Now();
  return 0;
}

int OpCreate(const char* path, mode_t mode, struct fuse_file_info* fi) {
  std::lock_guard<std::mutex> l(g_mu);
  if (g_power_off) return -EIO;
  std::string name;
  Inode* parent = ResolveParent(path, &name);
  if (parent == nullptr) return -ENOENT;
  auto it = parent->entries.find(name);
  Inode* n = nullptr;
  if (it != parent->entries.end()) {
    if (fi->flags & O_EXCL) return -EEXIST;
    n = Get(it->second);
    if (n->dir) return -EISDIR;
    if (fi->flags & O_TRUNC) Truncate(*n, 0);
  } else {
    if (g_faults.write_enospc && Matches(g_faults.write_glob, name)) {
      // A full disk still allows creating a name in an existing directory
      // block; ENOSPC comes with the data.
    }
    n = NewInode(false, mode, name);
    parent->entries[name] = n->ino;
    parent->mtime = Now();
  }
  fi->fh = n->ino;
  return 0;
}

int OpOpen(const char* path, struct fuse_file_info* fi) {
  std::lock_guard<std::mutex> l(g_mu);
  Inode* n = Resolve(path);
  if (n == nullptr) return -ENOENT;
  if (n->dir) return -EISDIR;
  if (n->ino == kCtlIno) {
    fi->direct_io = 1;
    fi->nonseekable = 1;
  } else if (g_power_off) {
    return -EIO;
  }
  fi->fh = n->ino;
  return 0;
}

int OpRead(const char* path, char* buf, size_t size, off_t off, struct fuse_file_info* fi) {
  std::lock_guard<std::mutex> l(g_mu);
  Inode* n = FromFi(path, fi);
  if (n == nullptr) return -ENOENT;
  if (n->ino == kCtlIno) {
    const std::string s = CtlStatus();
    if (static_cast<size_t>(off) >= s.size()) return 0;
    const size_t k = std::min(size, s.size() - static_cast<size_t>(off));
    std::memcpy(buf, s.data() + off, k);
    return static_cast<int>(k);
  }
  if (g_power_off) return -EIO;
  const uint64_t start = static_cast<uint64_t>(off);
  if (start >= n->size) return 0;
  const uint64_t len = std::min<uint64_t>(size, n->size - start);
  if (g_faults.read_eio && Matches(g_faults.read_glob, n->name) &&
      g_faults.read_offset >= start && g_faults.read_offset < start + len) {
    ++g_counters.read_eio;
    return -EIO;
  }
  uint64_t done = 0;
  Page page;
  while (done < len) {
    const uint64_t at = start + done;
    const uint64_t in = at % kPage;
    const uint64_t k = std::min<uint64_t>(kPage - in, len - done);
    CurrentPage(*n, at / kPage, page.data());
    std::memcpy(buf + done, page.data() + in, k);
    done += k;
  }
  return static_cast<int>(len);
}

int OpWrite(const char* path, const char* buf, size_t size, off_t off,
            struct fuse_file_info* fi) {
  std::lock_guard<std::mutex> l(g_mu);
  Inode* n = FromFi(path, fi);
  if (n == nullptr) return -ENOENT;
  if (n->ino == kCtlIno) {
    std::string text(buf, size);
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
      if (int rc = CtlCommand(line); rc != 0) return rc;
    }
    return static_cast<int>(size);
  }
  if (g_power_off) return -EIO;
  if (g_faults.write_enospc && Matches(g_faults.write_glob, n->name)) {
    ++g_counters.enospc;
    return -ENOSPC;
  }
  WriteBytes(*n, buf, size, static_cast<uint64_t>(off));
  return static_cast<int>(size);
}

int OpTruncate(const char* path, off_t size, struct fuse_file_info* fi) {
  std::lock_guard<std::mutex> l(g_mu);
  Inode* n = FromFi(path, fi);
  if (n == nullptr) return -ENOENT;
  if (n->ino == kCtlIno) return 0;
  if (g_power_off) return -EIO;
  if (n->dir) return -EISDIR;
  if (size < 0) return -EINVAL;
  if (static_cast<uint64_t>(size) > n->size && g_faults.write_enospc &&
      Matches(g_faults.write_glob, n->name)) {
    ++g_counters.enospc;
    return -ENOSPC;
  }
  Truncate(*n, static_cast<uint64_t>(size));
  return 0;
}

int OpFallocate(const char* path, int mode, off_t off, off_t len, struct fuse_file_info* fi) {
  std::lock_guard<std::mutex> l(g_mu);
  if (g_power_off) return -EIO;
  Inode* n = FromFi(path, fi);
  if (n == nullptr) return -ENOENT;
  if (n->dir || n->ino == kCtlIno) return -EISDIR;
  if (mode & ~FALLOC_FL_KEEP_SIZE) return -EOPNOTSUPP;
  if (off < 0 || len <= 0) return -EINVAL;
  if (g_faults.write_enospc && Matches(g_faults.write_glob, n->name)) {
    ++g_counters.enospc;
    return -ENOSPC;
  }
  const uint64_t end = static_cast<uint64_t>(off) + static_cast<uint64_t>(len);
  if (!(mode & FALLOC_FL_KEEP_SIZE) && end > n->size) {
    n->size = end;
    n->mtime = Now();
  }
  return 0;
}

int OpFsync(const char* path, int, struct fuse_file_info* fi) {
  std::lock_guard<std::mutex> l(g_mu);
  if (g_power_off) return -EIO;
  Inode* n = FromFi(path, fi);
  if (n == nullptr) return -ENOENT;
  if (n->ino == kCtlIno) return 0;
  ++g_counters.fsyncs;
  if (g_faults.fsync_eio_once && Matches(g_faults.fsync_glob, n->name)) {
    g_faults.fsync_eio_once = false;
    ++g_counters.fsync_eio;
    // The writeback failed: the pages stay readable but are clean, so no
    // later fsync writes them.
    for (auto& [i, p] : n->dirty) n->ghost[i] = std::move(p);
    n->dirty.clear();
    return -EIO;
  }
  SyncFile(*n);
  return 0;
}

int OpFsyncdir(const char* path, int, struct fuse_file_info* fi) {
  std::lock_guard<std::mutex> l(g_mu);
  if (g_power_off) return -EIO;
  Inode* d = FromFi(path, fi);
  if (d == nullptr) return -ENOENT;
  if (!d->dir) return -ENOTDIR;
  ++g_counters.fsyncs;
  d->durable_entries = d->entries;
  return 0;
}

int OpFlush(const char*, struct fuse_file_info*) { return 0; }
int OpRelease(const char*, struct fuse_file_info*) { return 0; }
int OpReleasedir(const char*, struct fuse_file_info*) { return 0; }

int OpChmod(const char* path, mode_t mode, struct fuse_file_info* fi) {
  std::lock_guard<std::mutex> l(g_mu);
  if (g_power_off) return -EIO;
  Inode* n = FromFi(path, fi);
  if (n == nullptr) return -ENOENT;
  n->mode = mode & 07777;
  return 0;
}

int OpChown(const char* path, uid_t, gid_t, struct fuse_file_info* fi) {
  std::lock_guard<std::mutex> l(g_mu);
  if (g_power_off) return -EIO;
  return FromFi(path, fi) == nullptr ? -ENOENT : 0;
}

int OpUtimens(const char* path, const struct timespec tv[2], struct fuse_file_info* fi) {
  std::lock_guard<std::mutex> l(g_mu);
  if (g_power_off) return -EIO;
  Inode* n = FromFi(path, fi);
  if (n == nullptr) return -ENOENT;
  n->mtime = tv == nullptr || tv[1].tv_nsec == UTIME_NOW ? Now() : tv[1];
  return 0;
}

int OpStatfs(const char*, struct statvfs* st) {
  std::memset(st, 0, sizeof *st);
  st->f_bsize = st->f_frsize = kPage;
  st->f_blocks = st->f_bfree = st->f_bavail = 1u << 24;  // 64 GiB
  st->f_files = st->f_ffree = 1u << 20;
  st->f_namemax = 255;
  return 0;
}

int OpAccess(const char* path, int) {
  std::lock_guard<std::mutex> l(g_mu);
  return Resolve(path) == nullptr ? -ENOENT : 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: engram_lazyfs BACKING_DIR MOUNTPOINT [fuse options...]\n");
    return 2;
  }
  std::error_code ec;
  g_backing = std::filesystem::absolute(argv[1], ec).string();
  struct stat st;
  if (stat(g_backing.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    fprintf(stderr, "engram_lazyfs: backing directory %s does not exist\n", g_backing.c_str());
    return 2;
  }
  {
    auto root = std::make_unique<Inode>();
    root->ino = kRootIno;
    root->dir = true;
    root->mode = 0755;
    root->mtime = Now();
    g_inodes[kRootIno] = std::move(root);
    auto ctl = std::make_unique<Inode>();
    ctl->ino = kCtlIno;
    ctl->name = kCtlName;
    g_inodes[kCtlIno] = std::move(ctl);
    if (int rc = LoadDir(g_backing, *Get(kRootIno)); rc != 0) {
      fprintf(stderr, "engram_lazyfs: cannot load %s: %s\n", g_backing.c_str(), strerror(-rc));
      return 1;
    }
  }
  struct fuse_operations ops {};
  ops.init = OpInit;
  ops.destroy = OpDestroy;
  ops.getattr = OpGetattr;
  ops.readdir = OpReaddir;
  ops.opendir = OpOpendir;
  ops.releasedir = OpReleasedir;
  ops.mkdir = OpMkdir;
  ops.unlink = OpUnlink;
  ops.rmdir = OpRmdir;
  ops.rename = OpRename;
  ops.create = OpCreate;
  ops.open = OpOpen;
  ops.read = OpRead;
  ops.write = OpWrite;
  ops.truncate = OpTruncate;
  ops.fallocate = OpFallocate;
  ops.fsync = OpFsync;
  ops.fsyncdir = OpFsyncdir;
  ops.flush = OpFlush;
  ops.release = OpRelease;
  ops.chmod = OpChmod;
  ops.chown = OpChown;
  ops.utimens = OpUtimens;
  ops.statfs = OpStatfs;
  ops.access = OpAccess;

  std::vector<char*> args;
  args.push_back(argv[0]);
  args.push_back(argv[2]);
  static char fg[] = "-f";
  static char o[] = "-o";
  static char opts[] = "fsname=engram_lazyfs,subtype=lazyfs";
  args.push_back(fg);
  args.push_back(o);
  args.push_back(opts);
  for (int i = 3; i < argc; ++i) args.push_back(argv[i]);
  return fuse_main(static_cast<int>(args.size()), args.data(), &ops, nullptr);
}
