#include "engram/image/event_registry.h"

#include <xxhash.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "engram/journal/epoch.h"

namespace engram {

uint32_t EventRegistry::TypeIdOf(absl::string_view name) {
  const uint64_t h = XXH3_64bits(name.data(), name.size());
  const uint32_t id = static_cast<uint32_t>(h ^ (h >> 32));
  return id == 0 ? 1 : id;  // 0 is reserved for the image's own records
}

absl::Status EventRegistry::Add(TypeInfo info) {
  if (info.name.empty()) {
    return absl::InvalidArgumentError("event type name must not be empty");
  }
  if (info.version == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("event type '", info.name, "': schema version must be >= 1"));
  }
  if (by_tag_.contains(info.tag)) {
    return absl::AlreadyExistsError(absl::StrCat(
        "C++ type ", info.tag->name, " is already registered as '",
        by_tag_.at(info.tag)->name, "'"));
  }
  info.type_id = TypeIdOf(info.name);
  if (IsReservedTypeId(info.type_id)) {
    // The journal keeps these for its own records (epochs) in stream 0;
    // catalog records name types in stream 0 too, so refuse them outright.
    return absl::InvalidArgumentError(absl::StrFormat(
        "event type '%s' has type id 0x%08X, inside the range 0x%08X..0x%08X reserved for "
        "the journal's own records; rename the event type",
        info.name, info.type_id, kReservedTypeIdFirst, kReservedTypeIdLast));
  }
  if (auto it = by_id_.find(info.type_id); it != by_id_.end()) {
    return absl::AlreadyExistsError(
        it->second->name == info.name
            ? absl::StrCat("event type '", info.name, "' is already registered")
            : absl::StrCat("event types '", info.name, "' and '", it->second->name,
                           "' have the same type id ", info.type_id,
                           "; rename one of them"));
  }
  auto owned = std::make_unique<TypeInfo>(std::move(info));
  by_tag_[owned->tag] = owned.get();
  by_id_[owned->type_id] = std::move(owned);
  return absl::OkStatus();
}

absl::Status EventRegistry::RegisterUpcaster(
    absl::string_view name, uint16_t from_version,
    std::function<absl::StatusOr<std::string>(absl::string_view)> upcast) {
  auto it = by_id_.find(TypeIdOf(name));
  if (it == by_id_.end() || it->second->name != name) {
    return absl::NotFoundError(
        absl::StrCat("upcaster for unregistered event type '", name, "'"));
  }
  TypeInfo& info = *it->second;
  if (from_version == 0 || from_version >= info.version) {
    return absl::InvalidArgumentError(absl::StrCat(
        "upcaster for '", name, "' from version ", from_version,
        ": must be between 1 and ", info.version - 1, " (current version ",
        info.version, ")"));
  }
  if (!info.upcasters.emplace(from_version, std::move(upcast)).second) {
    return absl::AlreadyExistsError(absl::StrCat("upcaster for '", name,
                                                 "' from version ", from_version,
                                                 " is already registered"));
  }
  return absl::OkStatus();
}

std::vector<const EventRegistry::TypeInfo*> EventRegistry::Types() const {
  std::vector<const TypeInfo*> out;
  for (const auto& [id, info] : by_id_) out.push_back(info.get());
  std::sort(out.begin(), out.end(),
            [](const TypeInfo* a, const TypeInfo* b) { return a->name < b->name; });
  return out;
}

const EventRegistry::TypeInfo* EventRegistry::FindByTag(const TypeTag* tag) const {
  auto it = by_tag_.find(tag);
  return it == by_tag_.end() ? nullptr : it->second;
}

const EventRegistry::TypeInfo* EventRegistry::FindById(uint32_t type_id) const {
  auto it = by_id_.find(type_id);
  return it == by_id_.end() ? nullptr : it->second.get();
}

absl::Status EventRegistry::Encode(const Envelope& e, const TypeInfo** info,
                                   std::string* out) const {
  const TypeInfo* t = FindByTag(e.type());
  if (t == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        "event of C++ type ", e.type()->name,
        " is not registered: call EventRegistry::Register<T>(name, version)"));
  }
  *info = t;
  t->encode(e, out);
  return absl::OkStatus();
}

absl::StatusOr<std::string> EventRegistry::Describe(uint32_t type_id, uint16_t schema_version,
                                                    absl::string_view payload,
                                                    uint64_t lsn) const {
  const TypeInfo* t = FindById(type_id);
  if (t == nullptr || !t->to_text) return std::string();
  absl::StatusOr<std::unique_ptr<Envelope>> e = Decode(type_id, schema_version, payload, lsn);
  if (!e.ok()) return e.status();
  return t->to_text(**e);
}

absl::StatusOr<std::unique_ptr<Envelope>> EventRegistry::Decode(
    uint32_t type_id, uint16_t schema_version, absl::string_view payload,
    uint64_t lsn) const {
  const TypeInfo* t = FindById(type_id);
  if (t == nullptr) {
    return absl::NotFoundError(absl::StrCat("LSN ", lsn, ": unknown event type id ",
                                            type_id, " (schema version ",
                                            schema_version, "); register its type"));
  }
  if (schema_version > t->version) {
    return absl::FailedPreconditionError(absl::StrCat(
        "LSN ", lsn, ": event '", t->name, "' has schema version ", schema_version,
        ", newer than the registered version ", t->version));
  }
  std::string upcast;
  absl::string_view bytes = payload;
  for (uint16_t v = schema_version; v < t->version; ++v) {
    auto it = t->upcasters.find(v);
    if (it == t->upcasters.end()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "LSN ", lsn, ": event '", t->name, "' has schema version ", schema_version,
          " and no upcaster is registered from version ", v, " to ", v + 1));
    }
    absl::StatusOr<std::string> next = it->second(bytes);
    if (!next.ok()) {
      return absl::DataLossError(absl::StrCat("LSN ", lsn, ": upcasting '", t->name,
                                              "' from version ", v, ": ",
                                              next.status().message()));
    }
    upcast = std::move(*next);
    bytes = upcast;
  }
  absl::StatusOr<std::unique_ptr<Envelope>> e = t->decode(bytes);
  if (!e.ok()) {
    return absl::DataLossError(absl::StrCat("LSN ", lsn, ": decoding '", t->name,
                                            "' v", t->version, ": ",
                                            e.status().message()));
  }
  return e;
}

}  // namespace engram
