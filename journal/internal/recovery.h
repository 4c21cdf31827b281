// Recovery: what Journal::Open does to a journal directory before the first
// append. PrepareDirectory creates or checks the directory (before the lock
// is taken: a journal of a newer format is left exactly as it was);
// Recover scans every segment, cuts a torn tail, repairs corruption if
// allowed, restores end markers lost to a power cut, removes segments after
// the cut and makes the result durable (at kSync), and hands the writer the
// segment to continue in and the next LSN (see journal/FORMAT.md, "Recovery",
// and DESIGN.md, "Durability argument"). While it scans it checks the epoch
// records (engram/journal/epoch.h) of version-2 segments and reports the
// last one.
//
// Thread-safety: stateless functions; Recover requires the journal's lock
// file to be held by the caller, so nothing else writes the directory.
// Ownership: the caller owns what Recover returns.
#ifndef ENGRAM_JOURNAL_INTERNAL_RECOVERY_H_
#define ENGRAM_JOURNAL_INTERNAL_RECOVERY_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engram/journal/journal.h"
#include "engram/journal/journal_options.h"
#include "journal/internal/segment_set.h"

namespace engram::internal {

// What the writer needs from recovery.
struct RecoveredJournal {
  RecoveryReport report;
  uint64_t next_lsn = 1;      // the LSN of the next record appended
  uint64_t journal_id = 0;    // the journal's id (new if it was empty)
  // The segment appends continue in; none for an empty journal (or when
  // the last segment's header was torn and the segment removed).
  std::optional<RecoveredSegment> active;
  // The highest creator_epoch in a segment header (0: none). The next
  // epoch is above it and above report.last_epoch.
  uint64_t highest_segment_epoch = 0;
};

class JournalRecovery {
 public:
  // Creates `dir` (if missing and allowed) and makes its entry durable, or
  // checks an existing one (a directory; no segment of a newer format).
  static absl::Status PrepareDirectory(const std::string& dir,
                                       const JournalOptions& options);
  // Scans and recovers `dir`. Reads everything before changing anything:
  // a read error, (without options.repair) corruption or a bad epoch
  // record (kDataLoss naming its LSN; repair does not cut there) leaves the
  // directory as it was. With options.record_epochs, a version-1 segment
  // that appends would continue in is sealed (end marker written and
  // synced) so that the epoch record goes to a new version-2 segment, and
  // every kept segment is synced as at kSync (the epoch record is to be
  // durable, and with it every record before it).
  static absl::StatusOr<RecoveredJournal> Recover(const std::string& dir,
                                                  const JournalOptions& options);
};

}  // namespace engram::internal

#endif  // ENGRAM_JOURNAL_INTERNAL_RECOVERY_H_
