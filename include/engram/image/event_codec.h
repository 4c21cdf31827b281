#ifndef ENGRAM_IMAGE_EVENT_CODEC_H_
#define ENGRAM_IMAGE_EVENT_CODEC_H_

#include <cstring>
#include <string>
#include <type_traits>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace engram {

// How an event type is stored in the journal: the one customization point.
//
// Trivially copyable types need nothing: their bytes are the record payload
// (host byte order; the schema version guards layout changes). Any other
// type specializes EventCodec in namespace engram:
//
//   template <> struct engram::EventCodec<OrderPlaced> {
//     static void Encode(const OrderPlaced& e, std::string* out);
//     static absl::StatusOr<OrderPlaced> Decode(absl::string_view bytes);
//   };
//
// Decode must reject malformed bytes with an error, never crash: recovery
// reports it with the record's LSN.
//
// Optionally, `static std::string ToText(const T&)` gives the event's fields
// as text, for `bank journal dump`-style tools (EventRegistry::Describe). A
// trivially copyable type that only wants ToText inherits the byte codec:
//
//   template <> struct engram::EventCodec<Debited>
//       : engram::TriviallyCopyableCodec<Debited> {
//     static std::string ToText(const Debited& d) { return absl::StrCat("amount=", d.amount); }
//   };
template <class T>
struct TriviallyCopyableCodec {
  static_assert(std::is_trivially_copyable_v<T>,
                "this event type is not trivially copyable: specialize "
                "engram::EventCodec<T> with Encode and Decode");
  static void Encode(const T& e, std::string* out) {
    out->append(reinterpret_cast<const char*>(&e), sizeof(T));
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

template <class T, class Enable = void>
struct EventCodec : TriviallyCopyableCodec<T> {};

}  // namespace engram

#endif  // ENGRAM_IMAGE_EVENT_CODEC_H_
