#ifndef ENGRAM_BASE_JSON_H_
#define ENGRAM_BASE_JSON_H_

#include <string>

#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"

namespace engram {

// `s` escaped for use inside a JSON string literal (quotes, backslashes
// and control characters; other bytes pass through as UTF-8).
inline std::string JsonEscape(absl::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (const char ch : s) {
    const unsigned char c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += ch;
    } else if (c < 0x20) {
      absl::StrAppendFormat(&out, "\\u%04x", c);
    } else {
      out += ch;
    }
  }
  return out;
}

}  // namespace engram

#endif  // ENGRAM_BASE_JSON_H_
