#ifndef ENGRAM_BUS_INTERNAL_DELIVERY_SINK_H_
#define ENGRAM_BUS_INTERNAL_DELIVERY_SINK_H_

#include <cstdint>
#include <memory>
#include <string>

#include "engram/bus/event.h"

namespace engram::internal {

// Where a subscription sends what it cannot settle by itself when a
// delivery finishes: an event to dead-letter, and a subscriber that
// stopped. The bus implements it (as LevelDB's log::Reader::Reporter is
// implemented by the reader's owner), so the subscription and consumer-group
// code never calls back into the bus proper: it decides the outcome of a
// delivery and reports only these two facts.
//
// Thread-safety: both methods may be called from any thread, with no bus,
// group or subscription lock held (the caller guarantees that).
// Ownership: subscriptions hold the sink by weak_ptr; a delivery that
// finishes after the bus is gone reports nowhere (it is counted only).
class DeliverySink {
 public:
  virtual ~DeliverySink() = default;

  // Publishes `event` to "$dlq.<topic>" as a DeadLetterEvent.
  virtual void DeadLetter(std::shared_ptr<const EventRecord> event, std::string reason,
                          int attempts, const std::string& subscription) = 0;

  // Subscription `id`'s subscriber stopped: unsubscribe it (idempotent).
  virtual void RemoveStopped(uint64_t id) = 0;
};

}  // namespace engram::internal

#endif  // ENGRAM_BUS_INTERNAL_DELIVERY_SINK_H_
