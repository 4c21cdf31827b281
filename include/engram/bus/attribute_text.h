#ifndef ENGRAM_BUS_ATTRIBUTE_TEXT_H_
#define ENGRAM_BUS_ATTRIBUTE_TEXT_H_

#include <ostream>
#include <string>
#include <string_view>
#include <utility>

namespace engram {

// The text of an event attribute whose default comes from static storage
// (the payload's type name, the default content type): it either refers to
// a string that lives for the whole program, costing no allocation per
// event, or owns a copy. Compares and prints like a string.
//
// Thread-safety: a value type; immutable once the event is published.
class AttributeText {
 public:
  AttributeText() = default;
  // Owns a copy.
  AttributeText(std::string s) : owned_(std::move(s)) {}  // NOLINT: implicit
  AttributeText(const char* s) : owned_(s) {}             // NOLINT: implicit

  // Refers to `s`, which must have static storage duration.
  static AttributeText Static(std::string_view s) noexcept {
    AttributeText t;
    t.static_ = s;
    t.is_static_ = true;
    return t;
  }

  std::string_view view() const noexcept {
    return is_static_ ? static_ : std::string_view(owned_);
  }
  std::string str() const { return std::string(view()); }
  bool empty() const noexcept { return view().empty(); }

  friend bool operator==(const AttributeText& a, const AttributeText& b) noexcept {
    return a.view() == b.view();
  }
  friend bool operator==(const AttributeText& a, std::string_view b) noexcept {
    return a.view() == b;
  }
  friend bool operator==(const AttributeText& a, const std::string& b) noexcept {
    return a.view() == std::string_view(b);
  }
  friend bool operator==(const AttributeText& a, const char* b) noexcept {
    return a.view() == std::string_view(b);
  }
  friend std::ostream& operator<<(std::ostream& os, const AttributeText& t) {
    return os << t.view();
  }

 private:
  std::string owned_;
  std::string_view static_;
  bool is_static_ = false;
};

}  // namespace engram

#endif  // ENGRAM_BUS_ATTRIBUTE_TEXT_H_
