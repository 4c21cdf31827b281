#ifndef ENGRAM_IMAGE_SNAPSHOT_STORE_H_
#define ENGRAM_IMAGE_SNAPSHOT_STORE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace engram {

// Snapshot files of persistent actors: one file per (stream, version),
// written atomically (temporary file, fsync, rename, fsync of the
// directory) with a checksum, so a crash leaves either the old set or the
// new file whole.
//
// File format (little-endian):
//   magic "ENGSNAP1" | stream id u64 | stream version u64 | LSN u64 |
//   state length u64 | XXH3-64 of everything before it and the state u64 |
//   state bytes
// Name: <stream id>-<version, 20 digits>.snap in the snapshot directory.
//
// Thread-safety: methods may be called from several threads for different
// streams; one stream's snapshots are written by its own actor only.
class SnapshotStore {
 public:
  struct Snapshot {
    uint64_t stream_id = 0;
    uint64_t version = 0;
    uint64_t lsn = 0;
    std::string state;
  };
  // A snapshot that could not be used, and why.
  struct Rejected {
    std::string file;
    std::string reason;
  };

  explicit SnapshotStore(std::string dir, int keep = 2) : dir_(std::move(dir)), keep_(keep) {}

  // Creates the directory if needed.
  absl::Status Init() const;

  // Writes a snapshot, then deletes all but the newest `keep` of its stream.
  absl::Status Write(const Snapshot& s) const;

  // For every stream, the newest snapshot that is whole (checksum, header)
  // and covers no LSN beyond `max_lsn` (the journal's end: a snapshot past
  // it holds state the journal lost); others are skipped (falling back to
  // the previous one) and listed in `rejected`.
  absl::StatusOr<std::vector<Snapshot>> LoadNewest(std::vector<Rejected>* rejected,
                                                   uint64_t max_lsn = UINT64_MAX) const;

  const std::string& dir() const { return dir_; }

 private:
  static std::string FileName(uint64_t stream_id, uint64_t version);
  absl::StatusOr<Snapshot> Read(const std::string& path) const;

  const std::string dir_;
  const int keep_;
};

}  // namespace engram

#endif  // ENGRAM_IMAGE_SNAPSHOT_STORE_H_
