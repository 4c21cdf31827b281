#include "journal/internal/journal_state_file.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <cstring>
#include <ctime>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "journal/internal/mapped_file.h"
#include "journal/internal/shared_futex.h"

namespace engram::internal {

// Memory orders, field by field (the page is shared with other processes;
// lock-free atomics are address-free, so std::atomic_ref on the mapping is
// valid across processes):
//
//   magic, version, page_size: written before the file gets its name
//     (pwrite, then rename) and never changed; followers check them with
//     pread before mapping.
//   journal_id, writer_pid, epoch, closed: stored (release) by the writer
//     (CreateForWriter, SetEpoch, MarkClosed), each followed by Wake()'s
//     seq_cst increment of `sequence`; loaded (acquire) by anyone.
//   committed_lsn: stored (release) only by the thread in the journal's
//     publication window, before Wake(); a follower that acquires a
//     `sequence` value bumped after it sees it (and every record it covers).
//   durable_lsn / replicated_lsn: stored (release) by the flusher / the
//     replicator (durable_lsn at kProcess: by PublishCommitted's caller),
//     then Wake(); loaded (acquire).
//   heartbeat_ns: stored (relaxed) by the heartbeat thread or Heartbeat();
//     loaded (relaxed): it orders nothing else, readers only compare times.
//   sequence: the futex word: bits 1..31 count publishes, bit 0 says "a
//     follower may be asleep on this word". Every Wake() adds one to the
//     count and clears bit 0 in one seq_cst CAS (so concurrent wakers --
//     appender, flusher, replicator -- never lose a bump) and calls
//     FUTEX_WAKE only if bit 0 was set; a follower sets bit 0 (seq_cst
//     CAS) before it sleeps. A follower killed in its sleep therefore
//     costs at most one needless wake syscall: the next publish clears
//     its bit. Loaded (acquire) by sequence() and (seq_cst) by
//     WaitForChange; compared by the kernel in FUTEX_WAIT.
//   waiters: for diagnostics only (tests, `waiters()`): incremented
//     (seq_cst RMW) by a follower entering WaitForChange, decremented
//     (release) when it leaves. Nothing decides on it, so a follower that
//     dies inside the wait leaves it one too high at no cost. Never reset
//     by a writer (a follower may be asleep across a change of writer).
namespace {

template <typename T>
std::atomic_ref<T> Ref(T& field) noexcept {
  return std::atomic_ref<T>(field);
}

// Header fields read with pread before mapping (so a short file never
// raises SIGBUS).
struct StateHeader {
  uint64_t magic;
  uint32_t version;
  uint32_t page_size;
};

// Checks an open STATE file's size and header (the writer replaces a file
// that fails; a follower reports the error).
absl::Status CheckStateFile(int fd, const std::string& path) {
  struct stat st;
  if (fstat(fd, &st) != 0) return ErrnoStatus(errno, absl::StrCat("fstat ", path));
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  StateHeader h{};
  if (size < sizeof h) {
    return absl::DataLossError(absl::StrFormat(
        "journal state file %s is truncated: %u bytes, too short for its "
        "magic/version/page_size header (the page is %u bytes)",
        path, size, kStatePageSize));
  }
  const ssize_t n = pread(fd, &h, sizeof h, 0);
  if (n != static_cast<ssize_t>(sizeof h)) {
    if (n < 0) return ErrnoStatus(errno, absl::StrCat("read ", path));
    return absl::DataLossError(absl::StrFormat(
        "journal state file %s: short read of its header (%d bytes)", path, n));
  }
  if (h.magic != kStateMagic) {
    return absl::DataLossError(absl::StrFormat(
        "journal state file %s: bad magic 0x%016x at offset 0 (expected 0x%016x, "
        "\"engramST\")",
        path, h.magic, kStateMagic));
  }
  if (h.version != kStateVersion) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "journal state file %s: layout version %u at offset 8 is not supported "
        "(this build reads version %u)",
        path, h.version, kStateVersion));
  }
  if (h.page_size != kStatePageSize) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "journal state file %s: page_size field at offset 12 is %u, expected %u",
        path, h.page_size, kStatePageSize));
  }
  if (size != kStatePageSize) {
    return absl::DataLossError(absl::StrFormat(
        "journal state file %s is %u bytes, but its page_size field says %u%s",
        path, size, kStatePageSize, size < kStatePageSize ? " (truncated)" : ""));
  }
  return absl::OkStatus();
}

absl::StatusOr<StatePage*> MapPage(int fd, const std::string& path) {
  void* p = mmap(nullptr, kStatePageSize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) return ErrnoStatus(errno, absl::StrCat("mmap ", path));
  return static_cast<StatePage*>(p);
}

// Creates a fresh, valid page under a temporary name and renames it to
// `path`: a follower opens either the old file or the whole new one.
// Returns the open descriptor of the new file.
absl::StatusOr<int> CreateFreshPage(const std::string& dir, const std::string& path,
                                    mode_t mode) {
  const std::string tmp = absl::StrCat(dir, "/", kStateFileName, ".tmp");
  int fd = open(tmp.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return ErrnoStatus(errno, absl::StrCat("create ", tmp));
  auto fail = [&](int err, const std::string& what) {
    close(fd);
    unlink(tmp.c_str());
    return ErrnoStatus(err, what);
  };
  // Blocks reserved, so that stores into the mapping never raise SIGBUS on
  // a full disk.
  if (int err = posix_fallocate(fd, 0, kStatePageSize); err != 0) {
    return fail(err, absl::StrFormat("preallocate %u bytes for %s", kStatePageSize, tmp));
  }
  StatePage page;
  std::memset(&page, 0, sizeof page);
  page.magic = kStateMagic;
  page.version = kStateVersion;
  page.page_size = kStatePageSize;
  page.closed = 1;  // until CreateForWriter has filled in the rest
  if (pwrite(fd, &page, sizeof page, 0) != static_cast<ssize_t>(sizeof page)) {
    return fail(errno, absl::StrCat("write ", tmp));
  }
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    return fail(errno, absl::StrCat("rename ", tmp, " to ", path));
  }
  return fd;
}

}  // namespace

uint64_t MonotonicNanos() noexcept {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

JournalStateFile::JournalStateFile(std::string path, int fd, StatePage* page, bool writer)
    : path_(std::move(path)), fd_(fd), page_(page), writer_(writer) {}

JournalStateFile::~JournalStateFile() {
  StopHeartbeat();
  munmap(page_, kStatePageSize);
  close(fd_);
}

absl::StatusOr<std::unique_ptr<JournalStateFile>> JournalStateFile::CreateForWriter(
    const std::string& dir, uint64_t journal_id, mode_t mode) {
  const std::string path = absl::StrCat(dir, "/", kStateFileName);
  // Reuse a valid page in place: followers that mapped it (waiting across a
  // restart or a takeover) keep the same inode and see the new writer.
  // Anything else is replaced by rename, never truncated in place (a
  // follower's mapping of a shrunk file would raise SIGBUS).
  int fd = open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd >= 0 && !CheckStateFile(fd, path).ok()) {
    close(fd);
    fd = -1;
  } else if (fd < 0 && errno != ENOENT) {
    return ErrnoStatus(errno, absl::StrCat("open journal state file ", path));
  }
  if (fd < 0) {
    auto created = CreateFreshPage(dir, path, mode);
    if (!created.ok()) return created.status();
    fd = *created;
  }
  auto page = MapPage(fd, path);
  if (!page.ok()) {
    close(fd);
    return page.status();
  }
  std::unique_ptr<JournalStateFile> f(new JournalStateFile(path, fd, *page, true));
  StatePage* p = f->page_;
  // A new tenure. Values only go down here (towards "nothing committed"),
  // so a follower that reads a mix of old and new values mid-reset errs on
  // the safe side; the journal publishes its recovered LSNs right after.
  Ref(p->closed).store(1, std::memory_order_release);
  Ref(p->committed_lsn).store(0, std::memory_order_release);
  Ref(p->durable_lsn).store(0, std::memory_order_release);
  Ref(p->replicated_lsn).store(0, std::memory_order_release);
  Ref(p->epoch).store(0, std::memory_order_release);
  Ref(p->journal_id).store(journal_id, std::memory_order_release);
  Ref(p->writer_pid).store(static_cast<uint32_t>(getpid()), std::memory_order_release);
  Ref(p->heartbeat_ns).store(MonotonicNanos(), std::memory_order_relaxed);
  Ref(p->closed).store(0, std::memory_order_release);
  f->Wake();
  return f;
}

absl::StatusOr<std::unique_ptr<JournalStateFile>> JournalStateFile::OpenForReader(
    const std::string& dir) {
  const std::string path = absl::StrCat(dir, "/", kStateFileName);
  // Read-write: FUTEX_WAIT works on a read-only mapping, but a follower
  // announces its sleep by setting bit 0 of the wake word, and the writer
  // makes a FUTEX_WAKE syscall only when that bit is set (see Wake). A
  // follower therefore needs write permission on STATE (same user as the
  // writer); it also counts itself in the diagnostic `waiters`.
  int fd = open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    const int e = errno;
    if (e == ENOENT) {
      return absl::NotFoundError(absl::StrCat(
          "journal state file ", path, " does not exist (no writer has published one)"));
    }
    return ErrnoStatus(e, absl::StrCat("open journal state file ", path,
                                       " read-write (a follower announces its sleep in the wake word)"));
  }
  if (absl::Status s = CheckStateFile(fd, path); !s.ok()) {
    close(fd);
    return s;
  }
  auto page = MapPage(fd, path);
  if (!page.ok()) {
    close(fd);
    return page.status();
  }
  return std::unique_ptr<JournalStateFile>(new JournalStateFile(path, fd, *page, false));
}

// The ordering argument (why a follower never sleeps through a change):
//
//   writer (Wake):                        follower (WaitForChange(seen)):
//     store field (release)                 (seen = sequence() was loaded by
//     W: CAS word: count+1, bit 0 cleared    the caller before its check)
//        (seq_cst); old = the word before    F1: w = load word (seq_cst);
//     if old had bit 0: FUTEX_WAKE(word)         count(w) != seen: changed
//                                           F2: CAS word w -> w|1 (seq_cst);
//                                               failed: back to F1
//                                           F3: FUTEX_WAIT(word, w|1)
//
// W and F2 are read-modify-writes of one word, so one of them comes first
// in its modification order. If W comes first, F2's CAS fails (the word
// changed) and F1 sees the new count: no sleep. If F2 comes first, W reads
// a word with bit 0 set and calls FUTEX_WAKE; the kernel orders the wake
// against the follower's FUTEX_WAIT on the futex's hash bucket: a follower
// already queued is woken, and one that queues after the wake finds the
// word != w|1 (W happened before the wake syscall) and returns at once.
// A change published before the caller's check is covered too: `seen` was
// loaded before the check, so any later W makes F1 see a different count.
//
// A field store before W is visible to a follower that acquires a word
// from W onwards (W is a release). Records in the segments are published
// (release) by the appender before it enters the publication window, so a
// Reader that loaded `seen` before looking for a record and did not find
// it is woken by the publish that makes it appear.
//
// Cost without followers: the field store and one locked CAS (on x86 the
// lock prefix is also the full barrier seq_cst needs); it succeeds first
// time unless another waker races. No load of another line, no syscall.
void JournalStateFile::Wake() noexcept {
  std::atomic_ref<uint32_t> word = Ref(page_->sequence);
  uint32_t old = word.load(std::memory_order_relaxed);
  while (!word.compare_exchange_weak(old, (old + 2) & ~1u, std::memory_order_seq_cst,
                                     std::memory_order_relaxed)) {
  }
  if ((old & 1u) != 0) SharedFutexWake(&page_->sequence, INT_MAX);
}

void JournalStateFile::PublishCommitted(uint64_t lsn, bool also_durable) noexcept {
  Ref(page_->committed_lsn).store(lsn, std::memory_order_release);
  if (also_durable) Ref(page_->durable_lsn).store(lsn, std::memory_order_release);
  Wake();
}

void JournalStateFile::PublishDurable(uint64_t lsn) noexcept {
  Ref(page_->durable_lsn).store(lsn, std::memory_order_release);
  Wake();
}

void JournalStateFile::PublishReplicated(uint64_t lsn) noexcept {
  Ref(page_->replicated_lsn).store(lsn, std::memory_order_release);
  Wake();
}

void JournalStateFile::SetEpoch(uint64_t epoch) noexcept {
  Ref(page_->epoch).store(epoch, std::memory_order_release);
  Wake();
}

void JournalStateFile::Heartbeat() noexcept {
  Ref(page_->heartbeat_ns).store(MonotonicNanos(), std::memory_order_relaxed);
}

void JournalStateFile::StartHeartbeat(absl::Duration period) {
  MutexLock lock(&hb_mu_);
  if (!writer_ || hb_stop_ || hb_thread_.joinable()) return;
  hb_thread_ = std::thread([this, period] { HeartbeatLoop(period); });
}

void JournalStateFile::HeartbeatLoop(absl::Duration period) {
  MutexLock lock(&hb_mu_);
  while (!hb_stop_) {
    Heartbeat();
    hb_cv_.WaitWithDeadline(&hb_mu_, absl::Now() + period);
  }
}

void JournalStateFile::StopHeartbeat() {
  std::thread t;
  {
    MutexLock lock(&hb_mu_);
    hb_stop_ = true;
    hb_cv_.SignalAll();
    t = std::move(hb_thread_);
  }
  if (t.joinable()) t.join();
}

void JournalStateFile::MarkClosed() {
  if (!writer_) return;
  StopHeartbeat();
  Ref(page_->closed).store(1, std::memory_order_release);
  Wake();
}

uint64_t JournalStateFile::journal_id() const noexcept {
  return Ref(page_->journal_id).load(std::memory_order_acquire);
}
uint32_t JournalStateFile::writer_pid() const noexcept {
  return Ref(page_->writer_pid).load(std::memory_order_acquire);
}
uint64_t JournalStateFile::epoch() const noexcept {
  return Ref(page_->epoch).load(std::memory_order_acquire);
}
uint64_t JournalStateFile::committed_lsn() const noexcept {
  return Ref(page_->committed_lsn).load(std::memory_order_acquire);
}
uint64_t JournalStateFile::durable_lsn() const noexcept {
  return Ref(page_->durable_lsn).load(std::memory_order_acquire);
}
uint64_t JournalStateFile::replicated_lsn() const noexcept {
  return Ref(page_->replicated_lsn).load(std::memory_order_acquire);
}
uint64_t JournalStateFile::heartbeat_ns() const noexcept {
  return Ref(page_->heartbeat_ns).load(std::memory_order_relaxed);
}
bool JournalStateFile::closed() const noexcept {
  return Ref(page_->closed).load(std::memory_order_acquire) != 0;
}
uint32_t JournalStateFile::sequence() const noexcept {
  return Ref(page_->sequence).load(std::memory_order_acquire) >> 1;  // the count
}
bool JournalStateFile::follower_may_sleep() const noexcept {
  return (Ref(page_->sequence).load(std::memory_order_acquire) & 1u) != 0;
}
uint32_t JournalStateFile::waiters() const noexcept {
  return Ref(page_->waiters).load(std::memory_order_acquire);
}

absl::Duration JournalStateFile::heartbeat_age() const noexcept {
  const uint64_t beat = heartbeat_ns();
  const uint64_t now = MonotonicNanos();
  if (beat >= now) return absl::ZeroDuration();
  return absl::Nanoseconds(static_cast<int64_t>(now - beat));
}

bool JournalStateFile::WaitForChange(uint32_t seen_sequence, absl::Time deadline) noexcept {
  // Counts compare in 31 bits (sequence() is the word without bit 0).
  const uint32_t seen = seen_sequence & 0x7FFFFFFFu;
  std::atomic_ref<uint32_t> word = Ref(page_->sequence);
  if ((word.load(std::memory_order_seq_cst) >> 1) != seen) return true;
  Ref(page_->waiters).fetch_add(1, std::memory_order_seq_cst);
  bool changed = false;
  for (;;) {
    uint32_t w = word.load(std::memory_order_seq_cst);  // F1 (see Wake)
    if ((w >> 1) != seen) {
      changed = true;
      break;
    }
    if ((w & 1u) == 0) {  // F2: announce the sleep
      if (!word.compare_exchange_strong(w, w | 1u, std::memory_order_seq_cst,
                                        std::memory_order_relaxed)) {
        continue;
      }
      w |= 1u;
    }
    if (deadline == absl::InfiniteFuture()) {  // F3
      SharedFutexWait(&page_->sequence, w, nullptr);
      continue;
    }
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) break;
    const timespec rel = absl::ToTimespec(left);
    SharedFutexWait(&page_->sequence, w, &rel);
  }
  Ref(page_->waiters).fetch_sub(1, std::memory_order_release);
  // F1 (seq_cst, so also an acquire) made the fields stored before the
  // bump it saw visible.
  return changed;
}

}  // namespace engram::internal
