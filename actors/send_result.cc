#include "engram/actors/send_result.h"

#include "absl/strings/str_cat.h"

namespace engram {

absl::string_view SendResultName(SendResult r) noexcept {
  switch (r) {
    case SendResult::kDelivered: return "delivered";
    case SendResult::kDropped: return "dropped (mailbox full)";
    case SendResult::kRejected: return "rejected (mailbox full)";
    case SendResult::kTimedOut: return "timed out waiting for mailbox space";
    case SendResult::kDeadLetter: return "dead letter (actor stopped)";
  }
  return "unknown";
}

absl::Status SendResultToStatus(SendResult r, absl::string_view receiver) {
  switch (r) {
    case SendResult::kDelivered: return absl::OkStatus();
    case SendResult::kDropped:
    case SendResult::kRejected:
      return absl::ResourceExhaustedError(
          absl::StrCat("send to ", receiver, ": ", SendResultName(r)));
    case SendResult::kTimedOut:
      return absl::DeadlineExceededError(
          absl::StrCat("send to ", receiver, ": ", SendResultName(r)));
    case SendResult::kDeadLetter:
      return absl::UnavailableError(
          absl::StrCat("send to ", receiver, ": ", SendResultName(r)));
  }
  return absl::UnknownError("unknown send result");
}

}  // namespace engram
