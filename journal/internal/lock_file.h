// The writer lock of a journal directory: an flock'ed file holding the PID
// of the process that owns the journal.
//
// Thread-safety: not shared; owned by one Journal. Releasing (destruction)
// drops the lock. Readers never take it.
#ifndef ENGRAM_JOURNAL_INTERNAL_LOCK_FILE_H_
#define ENGRAM_JOURNAL_INTERNAL_LOCK_FILE_H_

#include <sys/types.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace engram::internal {

class LockFile {
 public:
  // Locks `dir`/LOCK. If another open file description holds it (another
  // process, or another Journal in this one), fails with
  // kFailedPrecondition naming the PID written in the file.
  static absl::StatusOr<std::unique_ptr<LockFile>> Acquire(
      const std::string& dir, mode_t mode);
  LockFile(const LockFile&) = delete;
  LockFile& operator=(const LockFile&) = delete;
  ~LockFile();

 private:
  explicit LockFile(int fd) : fd_(fd) {}
  const int fd_;
};

}  // namespace engram::internal

#endif  // ENGRAM_JOURNAL_INTERNAL_LOCK_FILE_H_
