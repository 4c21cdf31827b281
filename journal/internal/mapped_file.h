// A file mapped MAP_SHARED in full: the storage of one journal segment.
//
// Thread-safety: the object itself is immutable after creation; callers
// coordinate access to the mapped bytes. Owns the descriptor and mapping
// and releases both on destruction.
#ifndef ENGRAM_JOURNAL_INTERNAL_MAPPED_FILE_H_
#define ENGRAM_JOURNAL_INTERNAL_MAPPED_FILE_H_

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace engram::internal {

class MappedFile {
 public:
  // Creates `path` (which must not exist), reserves `size` bytes with
  // posix_fallocate (so a full disk fails here, not as SIGBUS later) and
  // maps it read-write. The file is removed again on failure.
  static absl::StatusOr<std::unique_ptr<MappedFile>> Create(
      const std::string& path, size_t size, mode_t mode);
  // Opens an existing file read-write, first growing it to `size` bytes
  // with posix_fallocate if it is shorter.
  static absl::StatusOr<std::unique_ptr<MappedFile>> OpenWritable(
      const std::string& path, size_t size);
  // Opens an existing file and maps its current length read-only.
  static absl::StatusOr<std::unique_ptr<MappedFile>> OpenReadOnly(
      const std::string& path);

  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  int fd() const { return fd_; }
  const std::string& path() const { return path_; }
  // Records that the file was renamed; call before sharing the object.
  void set_path(std::string path) { path_ = std::move(path); }

  // Faults in the pages of [from, from+len) for writing without changing
  // their contents (MADV_POPULATE_WRITE), so later stores run at full speed.
  void PrefaultWrite(size_t from, size_t len) const;
  // fdatasync of the file.
  absl::Status Sync() const;

 private:
  MappedFile(std::string path, int fd, uint8_t* data, size_t size)
      : path_(std::move(path)), fd_(fd), data_(data), size_(size) {}

  std::string path_;
  const int fd_;
  uint8_t* const data_;
  const size_t size_;
};

// absl::Status for a failed system call on `path`, from errno value `err`.
absl::Status ErrnoStatus(int err, const std::string& what);

// fsync of a directory, so that created or renamed entries are durable.
absl::Status SyncDirectory(const std::string& dir);
// fdatasync of the file at `path`, without mapping it.
absl::Status SyncFile(const std::string& path);

}  // namespace engram::internal

#endif  // ENGRAM_JOURNAL_INTERNAL_MAPPED_FILE_H_
