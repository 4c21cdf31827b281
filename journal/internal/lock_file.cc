#include "journal/internal/lock_file.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "journal/internal/format.h"
#include "journal/internal/mapped_file.h"

namespace engram::internal {

absl::StatusOr<std::unique_ptr<LockFile>> LockFile::Acquire(
    const std::string& dir, mode_t mode) {
  const std::string path = absl::StrCat(dir, "/", kLockFileName);
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, mode);
  if (fd < 0) return ErrnoStatus(errno, absl::StrCat("open lock file ", path));
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int e = errno;
    if (e == EWOULDBLOCK) {
      char buf[32] = {0};
      ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
      close(fd);
      std::string text(buf, n > 0 ? static_cast<size_t>(n) : 0);
      absl::string_view pid = absl::StripAsciiWhitespace(text);
      return absl::FailedPreconditionError(absl::StrFormat(
          "journal %s is locked by process %s (lock file %s); only one "
          "writer may open a journal",
          dir, pid.empty() ? "(unknown pid)" : std::string(pid), path));
    }
    close(fd);
    return ErrnoStatus(e, absl::StrCat("flock ", path));
  }
  std::string pid = absl::StrCat(getpid(), "\n");
  if (ftruncate(fd, 0) != 0 ||
      pwrite(fd, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
    int e = errno;
    close(fd);
    return ErrnoStatus(e, absl::StrCat("write lock file ", path));
  }
  return std::unique_ptr<LockFile>(new LockFile(fd));
}

LockFile::~LockFile() { close(fd_); }

}  // namespace engram::internal
