#include "engram/bus/topic.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"

namespace engram {
namespace {

absl::string_view Av(std::string_view s) { return absl::string_view(s.data(), s.size()); }

// Bytes below 0x20 and DEL: never part of a topic (NATS refuses them in
// subjects too). The whitespace among them (\t \n \v \f \r) is caught here.
bool IsControl(unsigned char c) { return c < 0x20 || c == 0x7f; }

// The one whitespace byte that is not a control character.
bool IsSpace(char c) { return c == ' '; }

// `s` for an error message: control bytes as \xNN (always two digits), '"'
// and '\' backslash-escaped, everything else (UTF-8 included) as is.
std::string Escaped(std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(s.size());
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (IsControl(c)) {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    } else {
      if (ch == '"' || ch == '\\') out += '\\';
      out += ch;
    }
  }
  return out;
}

// Checks one token, which starts at byte `offset` of `whole`; `what` is
// "topic" or "pattern". `whole` holds no control characters.
absl::Status CheckToken(std::string_view whole, std::string_view token, size_t offset,
                        size_t index, bool is_last, bool is_pattern) {
  const char* what = is_pattern ? "pattern" : "topic";
  if (token.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "malformed ", what, " \"", Escaped(whole), "\": token ", index + 1, " is empty"));
  }
  for (size_t i = 0; i < token.size(); ++i) {
    if (IsSpace(token[i])) {
      return absl::InvalidArgumentError(absl::StrCat(
          "malformed ", what, " \"", Escaped(whole), "\": token \"", Escaped(token),
          "\" contains whitespace (0x20 at byte offset ", offset + i, ")"));
    }
  }
  const bool wildcard = token == "*" || token == ">";
  if (wildcard) {
    if (!is_pattern) {
      return absl::InvalidArgumentError(absl::StrCat(
          "malformed topic \"", Escaped(whole), "\": wildcard \"", Av(token),
          "\" in a published topic (wildcards belong in subscription patterns)"));
    }
    if (token == ">" && !is_last) {
      return absl::InvalidArgumentError(absl::StrCat(
          "malformed pattern \"", Escaped(whole), "\": '>' must be the last token (it is token ",
          index + 1, ")"));
    }
    return absl::OkStatus();
  }
  if (token.find_first_of("*>") != std::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "malformed ", what, " \"", Escaped(whole), "\": wildcard inside token \"", Escaped(token),
        "\" (a wildcard must be a whole token)"));
  }
  return absl::OkStatus();
}

absl::Status Validate(std::string_view s, bool is_pattern) {
  if (s.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("malformed ", is_pattern ? "pattern" : "topic", " \"\": it is empty"));
  }
  // Control characters first, over the whole text: an embedded NUL or a
  // newline is named wherever it is, before any token rule.
  for (size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (IsControl(c)) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "malformed %s \"%s\": control character 0x%02x at byte offset %u",
          is_pattern ? "pattern" : "topic", Escaped(s), c, i));
    }
  }
  size_t index = 0;
  size_t start = 0;
  while (true) {
    const size_t dot = s.find('.', start);
    const bool last = dot == std::string_view::npos;
    const std::string_view token = s.substr(start, last ? std::string_view::npos : dot - start);
    absl::Status st = CheckToken(s, token, start, index, last, is_pattern);
    if (!st.ok()) return st;
    if (last) return absl::OkStatus();
    start = dot + 1;
    ++index;
  }
}

}  // namespace

absl::Status ValidateTopic(std::string_view topic) { return Validate(topic, false); }
absl::Status ValidatePattern(std::string_view pattern) { return Validate(pattern, true); }

std::vector<std::string_view> SplitTopic(std::string_view topic) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    const size_t dot = topic.find('.', start);
    if (dot == std::string_view::npos) {
      out.push_back(topic.substr(start));
      return out;
    }
    out.push_back(topic.substr(start, dot - start));
    start = dot + 1;
  }
}

bool PatternMatches(std::string_view pattern, std::string_view topic) {
  const std::vector<std::string_view> p = SplitTopic(pattern);
  const std::vector<std::string_view> t = SplitTopic(topic);
  for (size_t i = 0; i < p.size(); ++i) {
    if (p[i] == ">") {
      if (t.size() <= i) return false;
      if (i == 0 && !t[0].empty() && t[0][0] == '$') return false;
      return true;
    }
    if (i >= t.size()) return false;
    if (p[i] == "*") {
      if (i == 0 && !t[0].empty() && t[0][0] == '$') return false;
      continue;
    }
    if (p[i] != t[i]) return false;
  }
  return p.size() == t.size();
}

}  // namespace engram
