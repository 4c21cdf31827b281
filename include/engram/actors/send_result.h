#ifndef ENGRAM_ACTORS_SEND_RESULT_H_
#define ENGRAM_ACTORS_SEND_RESULT_H_

#include "absl/strings/string_view.h"

#include "absl/status/status.h"

namespace engram {

// What became of one send. Every outcome but kDelivered is also counted
// (per mailbox and per system), so nothing is lost silently.
enum class SendResult {
  kDelivered,   // in the receiver's mailbox
  kDropped,     // bounded mailbox full, policy kDropNewest: counted drop
  kRejected,    // bounded mailbox full, policy kFail: the sender's error
  kTimedOut,    // bounded mailbox full, policy kBlock, waited block_timeout
  kDeadLetter,  // receiver stopped (or empty ref): went to dead letters
};

absl::string_view SendResultName(SendResult r) noexcept;

// OK for kDelivered; otherwise an error naming the outcome and `receiver`.
absl::Status SendResultToStatus(SendResult r, absl::string_view receiver);

}  // namespace engram

#endif  // ENGRAM_ACTORS_SEND_RESULT_H_
