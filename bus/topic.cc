#include "bus/topic.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace engram {
namespace {

absl::string_view Av(std::string_view s) { return absl::string_view(s.data(), s.size()); }

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

// Checks one token; `what` is "topic" or "pattern".
absl::Status CheckToken(std::string_view whole, std::string_view token, size_t index,
                        bool is_last, bool is_pattern) {
  const char* what = is_pattern ? "pattern" : "topic";
  if (token.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "malformed ", what, " \"", Av(whole), "\": token ", index + 1, " is empty"));
  }
  for (char c : token) {
    if (IsSpace(c)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "malformed ", what, " \"", Av(whole), "\": token \"", Av(token),
          "\" contains whitespace"));
    }
  }
  const bool wildcard = token == "*" || token == ">";
  if (wildcard) {
    if (!is_pattern) {
      return absl::InvalidArgumentError(absl::StrCat(
          "malformed topic \"", Av(whole), "\": wildcard \"", Av(token),
          "\" in a published topic (wildcards belong in subscription patterns)"));
    }
    if (token == ">" && !is_last) {
      return absl::InvalidArgumentError(absl::StrCat(
          "malformed pattern \"", Av(whole), "\": '>' must be the last token (it is token ",
          index + 1, ")"));
    }
    return absl::OkStatus();
  }
  if (token.find_first_of("*>") != std::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "malformed ", what, " \"", Av(whole), "\": wildcard inside token \"", Av(token),
        "\" (a wildcard must be a whole token)"));
  }
  return absl::OkStatus();
}

absl::Status Validate(std::string_view s, bool is_pattern) {
  if (s.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("malformed ", is_pattern ? "pattern" : "topic", " \"\": it is empty"));
  }
  size_t index = 0;
  size_t start = 0;
  while (true) {
    const size_t dot = s.find('.', start);
    const bool last = dot == std::string_view::npos;
    const std::string_view token = s.substr(start, last ? std::string_view::npos : dot - start);
    absl::Status st = CheckToken(s, token, index, last, is_pattern);
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
