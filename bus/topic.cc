#include "engram/bus/topic.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace engram {
namespace {

absl::string_view Av(std::string_view s) { return absl::string_view(s.data(), s.size()); }

// Bytes below 0x20 and DEL: never part of a topic (NATS refuses them in
// subjects too). The whitespace among them (\t \n \v \f \r) is caught here.
bool IsControl(unsigned char c) { return c < 0x20 || c == 0x7f; }

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
  // Control characters are refused before any token is checked, so the
  // only whitespace that can reach here is the space.
  for (size_t i = 0; i < token.size(); ++i) {
    if (absl::ascii_isspace(static_cast<unsigned char>(token[i]))) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "malformed %s \"%s\": token \"%s\" contains whitespace (0x%02x at byte offset %u)",
          what, Escaped(whole), Escaped(token), static_cast<unsigned char>(token[i]),
          offset + i));
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
  auto tokens = absl::StrSplit(Av(s), '.');
  size_t index = 0;
  for (auto it = tokens.begin(); it != tokens.end(); ++index) {
    const absl::string_view t = *it;
    const bool last = ++it == tokens.end();
    absl::Status st = CheckToken(s, std::string_view(t.data(), t.size()),
                                 static_cast<size_t>(t.data() - s.data()), index, last,
                                 is_pattern);
    if (!st.ok()) return st;
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateTopic(std::string_view topic) { return Validate(topic, false); }
absl::Status ValidatePattern(std::string_view pattern) { return Validate(pattern, true); }

std::vector<std::string_view> SplitTopic(std::string_view topic) {
  std::vector<std::string_view> out;
  // One allocation: without it the vector's growth costs more than the split.
  out.reserve(static_cast<size_t>(std::count(topic.begin(), topic.end(), '.')) + 1);
  for (absl::string_view t : absl::StrSplit(Av(topic), '.')) out.emplace_back(t.data(), t.size());
  return out;
}

bool PatternMatches(std::string_view pattern, std::string_view topic) {
  const std::vector<std::string_view> p = SplitTopic(pattern);
  const std::vector<std::string_view> t = SplitTopic(topic);
  for (size_t i = 0; i < p.size(); ++i) {
    if (p[i] == ">") {
      if (t.size() <= i) return false;
      return !(i == 0 && IsSystemTopic(topic));
    }
    if (i >= t.size()) return false;
    if (p[i] == "*") {
      if (i == 0 && IsSystemTopic(topic)) return false;
      continue;
    }
    if (p[i] != t[i]) return false;
  }
  return p.size() == t.size();
}

}  // namespace engram
