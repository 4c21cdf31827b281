// The writer lock of a journal directory: `<dir>/LOCK`, held with flock(2)
// by the one process that writes the journal, and holding its PID as text.
//
// Journal::Open takes it itself. A standby takes it in advance instead,
// with Await: it waits until the holder is gone and hands the lock to
// Journal::Open, so that no other process can slip in between. The kernel
// drops an flock the moment the last descriptor of its holder closes, which
// a crashed process's exit does; a live holder, even a hung (SIGSTOPped)
// one, keeps it. Await never takes a lock over on a timeout: a timeout only
// ends the wait.
//
// Thread-safety: a WriterLock is owned by one thread at a time; the static
// functions may be called from any thread. Destruction releases the lock.
#ifndef ENGRAM_JOURNAL_WRITER_LOCK_H_
#define ENGRAM_JOURNAL_WRITER_LOCK_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace engram {

class WriterLock {
 public:
  // Takes the lock of `dir` (an existing directory) if it is free; creates
  // LOCK with `mode` if missing. kFailedPrecondition naming the holder's PID
  // if another open file description holds it (another process, or another
  // Journal in this one); kNotFound if `dir` does not exist.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<WriterLock>> TryAcquire(
      const std::string& dir, mode_t mode = 0644);
  // Waits up to `timeout` for the lock to be free and takes it. Woken by
  // the kernel when the holding process exits (a pidfd on the PID in LOCK),
  // and otherwise looks again every 50 ms (a holder in another PID
  // namespace, or a descriptor inherited by a child). kDeadlineExceeded,
  // naming the holder, if it is still held at the deadline; other errors
  // as TryAcquire.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<WriterLock>> Await(
      const std::string& dir, absl::Duration timeout, mode_t mode = 0644);

  WriterLock(const WriterLock&) = delete;
  WriterLock& operator=(const WriterLock&) = delete;
  ~WriterLock();

  // The journal directory this lock is for, as given.
  const std::string& dir() const { return dir_; }

 private:
  WriterLock(std::string dir, int fd) : dir_(std::move(dir)), fd_(fd) {}
  const std::string dir_;
  const int fd_;
};

}  // namespace engram

#endif  // ENGRAM_JOURNAL_WRITER_LOCK_H_
