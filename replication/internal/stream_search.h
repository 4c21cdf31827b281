// Finding a journal LSN in a replication stream: sequences and LSNs grow
// together there (each message holds the LSNs after the one before it), so
// a binary search over sequences finds the message holding an LSN in
// O(log messages) reads.
//
// Thread-safety: a pure function of the stream's contents.
#ifndef ENGRAM_REPLICATION_INTERNAL_STREAM_SEARCH_H_
#define ENGRAM_REPLICATION_INTERNAL_STREAM_SEARCH_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "engram/replication/jet_stream.h"

namespace engram::internal {

// The message of `stream` whose records include `lsn`; kNotFound if no
// message between the stream's first and last sequence holds it; kDataLoss
// if a message read on the way does not parse.
absl::StatusOr<JetStreamMessage> FindMessageHolding(JetStream& js, const std::string& stream,
                                                    uint64_t lsn);

}  // namespace engram::internal

#endif  // ENGRAM_REPLICATION_INTERNAL_STREAM_SEARCH_H_
