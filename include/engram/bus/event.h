#ifndef ENGRAM_BUS_EVENT_H_
#define ENGRAM_BUS_EVENT_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"
#include "engram/actors/envelope.h"
#include "engram/actors/type_tag.h"
#include "engram/bus/attribute_text.h"

namespace engram {

// The metadata of one published event, after CloudEvents 1.0: `id`
// (unique per source; by default the bus sequence in decimal), `source`
// (by default the bus name), `type` (by default the C++ payload type's
// name), `specversion` ("1.0"), `time` (the bus clock at publication:
// fake time under the DeterministicScheduler), `subject` (the topic),
// `datacontenttype`. engram adds `sequence` (per bus, from 1, strictly
// increasing in publication order, unless the publisher gave its own, e.g.
// a journal LSN, in PublishOptions::sequence), an optional `partition_key` (routes
// the event in key-hash consumer groups) and free-form `extensions`
// (CloudEvents extension attributes; subscription filters can test them).
//
// `type` and `datacontenttype` are AttributeText: their defaults refer to
// static strings, so a publication with default attributes allocates no
// text for them.
struct EventAttributes {
  std::string id;
  std::string source;
  AttributeText type;
  AttributeText specversion = AttributeText::Static("1.0");
  absl::Time time;
  std::string subject;
  AttributeText datacontenttype;
  uint64_t sequence = 0;
  std::optional<std::string> partition_key;
  absl::flat_hash_map<std::string, std::string> extensions;

  // The extension attribute `name`, or null.
  const std::string* Extension(const std::string& name) const {
    auto it = extensions.find(name);
    return it == extensions.end() ? nullptr : &it->second;
  }
};

template <class T>
class BusEvent;

namespace internal {

// One published event: its attributes and its payload (in
// TypedEventRecord<T>). Immutable once published and shared by every
// subscriber it reaches (one allocation per publication, whatever the
// fan-out); subscribers see the payload through a const reference.
//
// Thread-safety: immutable after publication, so any thread may read it.
// Ownership: shared (std::shared_ptr) by the deliveries in flight.
class EventRecord {
 public:
  explicit EventRecord(const TypeTag* payload_type) noexcept
      : payload_type_(payload_type) {}
  virtual ~EventRecord() = default;
  EventRecord(const EventRecord&) = delete;
  EventRecord& operator=(const EventRecord&) = delete;

  const TypeTag* payload_type() const noexcept { return payload_type_; }

  // A mailbox envelope holding BusEvent<T>{self, attempt}, for an actor
  // subscriber. `self` must own this record.
  virtual std::unique_ptr<Envelope> MakeActorEnvelope(
      std::shared_ptr<const EventRecord> self, int attempt) const = 0;

  EventAttributes attributes;  // written only before publication

 private:
  const TypeTag* const payload_type_;
};

template <class T>
class TypedEventRecord final : public EventRecord {
 public:
  template <class... Args>
  explicit TypedEventRecord(Args&&... args)
      : EventRecord(TypeOf<T>()), value(std::forward<Args>(args)...) {}

  std::unique_ptr<Envelope> MakeActorEnvelope(std::shared_ptr<const EventRecord> self,
                                              int attempt) const override;

  T value;
};

}  // namespace internal

// What a subscriber receives: the event's attributes and a const view of
// its payload of type T, plus the delivery attempt (1 for the first try,
// 2 for the first retry, ...). Cheap to copy (a shared pointer): an actor
// or callback may keep it beyond the handler.
//
// Thread-safety: immutable; any thread may read it.
template <class T>
class BusEvent {
 public:
  BusEvent(std::shared_ptr<const internal::EventRecord> record, int attempt) noexcept
      : record_(std::move(record)), attempt_(attempt) {}

  const T& data() const noexcept {
    return static_cast<const internal::TypedEventRecord<T>&>(*record_).value;
  }
  const EventAttributes& attributes() const noexcept { return record_->attributes; }
  const std::string& id() const noexcept { return record_->attributes.id; }
  const std::string& topic() const noexcept { return record_->attributes.subject; }
  std::string_view type() const noexcept { return record_->attributes.type.view(); }
  const std::string& source() const noexcept { return record_->attributes.source; }
  uint64_t sequence() const noexcept { return record_->attributes.sequence; }
  absl::Time time() const noexcept { return record_->attributes.time; }
  const std::optional<std::string>& partition_key() const noexcept {
    return record_->attributes.partition_key;
  }
  int attempt() const noexcept { return attempt_; }

  const std::shared_ptr<const internal::EventRecord>& record() const noexcept {
    return record_;
  }

 private:
  std::shared_ptr<const internal::EventRecord> record_;
  int attempt_;
};

// The payload of an event on a dead-letter topic "$dlq.<topic>": the
// original event (attributes and payload), why it failed, after how many
// attempts, and which subscription gave up on it.
struct DeadLetterEvent {
  std::string reason;
  int attempts = 0;
  std::string subscription;
  std::shared_ptr<const internal::EventRecord> original;

  const EventAttributes& original_attributes() const { return original->attributes; }
  // The original payload if it is a T, else null.
  template <class T>
  const T* original_as() const {
    if (original->payload_type() != TypeOf<T>()) return nullptr;
    return &static_cast<const internal::TypedEventRecord<T>&>(*original).value;
  }
};

template <class T>
std::unique_ptr<Envelope> internal::TypedEventRecord<T>::MakeActorEnvelope(
    std::shared_ptr<const EventRecord> self, int attempt) const {
  return std::make_unique<TypedEnvelope<BusEvent<T>>>(std::move(self), attempt);
}

}  // namespace engram

#endif  // ENGRAM_BUS_EVENT_H_
