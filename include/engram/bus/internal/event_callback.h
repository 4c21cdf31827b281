#ifndef ENGRAM_BUS_INTERNAL_EVENT_CALLBACK_H_
#define ENGRAM_BUS_INTERNAL_EVENT_CALLBACK_H_

// What EventBus's templates hand to the (private) bus implementation: the
// type-erased form of a callback subscriber. Not for direct use.

#include <memory>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "engram/bus/event.h"

namespace engram::internal {

// Called with the event and its attempt number (1 on first delivery); the
// returned status is the delivery's outcome. Runs on the subscription's
// runner actor only, never concurrently with itself.
using EventCallback =
    absl::AnyInvocable<absl::Status(const std::shared_ptr<const EventRecord>&, int attempt)>;

}  // namespace engram::internal

#endif  // ENGRAM_BUS_INTERNAL_EVENT_CALLBACK_H_
