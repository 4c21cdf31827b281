// An in-process power-cut model for tests: what the disk holds if the power
// fails now (or at an earlier sync point), as POSIX allows it.
//
// What is modelled
//   * A regular file holds, after a cut, the bytes its last fsync/fdatasync
//     covered: the model reads the whole file (pread; for a MAP_SHARED file
//     that sees the mapped bytes) when the sync is CALLED and records it as
//     the inode's durable content once the sync returns 0. Bytes stored
//     while the sync runs are not counted (they may or may not be on disk).
//     fdatasync is taken to cover the file size (the metadata needed to read
//     the data back), as Linux does. msync(MS_SYNC) covers its byte range of
//     the mapping only; MS_ASYNC covers nothing.
//   * A directory holds the names its last directory fsync covered: the
//     model lists it (name -> inode, type, size) when fsync is called on it.
//     So a fresh file whose name no directory fsync covered does not exist
//     after the cut, a rename or unlink that no later directory fsync
//     covered is undone (an unlinked file comes back with its durable
//     content: every inode the model has seen is kept open, so its number
//     is not reused and its bytes can still be read), and a mkdir is durable
//     only once the parent directory is fsynced.
//   * A file that exists by a durable name but was never data-synced holds
//     its size (as listed at the directory fsync, e.g. posix_fallocate'd) in
//     zeros, or is empty (CrashOptions::unsynced_files_empty); both are legal.
//   * Optionally (current instant only) the kernel also wrote back a random,
//     seeded subset of whole 4 KiB pages of the current content of each
//     surviving file (CrashOptions::dirty_page_probability).
//   * Everything under the watched root at Watch() time counts as durable.
// What is not modelled
//   * No reordering or tearing inside a 4 KiB page (a page is written back
//     whole, as of one instant), no sector-level tearing, no bit rot, no
//     lost or misdirected writes, no ENOSPC/EIO from a sync.
//   * Metadata other than names and file sizes (modes, times, xattrs).
//   * Files outside the watched tree, hard links (a name is an inode), and
//     symlinks.
//   * Syncs that bypass these entry points (sync(), syncfs(),
//     sync_file_range(), O_SYNC/O_DSYNC writes): engram uses none of them.
//
// Mechanism: the test executable is linked with
// -Wl,--wrap=fsync,--wrap=fdatasync,--wrap=msync (and rename, unlink,
// mkdir, ftruncate, posix_fallocate, only for the event log), so every call
// from libengram.a and the test's own objects goes to __wrap_X here, which
// records and calls the real X. Calls made inside shared libraries (e.g.
// std::filesystem's mkdir/remove in libstdc++) are not seen; the model needs
// only the sync calls, which engram makes itself, so this loses nothing but
// log lines.
//
// Sync points: every modelled sync is numbered 1, 2, ...; point 0 is the
// Watch() instant. CrashImage(at_point = k) gives the disk as of the instant
// right after sync k returned (and before sync k+1), which covers every
// instant of a run between two syncs. A test that records SyncModel::point()
// right after an acknowledgement knows the ack preceded every cut at a
// point >= that number.
//
// Thread-safety: all methods are thread-safe; modelled syncs of the watched
// tree are serialised by one mutex (held across the real system call, so
// that the model's durable state never goes backwards).
#ifndef ENGRAM_TESTS_POWERCUT_SYNC_MODEL_H_
#define ENGRAM_TESTS_POWERCUT_SYNC_MODEL_H_

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace engram::powercut {

// One entry of the event log.
struct SyncEvent {
  enum class Kind {
    kFdatasync,
    kFsyncFile,
    kFsyncDir,
    kMsync,
    // Not sync points (logged for failure messages only):
    kRename,
    kUnlink,
    kMkdir,
    kFtruncate,
    kFallocate,
  };
  uint64_t point = 0;  // the sync point number (for non-syncs: the last one)
  Kind kind = Kind::kFdatasync;
  std::string path;    // relative to the watched root ("" = the root)
  std::string detail;  // e.g. the rename target, the file size synced
  bool is_sync_point() const { return kind <= Kind::kMsync; }
};
const char* KindName(SyncEvent::Kind kind);

struct CrashOptions {
  static constexpr uint64_t kNow = ~uint64_t{0};
  // The sync point to cut at, or kNow for the current instant.
  uint64_t at_point = kNow;
  // kNow only: each 4 KiB page of a surviving file's current content is also
  // on disk with this probability (the kernel's own writeback).
  double dirty_page_probability = 0;
  uint64_t seed = 1;
  // A file never data-synced: empty (true) instead of its size in zeros.
  bool unsynced_files_empty = false;
};

class SyncModel {
 public:
  // The process-wide model (the wrapped system calls report to it).
  static SyncModel& Get();

  // Starts modelling the tree under `root` (an existing directory), whose
  // current names and bytes count as durable. Forgets any earlier state
  // (and closes the descriptors it held). `keep_points`: keep the state of
  // every sync point for CrashImage(at_point) (costs a map copy per sync).
  absl::Status Watch(const std::string& root, bool keep_points = true);
  // Stops modelling and forgets everything.
  void Unwatch();

  // The number of the last sync point (0: none since Watch()).
  uint64_t point() const;
  // The event log since Watch().
  std::vector<SyncEvent> Events() const;
  // The log as text, events with point in [from, to] (for failure messages).
  std::string DescribeEvents(uint64_t from, uint64_t to) const;

  // Writes to `out_dir` (created; must not exist or be empty) the watched
  // tree as a power cut would leave it: at the current instant or at an
  // earlier sync point.
  absl::Status CrashImage(const std::string& out_dir, const CrashOptions& options = {}) const;

  // Called by the wrappers. `real` performs the system call.
  int OnFileSync(int fd, SyncEvent::Kind kind, int (*real)(int));
  int OnMsync(void* addr, size_t len, int flags, int (*real)(void*, size_t, int));
  void Log(SyncEvent::Kind kind, const std::string& abs_path, const std::string& detail);
  void LogFd(SyncEvent::Kind kind, int fd, const std::string& detail);

  struct Entry {
    ino_t ino = 0;
    bool is_dir = false;
    uint64_t size = 0;
  };
  using Listing = std::map<std::string, Entry>;
  struct State {
    std::map<ino_t, std::shared_ptr<const std::string>> content;  // files
    std::map<ino_t, std::shared_ptr<const Listing>> dirs;         // directories
  };

 private:
  SyncModel() = default;
  // Relative path of `abs` under the root, or false when outside it.
  bool Relative(const std::string& abs, std::string* rel) const;
  void PinLocked(ino_t ino, int fd_to_adopt);
  absl::Status ListLocked(const std::string& abs_dir, Listing* out);
  absl::Status SnapshotTreeLocked(const std::string& abs_dir, ino_t ino);
  void CommitPointLocked(SyncEvent ev);
  absl::Status EmitLocked(const State& s, ino_t dir_ino, const std::string& out,
                          const CrashOptions& o, uint64_t* rng) const;
  void ResetLocked();

  mutable std::mutex mu_;
  bool watching_ = false;
  bool keep_points_ = true;
  std::string root_;  // canonical absolute path, no trailing slash
  dev_t dev_ = 0;
  ino_t root_ino_ = 0;
  State durable_;
  std::vector<State> points_;  // points_[k]: the state after sync point k
  uint64_t point_ = 0;
  std::vector<SyncEvent> events_;
  std::map<ino_t, int> pinned_;  // one read-only descriptor per inode seen
};

}  // namespace engram::powercut

#endif  // ENGRAM_TESTS_POWERCUT_SYNC_MODEL_H_
