#include "engram/image/async_api_catalog.h"

#include <utility>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "engram/bus/topic.h"

namespace engram {
namespace {

// An AsyncAPI component key: letters, digits, '.', '_', '-'.
std::string Key(const std::string& s) {
  std::string out;
  for (const char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    out += ok ? c : '_';
  }
  return out;
}

}  // namespace

AsyncApiCatalog::AsyncApiCatalog(std::string title, std::string version,
                                 std::string description)
    : title_(std::move(title)), version_(std::move(version)),
      description_(std::move(description)) {}

void AsyncApiCatalog::AddImageEvents(const EventRegistry& registry,
                                     const std::string& topic_prefix) {
  for (const EventRegistry::TypeInfo* t : registry.Types()) {
    messages_.push_back({t->name, t->version, t->type_id});
    if (!topic_prefix.empty()) {
      channels_.push_back({absl::StrCat(topic_prefix, ".", t->name), t->name,
                           absl::StrCat("Every ", t->name,
                                        " event of the memory image, published once durable; "
                                        "the CloudEvents sequence is its journal LSN."),
                           true});
    }
  }
}

absl::Status AsyncApiCatalog::AddChannel(const std::string& topic, const std::string& message,
                                         const std::string& description, bool send) {
  if (absl::Status s = ValidatePattern(topic); !s.ok()) return s;
  bool known = false;
  for (const Message& m : messages_) known = known || m.name == message;
  if (!known) messages_.push_back({message, 0, 0});
  channels_.push_back({topic, message, description, send});
  return absl::OkStatus();
}

std::string AsyncApiCatalog::ToJson() const {
  // ordered_json keeps the keys in the order written here. It stores an
  // object's members in a vector, so a reference into an object is only
  // used until the next insertion into that object: each part is built as a
  // value and moved in.
  using Json = nlohmann::ordered_json;
  Json info = Json::object();
  info["title"] = title_;
  info["version"] = version_;
  if (!description_.empty()) info["description"] = description_;
  Json channels = Json::object(), operations = Json::object();
  for (const Channel& c : channels_) {
    std::string description = c.description;
    if (c.address.find_first_of("*>") != std::string::npos) {
      absl::StrAppend(&description, description.empty() ? "" : " ",
                      "(NATS-style pattern: '*' is one token, '>' the rest)");
    }
    Json channel = Json::object();
    channel["address"] = c.address;
    channel["description"] = description;
    channel["messages"][Key(c.message)]["$ref"] = "#/components/messages/" + Key(c.message);
    channels[Key(c.address)] = std::move(channel);
    // One operation per channel.
    Json op = Json::object();
    op["action"] = c.send ? "send" : "receive";
    op["channel"]["$ref"] = "#/channels/" + Key(c.address);
    operations[Key(absl::StrCat(c.send ? "publish." : "subscribe.", c.address))] = std::move(op);
  }
  Json messages = Json::object();
  for (const Message& m : messages_) {
    Json message = Json::object();
    message["name"] = m.name;
    message["title"] = m.name;
    message["payload"]["type"] = "object";
    message["payload"]["description"] = absl::StrCat(
        "C++ event type ", m.name,
        m.version ? absl::StrCat(", schema version ", m.version) : std::string());
    if (m.version) {
      message["x-engram-schema-version"] = m.version;
      message["x-engram-type-id"] = m.type_id;
    }
    messages[Key(m.name)] = std::move(message);
  }
  Json doc = Json::object();
  doc["asyncapi"] = "3.0.0";
  doc["info"] = std::move(info);
  doc["defaultContentType"] = "application/x-engram-object";
  doc["channels"] = std::move(channels);
  doc["operations"] = std::move(operations);
  doc["components"]["messages"] = std::move(messages);
  // Names are the application's strings: bytes that are not UTF-8 become
  // U+FFFD rather than an exception.
  return doc.dump(2, ' ', /*ensure_ascii=*/false, Json::error_handler_t::replace) + "\n";
}

}  // namespace engram
