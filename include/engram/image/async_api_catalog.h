#ifndef ENGRAM_IMAGE_ASYNC_API_CATALOG_H_
#define ENGRAM_IMAGE_ASYNC_API_CATALOG_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "engram/image/event_registry.h"

namespace engram {

// The event catalog of an application as an AsyncAPI 3.0 document (JSON,
// which is also valid YAML), generated from what the code registers rather
// than written by hand:
//  - every event type of an EventRegistry becomes a message (its stable
//    name, schema version as `x-engram-schema-version`, type id as
//    `x-engram-type-id`) and, when the image publishes to a bus, a channel
//    "<prefix>.<type name>" that the application sends on;
//  - AddChannel() declares other bus topics (NATS-style addresses; `*` and
//    `>` wildcards are kept as written, with a description saying so).
//
// Thread-safety: build on one thread, then read.
class AsyncApiCatalog {
 public:
  AsyncApiCatalog(std::string title, std::string version, std::string description = "");

  // Adds a message per registered event type and, if `topic_prefix` is not
  // empty, the channel the image publishes it on.
  void AddImageEvents(const EventRegistry& registry, const std::string& topic_prefix);

  // Declares a bus topic carrying `message` (a registered type name or any
  // payload name). `send` = the application publishes it; otherwise it
  // receives (subscribes to) it. INVALID_ARGUMENT for a malformed topic.
  absl::Status AddChannel(const std::string& topic, const std::string& message,
                          const std::string& description, bool send);

  // The document, pretty-printed JSON.
  std::string ToJson() const;

 private:
  struct Message {
    std::string name;
    int version = 0;
    uint32_t type_id = 0;
  };
  struct Channel {
    std::string address;
    std::string message;
    std::string description;
    bool send = true;
  };

  std::string title_, version_, description_;
  std::vector<Message> messages_;
  std::vector<Channel> channels_;
};

}  // namespace engram

#endif  // ENGRAM_IMAGE_ASYNC_API_CATALOG_H_
