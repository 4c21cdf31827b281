#ifndef ENGRAM_ACTORS_MESSAGES_H_
#define ENGRAM_ACTORS_MESSAGES_H_

#include <cstdint>
#include <memory>

#include "absl/status/status.h"
#include "engram/actors/actor_ref.h"
#include "engram/actors/envelope.h"

namespace engram {

// Sent to every monitor of an actor when it stops. `reason` is OK for a
// normal stop, the handler's error for a failure, and NOT_FOUND when the
// actor had already stopped when Monitor() was called.
struct Down {
  ActorRef actor;
  absl::Status reason;
};

namespace internal {

// The answer to a request made with Actor::Request().
struct Response {
  uint64_t request_id;
  std::unique_ptr<Envelope> value;  // null on error
  absl::Status status;
};

// A request's timer fired.
struct RequestTimeout {
  uint64_t request_id;
};

// Wakes an actor whose stop was requested from outside.
struct StopSignal {};

// A child that escalated a failure; handled as a failure of the parent.
struct ChildFailed {
  ActorRef child;
  absl::Status reason;
};

}  // namespace internal
}  // namespace engram

#endif  // ENGRAM_ACTORS_MESSAGES_H_
