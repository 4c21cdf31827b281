#include "engram/image/async_api_catalog.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "base/json.h"
#include "engram/bus/topic.h"

namespace engram {
namespace {

std::string Json(const std::string& s) { return "\"" + JsonEscape(s) + "\""; }

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
  std::string out = "{\n  \"asyncapi\": \"3.0.0\",\n";
  absl::StrAppend(&out, "  \"info\": {\n    \"title\": ", Json(title_),
                  ",\n    \"version\": ", Json(version_));
  if (!description_.empty()) absl::StrAppend(&out, ",\n    \"description\": ", Json(description_));
  absl::StrAppend(&out, "\n  },\n  \"defaultContentType\": \"application/x-engram-object\",\n");
  // Channels.
  out += "  \"channels\": {";
  for (size_t i = 0; i < channels_.size(); ++i) {
    const Channel& c = channels_[i];
    std::string description = c.description;
    if (c.address.find_first_of("*>") != std::string::npos) {
      absl::StrAppend(&description, description.empty() ? "" : " ",
                      "(NATS-style pattern: '*' is one token, '>' the rest)");
    }
    absl::StrAppend(&out, i ? "," : "", "\n    ", Json(Key(c.address)), ": {\n",
                    "      \"address\": ", Json(c.address), ",\n",
                    "      \"description\": ", Json(description), ",\n",
                    "      \"messages\": { ", Json(Key(c.message)),
                    ": { \"$ref\": ", Json("#/components/messages/" + Key(c.message)),
                    " } }\n    }");
  }
  out += channels_.empty() ? "},\n" : "\n  },\n";
  // Operations: one per channel.
  out += "  \"operations\": {";
  for (size_t i = 0; i < channels_.size(); ++i) {
    const Channel& c = channels_[i];
    const std::string key = Key(absl::StrCat(c.send ? "publish." : "subscribe.", c.address));
    absl::StrAppend(&out, i ? "," : "", "\n    ", Json(key), ": {\n",
                    "      \"action\": ", Json(c.send ? "send" : "receive"), ",\n",
                    "      \"channel\": { \"$ref\": ",
                    Json("#/channels/" + Key(c.address)), " }\n    }");
  }
  out += channels_.empty() ? "},\n" : "\n  },\n";
  // Messages.
  out += "  \"components\": {\n    \"messages\": {";
  for (size_t i = 0; i < messages_.size(); ++i) {
    const Message& m = messages_[i];
    absl::StrAppend(&out, i ? "," : "", "\n      ", Json(Key(m.name)), ": {\n",
                    "        \"name\": ", Json(m.name), ",\n",
                    "        \"title\": ", Json(m.name), ",\n",
                    "        \"payload\": { \"type\": \"object\", \"description\": ",
                    Json(absl::StrCat("C++ event type ", m.name,
                                      m.version ? absl::StrCat(", schema version ", m.version)
                                                : std::string())),
                    " }");
    if (m.version) {
      absl::StrAppend(&out, ",\n        \"x-engram-schema-version\": ", m.version,
                      ",\n        \"x-engram-type-id\": ", m.type_id);
    }
    out += "\n      }";
  }
  out += messages_.empty() ? "}\n  }\n}\n" : "\n    }\n  }\n}\n";
  return out;
}

}  // namespace engram
