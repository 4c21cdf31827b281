#ifndef ENGRAM_ACTORS_SPAWN_OPTIONS_H_
#define ENGRAM_ACTORS_SPAWN_OPTIONS_H_

#include <cstdint>
#include <string>

#include "absl/time/time.h"

namespace engram {

// What a full bounded mailbox does with one more message. Whatever the
// policy, the sender learns the outcome from the SendResult and the system
// counts it: never a silent loss.
enum class OverflowPolicy {
  kBlock,       // the sender waits for space (up to block_timeout). Do not
                // use when sender and receiver may share the only worker.
  kDropNewest,  // the new message is dropped and counted (SendResult::kDropped)
  kFail,        // the send fails (SendResult::kRejected)
};

// What happens to an actor whose handler throws.
enum class Directive {
  kRestart,   // replace the actor object by a fresh one (fresh state); the
              // mailbox and the address stay; children are stopped
  kStop,      // stop the actor; monitors get a Down with the error
  kEscalate,  // stop the actor and fail its parent with the same error,
              // which the parent's own policy then handles
};

// Supervision: the directive, and a restart budget. More than
// `max_restarts` restarts within `within` stops the actor instead, with a
// reason that says so.
struct SupervisionPolicy {
  Directive directive = Directive::kRestart;
  int max_restarts = 10;
  absl::Duration within = absl::Minutes(1);
};

struct SpawnOptions {
  // Shown in errors, dead letters and Down notices; "actor#<id>" if empty.
  std::string name;
  // 0: unbounded. Otherwise the most user messages queued at once.
  uint32_t mailbox_capacity = 0;
  OverflowPolicy overflow = OverflowPolicy::kFail;
  absl::Duration block_timeout = absl::InfiniteDuration();
  SupervisionPolicy supervision;
  // Run on a thread of its own instead of the work-stealing pool: for
  // handlers that block.
  bool dedicated_thread = false;
};

}  // namespace engram

#endif  // ENGRAM_ACTORS_SPAWN_OPTIONS_H_
