#ifndef ENGRAM_IMAGE_EVENT_CODEC_H_
#define ENGRAM_IMAGE_EVENT_CODEC_H_

#include <bit>
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>

#include "absl/base/config.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace engram {

// How an event type is stored in the journal: the one customization point.
//
// A trivially copyable type whose every byte is a value byte (no padding,
// no float or double member: std::has_unique_object_representations_v)
// needs nothing: its bytes are the record payload (host byte order; the
// schema version guards layout changes). An empty type is stored as
// sizeof(T) zero bytes. Any other type -- one with padding between or
// after its members, or with floating-point members -- is refused at
// compile time by the default codec, because its raw bytes would put
// indeterminate padding into the journal (two equal events, different
// bytes) and would make journals differ between runs. Such a type
// specializes EventCodec in namespace engram and writes its fields one by
// one; the helpers in engram::codec write fixed-width little-endian fields:
//
//   struct OrderPlaced { uint64_t order; int32_t items; double price; };
//
//   template <> struct engram::EventCodec<OrderPlaced> {
//     static void Encode(const OrderPlaced& e, std::string* out) {
//       engram::codec::Put(out, e.order);
//       engram::codec::Put(out, e.items);
//       engram::codec::Put(out, e.price);
//     }
//     static absl::StatusOr<OrderPlaced> Decode(absl::string_view bytes) {
//       engram::codec::FieldReader r(bytes);
//       OrderPlaced e;
//       r.Get(&e.order);
//       r.Get(&e.items);
//       r.Get(&e.price);
//       if (absl::Status s = r.Finish(); !s.ok()) return s;
//       return e;
//     }
//   };
//
// Decode must reject malformed bytes with an error, never crash: recovery
// reports it with the record's LSN (FieldReader::Finish does that for a
// payload that is too short or too long).
//
// Optionally, `static std::string ToText(const T&)` gives the event's fields
// as text, for `bank journal dump`-style tools (EventRegistry::Describe). A
// type that the default codec accepts and that only wants ToText inherits
// the byte codec:
//
//   template <> struct engram::EventCodec<Debited>
//       : engram::TriviallyCopyableCodec<Debited> {
//     static std::string ToText(const Debited& d) { return absl::StrCat("amount=", d.amount); }
//   };

namespace codec {

// Integers, enums, bool, float and double, as fixed-width little-endian.
template <class T>
void Put(std::string* out, T v) {
  static_assert(std::is_arithmetic_v<T> || std::is_enum_v<T>,
                "engram::codec::Put writes one integer, enum, bool or floating-point field");
  if constexpr (std::is_enum_v<T>) {
    Put(out, static_cast<std::underlying_type_t<T>>(v));
  } else if constexpr (std::is_same_v<T, bool>) {
    out->push_back(v ? '\1' : '\0');
  } else if constexpr (std::is_floating_point_v<T>) {
    static_assert(sizeof(T) == 4 || sizeof(T) == 8, "float and double only");
    using U = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;
    Put(out, std::bit_cast<U>(v));
  } else {
    using U = std::make_unsigned_t<T>;
    U u = static_cast<U>(v);
    char b[sizeof(U)];
    for (size_t i = 0; i < sizeof(U); ++i) {
      b[i] = static_cast<char>(u & 0xFF);
      if constexpr (sizeof(U) > 1) u = static_cast<U>(u >> 8);
    }
    out->append(b, sizeof b);
  }
}

// Reads the fields Put wrote, in the same order. A Get past the end fails
// (and every later one): Finish reports it, and bytes left over.
class FieldReader {
 public:
  explicit FieldReader(absl::string_view bytes) : bytes_(bytes) {}

  template <class T>
  bool Get(T* v) {
    static_assert(std::is_arithmetic_v<T> || std::is_enum_v<T>,
                  "engram::codec::FieldReader::Get reads one integer, enum, bool or "
                  "floating-point field");
    if constexpr (std::is_enum_v<T>) {
      std::underlying_type_t<T> u{};
      if (!Get(&u)) return false;
      *v = static_cast<T>(u);
      return true;
    } else if constexpr (std::is_same_v<T, bool>) {
      uint8_t b = 0;
      if (!Get(&b)) return false;
      if (b > 1) {
        failed_ = true;
        return false;
      }
      *v = b == 1;
      return true;
    } else if constexpr (std::is_floating_point_v<T>) {
      using U = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;
      U u = 0;
      if (!Get(&u)) return false;
      *v = std::bit_cast<T>(u);
      return true;
    } else {
      needed_ += sizeof(T);
      if (failed_ || bytes_.size() - pos_ < sizeof(T)) {
        failed_ = true;
        return false;
      }
      using U = std::make_unsigned_t<T>;
      U u = 0;
      for (size_t i = sizeof(T); i-- > 0;) {
        if constexpr (sizeof(U) > 1) u = static_cast<U>(u << 8);
        u = static_cast<U>(u | static_cast<uint8_t>(bytes_[pos_ + i]));
      }
      pos_ += sizeof(T);
      *v = static_cast<T>(u);
      return true;
    }
  }

  // OK if every Get succeeded and no byte is left over; DATA_LOSS naming
  // the sizes otherwise.
  absl::Status Finish() const {
    if (failed_ || pos_ != bytes_.size()) {
      return absl::DataLossError(absl::StrCat("payload is ", bytes_.size(),
                                              " bytes, the fields need ", needed_,
                                              failed_ ? " (or a field is malformed)" : ""));
    }
    return absl::OkStatus();
  }

 private:
  absl::string_view bytes_;
  size_t pos_ = 0;
  size_t needed_ = 0;
  bool failed_ = false;
};

}  // namespace codec

namespace internal {

// Whether the raw bytes of T are determined by its value.
template <class T>
inline constexpr bool kHasDeterministicBytes =
    std::is_trivially_copyable_v<T> &&
    (std::is_empty_v<T> || std::has_unique_object_representations_v<T>);

// sizeof(T) raw bytes, whatever they hold (SnapshotCodec's fallback for a
// state with padding: a snapshot is restored, never compared).
template <class T>
struct RawBytesCodec {
  static_assert(std::is_trivially_copyable_v<T>, "raw bytes need a trivially copyable type");
  static void Encode(const T& e, std::string* out) {
    if constexpr (std::is_empty_v<T>) {
      out->append(sizeof(T), '\0');  // its one byte is padding
    } else {
      out->append(reinterpret_cast<const char*>(&e), sizeof(T));
    }
  }
  static absl::StatusOr<T> Decode(absl::string_view bytes) {
    if (bytes.size() != sizeof(T)) {
      return absl::DataLossError(absl::StrCat("payload is ", bytes.size(),
                                              " bytes, the type needs ", sizeof(T)));
    }
    T e;
    std::memcpy(&e, bytes.data(), sizeof(T));
    return e;
  }
};

}  // namespace internal

// The default codec: the type's bytes, for types whose bytes are their value.
template <class T>
struct TriviallyCopyableCodec : internal::RawBytesCodec<T> {
  static_assert(std::is_trivially_copyable_v<T>,
                "this event type is not trivially copyable: specialize "
                "engram::EventCodec<T> with Encode and Decode (see engram/image/event_codec.h)");
  static_assert(!std::is_trivially_copyable_v<T> || internal::kHasDeterministicBytes<T>,
                "this event type has padding bytes or a float/double member, so its raw bytes "
                "are not determined by its value: specialize engram::EventCodec<T> with a "
                "field-by-field Encode and Decode using engram::codec::Put and "
                "engram::codec::FieldReader (example in engram/image/event_codec.h)");
};

template <class T, class Enable = void>
struct EventCodec : TriviallyCopyableCodec<T> {};

}  // namespace engram

#endif  // ENGRAM_IMAGE_EVENT_CODEC_H_
