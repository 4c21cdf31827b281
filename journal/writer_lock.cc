#include "engram/journal/writer_lock.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "journal/internal/format.h"
#include "journal/internal/mapped_file.h"

namespace engram {

namespace {

using internal::ErrnoStatus;
using internal::kLockFileName;

// Await looks again at least this often, whatever it waits on.
constexpr absl::Duration kAwaitSlice = absl::Milliseconds(50);

std::string LockPath(const std::string& dir) { return absl::StrCat(dir, "/", kLockFileName); }

// The PID text in the lock file `fd` ("" if none).
std::string HolderText(int fd) {
  char buf[32] = {0};
  ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
  std::string text(buf, n > 0 ? static_cast<size_t>(n) : 0);
  return std::string(absl::StripAsciiWhitespace(text));
}

// The holder's PID written in `dir`/LOCK, or 0.
pid_t HolderPid(const std::string& dir) {
  int fd = open(LockPath(dir).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  const std::string text = HolderText(fd);
  close(fd);
  int pid = 0;
  return absl::SimpleAtoi(text, &pid) && pid > 0 ? pid : 0;
}

// Sleeps until process `pid` exits or `timeout` passes; true if it exited
// (or does not exist).
bool AwaitExit(pid_t pid, absl::Duration timeout) {
  const int ms = static_cast<int>(std::max<int64_t>(absl::ToInt64Milliseconds(timeout), 1));
  const int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (pidfd < 0) {
    if (errno == ESRCH) return true;
    poll(nullptr, 0, ms);  // no pidfd (an old kernel, a foreign namespace)
    return false;
  }
  pollfd p{pidfd, POLLIN, 0};
  const int n = poll(&p, 1, ms);
  close(pidfd);
  return n > 0;
}

}  // namespace

absl::StatusOr<std::unique_ptr<WriterLock>> WriterLock::TryAcquire(const std::string& dir,
                                                                   mode_t mode) {
  const std::string path = LockPath(dir);
  // A LOCK file unlinked and made anew between our open and our flock would
  // leave us holding a lock nobody else sees: check that the locked inode
  // is still the one at the path, and start over if not.
  for (int attempt = 0;; ++attempt) {
    int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, mode);
    if (fd < 0) {
      const int e = errno;
      if (e == ENOENT) {
        return absl::NotFoundError(
            absl::StrCat("journal directory ", dir, " does not exist (lock file ", path, ")"));
      }
      return ErrnoStatus(e, absl::StrCat("open lock file ", path));
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
      const int e = errno;
      if (e == EWOULDBLOCK) {
        const std::string pid = HolderText(fd);
        close(fd);
        return absl::FailedPreconditionError(absl::StrFormat(
            "journal %s is locked by process %s (lock file %s); only one "
            "writer may open a journal",
            dir, pid.empty() ? "(unknown pid)" : pid, path));
      }
      close(fd);
      return ErrnoStatus(e, absl::StrCat("flock ", path));
    }
    struct stat locked {}, named {};
    if (fstat(fd, &locked) != 0 || stat(path.c_str(), &named) != 0 ||
        locked.st_ino != named.st_ino || locked.st_dev != named.st_dev) {
      close(fd);
      if (attempt < 8) continue;
      return absl::AbortedError(
          absl::StrCat("lock file ", path, " keeps being replaced while it is being locked"));
    }
    const std::string pid = absl::StrCat(getpid(), "\n");
    if (ftruncate(fd, 0) != 0 ||
        pwrite(fd, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
      const int e = errno;
      close(fd);
      return ErrnoStatus(e, absl::StrCat("write lock file ", path));
    }
    return std::unique_ptr<WriterLock>(new WriterLock(dir, fd));
  }
}

absl::StatusOr<std::unique_ptr<WriterLock>> WriterLock::Await(const std::string& dir,
                                                              absl::Duration timeout,
                                                              mode_t mode) {
  const absl::Time deadline = absl::Now() + timeout;
  pid_t exited = 0;  // a holder already seen to exit whose lock lives on
  for (;;) {
    absl::StatusOr<std::unique_ptr<WriterLock>> lock = TryAcquire(dir, mode);
    if (lock.ok() || lock.status().code() != absl::StatusCode::kFailedPrecondition) {
      return lock;
    }
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) {
      return absl::DeadlineExceededError(
          absl::StrCat("waited ", absl::FormatDuration(timeout), " for the writer lock: ",
                       lock.status().message()));
    }
    const absl::Duration slice = std::min(left, kAwaitSlice);
    const pid_t pid = HolderPid(dir);
    if (pid == 0 || pid == exited || pid == getpid()) {
      // Nobody to watch (or a holder that exited while a descendant keeps
      // its descriptor, or this process itself): look again shortly.
      poll(nullptr, 0, static_cast<int>(absl::ToInt64Milliseconds(slice)) + 1);
      continue;
    }
    if (AwaitExit(pid, slice)) exited = pid;
  }
}

WriterLock::~WriterLock() { close(fd_); }

}  // namespace engram
