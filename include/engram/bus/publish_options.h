#ifndef ENGRAM_BUS_PUBLISH_OPTIONS_H_
#define ENGRAM_BUS_PUBLISH_OPTIONS_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/container/flat_hash_map.h"

namespace engram {

// Optional CloudEvents attributes of one publication. Empty strings take
// the defaults: id = the bus sequence in decimal, source = the bus name,
// type = the payload's C++ type name, datacontenttype =
// "application/x-engram-object" (an in-memory C++ object).
struct PublishOptions {
  std::string id;
  std::string source;
  std::string type;
  std::string datacontenttype;
  // The event's sequence number; default: the bus's own counter. A
  // persistent actor publishing after durability passes the event's
  // journal LSN (PersistentActorBase::OnDurable).
  std::optional<uint64_t> sequence;
  // Routes the event in key-hash consumer groups (per-key order).
  std::optional<std::string> partition_key;
  // CloudEvents extension attributes; filters can test them.
  absl::flat_hash_map<std::string, std::string> extensions;
};

// What one successful Publish() did.
struct PublishReceipt {
  uint64_t sequence = 0;  // the event's bus sequence number
  uint32_t accepted = 0;  // subscriptions / groups that took the event
  uint32_t dropped = 0;   // refused by a full kDropNewest subscription (counted)
};

}  // namespace engram

#endif  // ENGRAM_BUS_PUBLISH_OPTIONS_H_
