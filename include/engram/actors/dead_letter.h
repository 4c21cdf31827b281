#ifndef ENGRAM_ACTORS_DEAD_LETTER_H_
#define ENGRAM_ACTORS_DEAD_LETTER_H_

#include <string>

#include "absl/status/status.h"
#include "engram/actors/send_result.h"
#include "engram/actors/type_tag.h"

namespace engram {

// A message that was not delivered: what it was, to whom, and why. Passed
// to the dead-letter hook; counted by the ActorSystem either way.
struct DeadLetter {
  std::string recipient;     // name of the receiving actor
  const TypeTag* type;       // the message type
  SendResult outcome;        // kDeadLetter, kDropped, kRejected, kTimedOut
  absl::Status reason;       // why, in words
};

}  // namespace engram

#endif  // ENGRAM_ACTORS_DEAD_LETTER_H_
