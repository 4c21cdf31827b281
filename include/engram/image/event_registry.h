#ifndef ENGRAM_IMAGE_EVENT_REGISTRY_H_
#define ENGRAM_IMAGE_EVENT_REGISTRY_H_

#include <concepts>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engram/actors/envelope.h"
#include "engram/actors/type_tag.h"
#include "engram/image/event_codec.h"

namespace engram {

// The event types a memory image may find in its journal: a stable name and
// a current schema version per type, the codec, and upcasters that turn an
// older schema version's bytes into the next version's.
//
// The journal stores a 32-bit type id, derived from the stable name (XXH3),
// so renaming a C++ type does not break old journals; two names with the
// same id are refused at registration.
//
// Thread-safety: register everything before recovery starts; afterwards the
// registry is read-only and may be used from any thread.
class EventRegistry {
 public:
  // What the registry knows of one type.
  struct TypeInfo {
    std::string name;
    uint32_t type_id = 0;
    uint16_t version = 0;
    const TypeTag* tag = nullptr;
    std::function<void(const Envelope&, std::string*)> encode;
    std::function<absl::StatusOr<std::unique_ptr<Envelope>>(absl::string_view)> decode;
    // The fields as text, when the codec has ToText; empty otherwise.
    std::function<std::string(const Envelope&)> to_text;
    // Upcasters by the version they read: upcasters[v] turns v into v + 1.
    absl::flat_hash_map<uint16_t,
                        std::function<absl::StatusOr<std::string>(absl::string_view)>>
        upcasters;
  };

  // Registers T under `name` at schema `version` (>= 1). Errors: empty
  // name, version 0, T or the name registered twice, a type id collision.
  template <class T>
  absl::Status Register(absl::string_view name, uint16_t version = 1) {
    TypeInfo info;
    info.name = std::string(name);
    info.version = version;
    info.tag = TypeOf<T>();
    info.encode = [](const Envelope& e, std::string* out) {
      EventCodec<T>::Encode(static_cast<const TypedEnvelope<T>&>(e).value, out);
    };
    info.decode = [](absl::string_view bytes)
        -> absl::StatusOr<std::unique_ptr<Envelope>> {
      absl::StatusOr<T> v = EventCodec<T>::Decode(bytes);
      if (!v.ok()) return v.status();
      return std::unique_ptr<Envelope>(new TypedEnvelope<T>(std::move(*v)));
    };
    if constexpr (requires(const T& v) {
                    { EventCodec<T>::ToText(v) } -> std::convertible_to<std::string>;
                  }) {
      info.to_text = [](const Envelope& e) -> std::string {
        return EventCodec<T>::ToText(static_cast<const TypedEnvelope<T>&>(e).value);
      };
    }
    return Add(std::move(info));
  }

  // Registers the conversion of `name`'s bytes from schema `from_version`
  // to `from_version + 1`. Replay chains them up to the current version.
  absl::Status RegisterUpcaster(
      absl::string_view name, uint16_t from_version,
      std::function<absl::StatusOr<std::string>(absl::string_view)> upcast);

  // The type id stored for `name`.
  static uint32_t TypeIdOf(absl::string_view name);

  // Every registered type, ordered by name.
  std::vector<const TypeInfo*> Types() const;

  const TypeInfo* FindByTag(const TypeTag* tag) const;
  const TypeInfo* FindById(uint32_t type_id) const;

  // Encodes an event held in an envelope. Error if its type is unregistered.
  absl::Status Encode(const Envelope& e, const TypeInfo** info, std::string* out) const;

  // Decodes a record's payload, upcasting from `schema_version` to the
  // current version. Errors name the type (or its id), the version and `lsn`:
  // unknown type id, a version newer than the registered one, a missing
  // upcaster, a payload the codec rejects.
  // The record's fields as text ("" when its type has no ToText), decoded
  // and upcast as Decode() does.
  absl::StatusOr<std::string> Describe(uint32_t type_id, uint16_t schema_version,
                                       absl::string_view payload, uint64_t lsn) const;

  absl::StatusOr<std::unique_ptr<Envelope>> Decode(uint32_t type_id,
                                                   uint16_t schema_version,
                                                   absl::string_view payload,
                                                   uint64_t lsn) const;

 private:
  absl::Status Add(TypeInfo info);

  absl::flat_hash_map<uint32_t, std::unique_ptr<TypeInfo>> by_id_;
  absl::flat_hash_map<const TypeTag*, TypeInfo*> by_tag_;
};

}  // namespace engram

#endif  // ENGRAM_IMAGE_EVENT_REGISTRY_H_
