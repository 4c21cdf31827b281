// Copies a journal's replication stream (written by a JetStreamReplicator)
// into a local journal on another machine: the remote follower's first
// half. The copy has the journal's id, LSNs, records and epoch records,
// byte for byte, so a MemoryImage (or `bank check`) opens it as it would
// the original.
//
// Every message is checked before a record of it is appended: its id names
// the journal's id and an epoch not below the last one seen, its records
// check out (sizes, checksums, whole batches) and continue the copy's last
// LSN. A follower restarted on its copy finds, by binary search, the
// message holding the copy's last LSN, checks that the record there is the
// copy's own, and goes on after it.
//
// Thread-safety: one thread at a time. Ownership: owns the local Journal;
// shares the JetStream.
#ifndef ENGRAM_REPLICATION_STREAM_FOLLOWER_H_
#define ENGRAM_REPLICATION_STREAM_FOLLOWER_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "engram/journal/journal.h"
#include "engram/replication/jet_stream.h"

namespace engram {

class StreamFollower {
 public:
  struct Options {
    std::string stream;
    // Messages asked for per fetch.
    size_t fetch_batch = 256;
    // For the local copy (created if missing; durability kSync by default).
    // record_epochs is turned off (the copy holds the leader's epochs) and
    // journal_id is the stream's.
    JournalOptions journal;
    // A copy whose last records differ from the stream's (an old leader
    // that another node took over from) is cut back to the last record it
    // shares with the stream, and follows from there. The records cut are
    // kept in <dir>/diverged-<epoch> (records as stored, back to back; the
    // epoch is the copy's last) and counted in divergent_records(). Off:
    // such a copy fails Open.
    bool cut_divergent_tail = false;
    Options() { journal.durability = Durability::kSync; }
  };

  // Opens the copy in `dir`, or, if it does not exist, creates it from the
  // stream's first message (kNotFound while the stream is empty; the
  // stream must start at LSN 1). Errors name the stream, sequence and LSN:
  // kFailedPrecondition for a copy of another journal or one whose last
  // record differs from the stream's (a divergent copy), kDataLoss for a
  // damaged message.
  static absl::StatusOr<std::unique_ptr<StreamFollower>> Open(std::shared_ptr<JetStream> js,
                                                              const std::string& dir,
                                                              Options options);
  ~StreamFollower();
  StreamFollower(const StreamFollower&) = delete;
  StreamFollower& operator=(const StreamFollower&) = delete;

  // Fetches up to fetch_batch messages after the last one copied (waiting
  // up to `wait` for the first), checks and appends them. Returns the
  // number of messages copied (0: none there yet).
  absl::StatusOr<uint64_t> FollowSome(absl::Duration wait);
  // Copies until the copy holds the stream's message `sequence`, then
  // syncs it. `progress` (may be empty) is called after each fetch.
  absl::Status CatchUpTo(uint64_t sequence, absl::Duration timeout,
                         absl::AnyInvocable<void(uint64_t lsn, uint64_t sequence)> progress =
                             nullptr);

  // The copy's last LSN (also after Close).
  uint64_t last_lsn() const { return last_lsn_; }
  // The stream sequence of the last message copied (0: none).
  uint64_t last_sequence() const { return last_sequence_; }
  // The highest epoch among the messages copied.
  uint64_t last_epoch() const { return last_epoch_; }
  uint64_t journal_id() const { return journal_id_; }
  // cut_divergent_tail: the records Open cut (0: none), and the file that
  // keeps them.
  uint64_t divergent_records() const { return divergent_records_; }
  const std::string& divergent_file() const { return divergent_file_; }
  Journal& journal() { return *journal_; }  // until Close
  // Syncs and closes the copy.
  absl::Status Close();

 private:
  StreamFollower(std::shared_ptr<JetStream> js, Options options);
  // Checks one message and appends its records. It must continue the copy
  // at last_lsn() + 1; with `resume` (the message a restarted copy ends in)
  // it may start before that, and only its records after last_lsn() are
  // appended.
  absl::Status Apply(const JetStreamMessage& m, bool resume = false);

  const std::shared_ptr<JetStream> js_;
  const Options options_;
  std::unique_ptr<Journal> journal_;
  uint64_t journal_id_ = 0;
  uint64_t last_lsn_ = 0;
  uint64_t last_sequence_ = 0;
  uint64_t last_epoch_ = 0;
  uint64_t divergent_records_ = 0;
  std::string divergent_file_;
};

}  // namespace engram

#endif  // ENGRAM_REPLICATION_STREAM_FOLLOWER_H_
