#include "journal/internal/mapped_file.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

namespace engram::internal {

absl::Status ErrnoStatus(int err, const std::string& what) {
  std::string msg = absl::StrCat(what, ": ", strerror(err));
  switch (err) {
    case ENOENT:
      return absl::NotFoundError(msg);
    case EACCES:
    case EPERM:
      return absl::PermissionDeniedError(msg);
    case ENOSPC:
    case EDQUOT:
      return absl::ResourceExhaustedError(msg);
    case EEXIST:
      return absl::AlreadyExistsError(msg);
    default:
      return absl::InternalError(msg);
  }
}

namespace {

absl::StatusOr<uint8_t*> Map(int fd, size_t size, int prot,
                             const std::string& path) {
  void* p = mmap(nullptr, size, prot, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) {
    return ErrnoStatus(errno, absl::StrFormat("mmap of %u bytes of %s", size, path));
  }
  return static_cast<uint8_t*>(p);
}

}  // namespace

absl::StatusOr<std::unique_ptr<MappedFile>> MappedFile::Create(
    const std::string& path, size_t size, mode_t mode) {
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) return ErrnoStatus(errno, absl::StrCat("create segment ", path));
  int err = posix_fallocate(fd, 0, static_cast<off_t>(size));
  if (err != 0) {
    close(fd);
    unlink(path.c_str());
    return ErrnoStatus(err, absl::StrFormat("preallocate %u bytes for segment %s",
                                            size, path));
  }
  auto data = Map(fd, size, PROT_READ | PROT_WRITE, path);
  if (!data.ok()) {
    close(fd);
    unlink(path.c_str());
    return data.status();
  }
  return std::unique_ptr<MappedFile>(new MappedFile(path, fd, *data, size));
}

absl::StatusOr<std::unique_ptr<MappedFile>> MappedFile::OpenWritable(
    const std::string& path, size_t size) {
  int fd = open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, absl::StrCat("open segment ", path));
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int e = errno;
    close(fd);
    return ErrnoStatus(e, absl::StrCat("stat segment ", path));
  }
  if (static_cast<size_t>(st.st_size) < size) {
    int err = posix_fallocate(fd, 0, static_cast<off_t>(size));
    if (err != 0) {
      close(fd);
      return ErrnoStatus(err, absl::StrFormat(
                                  "preallocate %u bytes for segment %s", size, path));
    }
  } else {
    size = static_cast<size_t>(st.st_size);
  }
  auto data = Map(fd, size, PROT_READ | PROT_WRITE, path);
  if (!data.ok()) {
    close(fd);
    return data.status();
  }
  return std::unique_ptr<MappedFile>(new MappedFile(path, fd, *data, size));
}

absl::StatusOr<std::unique_ptr<MappedFile>> MappedFile::OpenReadOnly(
    const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, absl::StrCat("open segment ", path));
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int e = errno;
    close(fd);
    return ErrnoStatus(e, absl::StrCat("stat segment ", path));
  }
  const size_t size = static_cast<size_t>(st.st_size);
  uint8_t* data = nullptr;
  if (size > 0) {
    auto m = Map(fd, size, PROT_READ, path);
    if (!m.ok()) {
      close(fd);
      return m.status();
    }
    data = *m;
  }
  return std::unique_ptr<MappedFile>(new MappedFile(path, fd, data, size));
}

MappedFile::~MappedFile() {
  if (data_ != nullptr) munmap(data_, size_);
  close(fd_);
}

void MappedFile::PrefaultWrite(size_t from, size_t len) const {
  if (from >= size_) return;
  if (len > size_ - from) len = size_ - from;
  const size_t page = 4096;
  const size_t begin = from & ~(page - 1);
  const size_t end = from + len;
  // Best effort: older kernels lack MADV_POPULATE_WRITE; then the first
  // append to each page pays its fault.
  madvise(data_ + begin, end - begin, MADV_POPULATE_WRITE);
}

absl::Status MappedFile::Sync() const {
  if (fdatasync(fd_) != 0) return ErrnoStatus(errno, absl::StrCat("fdatasync ", path_));
  return absl::OkStatus();
}

namespace {

// Opens `path` read-only with `flags` and syncs it (fsync, or fdatasync).
absl::Status SyncPath(const std::string& path, int flags, bool data_only,
                      const char* what) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | flags);
  if (fd < 0) return ErrnoStatus(errno, absl::StrCat("open ", what, " ", path));
  int rc = data_only ? fdatasync(fd) : fsync(fd);
  int e = errno;
  close(fd);
  if (rc != 0) {
    return ErrnoStatus(e, absl::StrCat(data_only ? "fdatasync " : "fsync ", what, " ", path));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status SyncDirectory(const std::string& dir) {
  return SyncPath(dir, O_DIRECTORY, /*data_only=*/false, "directory");
}

absl::Status SyncFile(const std::string& path) {
  return SyncPath(path, 0, /*data_only=*/true, "file");
}

}  // namespace engram::internal
