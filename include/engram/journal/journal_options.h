// Options for opening a journal for writing.
#ifndef ENGRAM_JOURNAL_JOURNAL_OPTIONS_H_
#define ENGRAM_JOURNAL_JOURNAL_OPTIONS_H_

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>

#include "absl/time/time.h"
#include "engram/journal/replicator.h"

namespace engram {

// What an acknowledged append survives.
enum class Durability {
  // Append returns once the record is in the mapped page cache: it survives
  // a crash of the process, not of the machine. No syscall per append.
  kProcess,
  // A flusher thread group-commits with fdatasync; durable_lsn() tells how
  // far the disk has it, WaitDurable()/OnDurable() wait for an LSN.
  kSync,
  // As kSync, and also held by the replicas: JournalOptions::replicator
  // ships every record once it is synced here, and durable_lsn() (and so
  // WaitDurable, OnDurable and output gating) advances only to what the
  // replicas acknowledged. Needs record_epochs.
  kReplicated,
};

struct JournalOptions {
  // Size of each preallocated segment file, in bytes (4 KiB .. 1 GiB,
  // rounded up to a multiple of 4 KiB).
  uint64_t segment_size = 64ull << 20;
  Durability durability = Durability::kProcess;
  // Mode of created files (further restricted by the umask).
  mode_t file_mode = 0600;
  // Create the directory (and the first segment) if it does not exist.
  bool create_if_missing = true;
  // On corruption (a bad record followed by valid ones) cut the journal at
  // the bad record instead of failing; the dropped LSN range is reported in
  // Journal::recovery().
  bool repair = false;
  // Largest record (header + payload) accepted; 0 = as large as fits in a
  // segment.
  uint32_t max_record_size = 0;
  // Touch the pages of the active and the next segment from a background
  // thread so that appends do not pay the first-touch page faults.
  bool prefault = true;
  // kSync: the longest the flusher waits before syncing appended records
  // that nobody is waiting for.
  absl::Duration sync_interval = absl::Milliseconds(2);
  // Start this writer's tenure with an epoch record (engram/journal/
  // epoch.h): Open appends epoch E+1 (E = the journal's last epoch, 0 if
  // none) in stream 0 and syncs it (at every durability level, with every
  // record before it) before returning, so the first record a caller
  // appends is not LSN 1 but the one after the epoch. Off by default for
  // raw journal users; MemoryImage always turns it on.
  bool record_epochs = false;
  // The node named in epoch records; empty: the host name. At most
  // kMaxEpochNodeBytes (255) bytes.
  std::string node_name;
  // The id a new journal gets (0: a random one); a journal that exists with
  // another id fails Open with kFailedPrecondition. A replica of a journal
  // (engram/replication/) shares its id.
  uint64_t journal_id = 0;
  // kReplicated: what ships the records (e.g. engram::JetStreamReplicator);
  // required then, and refused at any other level.
  std::shared_ptr<Replicator> replicator;
};

}  // namespace engram

#endif  // ENGRAM_JOURNAL_JOURNAL_OPTIONS_H_
