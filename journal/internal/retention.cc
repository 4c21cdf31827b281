#include "journal/internal/retention.h"

#include <errno.h>
#include <unistd.h>

#include <algorithm>
#include <utility>

#include "engram/base/internal/mutex.h"
#include "engram/journal/journal_scan.h"
#include "journal/internal/committed_lsn.h"
#include "journal/internal/group_commit_flusher.h"
#include "journal/internal/mapped_file.h"
#include "journal/internal/segment_set.h"

namespace engram::internal {

Retention::Retention(std::string dir, Durability durability,
                     const std::atomic<uint64_t>* committed, SegmentSet* segments,
                     const GroupCommitFlusher* flusher)
    : dir_(std::move(dir)),
      durability_(durability),
      committed_(committed),
      segments_(segments),
      flusher_(flusher) {}

absl::StatusOr<int> Retention::DeleteSegmentsBelow(uint64_t lsn) {
  auto listed = ListSegments(dir_);
  if (!listed.ok()) return listed.status();
  // Holds the roll lock so that the active segment stays what it was.
  MutexLock l(segments_->roll_mutex());
  const uint64_t active_first = segments_->ActiveFirstLsnLocked();
  const uint64_t limit =
      std::min(lsn, CommittedLsn(*committed_) + 1);
  int deleted = 0;
  for (size_t i = 0; i + 1 < listed->size(); ++i) {
    const auto& [first, path] = (*listed)[i];
    if ((*listed)[i + 1].first > limit) break;
    if (first >= active_first) break;
    if (unlink(path.c_str()) != 0) {
      return ErrnoStatus(errno, "delete segment " + path);
    }
    ++deleted;
  }
  return deleted;
}

void Retention::RetireMappings() {
  // The durable LSN is read before the segments are: it only grows, so a
  // segment found durable here stays durable.
  const uint64_t committed = CommittedLsn(*committed_);
  const uint64_t durable = flusher_->durable_lsn();
  segments_->ReleaseRetired(committed, durable, durability_ != Durability::kProcess);
}

}  // namespace engram::internal
