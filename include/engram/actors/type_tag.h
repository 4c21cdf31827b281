#ifndef ENGRAM_ACTORS_TYPE_TAG_H_
#define ENGRAM_ACTORS_TYPE_TAG_H_

#include <string_view>
#include <type_traits>

#include "absl/strings/string_view.h"

namespace engram {

// Identifies a message type at run time without RTTI: one constant object
// per type, compared by address. `name` is the type's C++ name, for error
// messages and dead-letter reports.
struct TypeTag {
  absl::string_view name;
};

namespace internal {

template <class T>
constexpr std::string_view TypeNameOf() {
  // GCC: "... TypeNameOf() [with T = Foo; std::string_view = ...]"
  // Clang: "... TypeNameOf() [T = Foo]"
  std::string_view p = __PRETTY_FUNCTION__;
  const size_t start = p.find("T = ") + 4;
  size_t end = p.find(';', start);
  if (end == std::string_view::npos) end = p.rfind(']');
  return p.substr(start, end - start);
}

template <class T>
struct TypeTagFor {
  static constexpr std::string_view kName = TypeNameOf<T>();
  static constexpr TypeTag value{absl::string_view(kName.data(), kName.size())};
};

}  // namespace internal

// The tag of T (cv-qualifiers and references removed).
template <class T>
constexpr const TypeTag* TypeOf() noexcept {
  return &internal::TypeTagFor<std::remove_cvref_t<T>>::value;
}

}  // namespace engram

#endif  // ENGRAM_ACTORS_TYPE_TAG_H_
