// The topic/pattern grammar and matching: table-driven, trie against the
// reference matcher.
#include <algorithm>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "absl/strings/escaping.h"

#include "engram/bus/topic.h"
#include "bus/internal/topic_trie.h"

namespace engram {
namespace {

struct GrammarCase {
  std::string text;
  bool valid;
  std::string why;  // a substring of the error message
};

TEST_CASE("topics are validated with an error naming the topic and the reason", "[bus][topic]") {
  const std::vector<GrammarCase> cases = {
      {"orders", true, ""},
      {"orders.eu.created", true, ""},
      {"$dlq.orders.created", true, ""},
      {"a-b_c.d:e.1", true, ""},
      {"", false, "it is empty"},
      {".orders", false, "token 1 is empty"},
      {"orders.", false, "token 2 is empty"},
      {"orders..created", false, "token 2 is empty"},
      {"orders.*", false, "wildcard \"*\" in a published topic"},
      {"orders.>", false, "wildcard \">\" in a published topic"},
      {"ord*ers", false, "wildcard inside token \"ord*ers\""},
      {"orders.eu>", false, "wildcard inside token \"eu>\""},
      {"orders eu", false, "token \"orders eu\" contains whitespace (0x20 at byte offset 6)"},
      {"caf\xc3\xa9.cr\xc3\xa8me", true, ""},  // UTF-8 is fine, as in NATS
  };
  for (const GrammarCase& c : cases) {
    CAPTURE(c.text);
    absl::Status st = ValidateTopic(c.text);
    REQUIRE(st.ok() == c.valid);
    if (!c.valid) {
      REQUIRE(st.code() == absl::StatusCode::kInvalidArgument);
      REQUIRE_THAT(std::string(st.message()), Catch::Contains("\"" + c.text + "\""));
      REQUIRE_THAT(std::string(st.message()), Catch::Contains(c.why));
    }
  }
}

TEST_CASE("patterns are validated with an error naming the pattern and the reason",
          "[bus][topic]") {
  const std::vector<GrammarCase> cases = {
      {"orders", true, ""},
      {"orders.*.created", true, ""},
      {"*", true, ""},
      {">", true, ""},
      {"orders.>", true, ""},
      {"*.*.>", true, ""},
      {"$dlq.>", true, ""},
      {"", false, "it is empty"},
      {"orders..>", false, "token 2 is empty"},
      {"orders.>.created", false, "'>' must be the last token (it is token 2)"},
      {">.orders", false, "'>' must be the last token (it is token 1)"},
      {"ord*", false, "wildcard inside token \"ord*\""},
      {"orders.*x", false, "wildcard inside token \"*x\""},
      {"orders.>>", false, "wildcard inside token \">>\""},
      {"orders.a b", false, "contains whitespace (0x20 at byte offset 8)"},
  };
  for (const GrammarCase& c : cases) {
    CAPTURE(c.text);
    absl::Status st = ValidatePattern(c.text);
    REQUIRE(st.ok() == c.valid);
    if (!c.valid) {
      REQUIRE(st.code() == absl::StatusCode::kInvalidArgument);
      REQUIRE_THAT(std::string(st.message()), Catch::Contains("pattern \"" + c.text + "\""));
      REQUIRE_THAT(std::string(st.message()), Catch::Contains(c.why));
    }
  }
}

// Control characters (bytes below 0x20, and 0x7f) are refused in topics and
// patterns, as NATS refuses them in subjects; the error names the first
// one's byte offset and value, and shows the text escaped (no raw control
// bytes in an error message). Texts are built with explicit lengths so that
// embedded NULs count.
struct ControlCase {
  std::string text;
  bool pattern;
  std::string error;  // the whole message
};

TEST_CASE("control characters in topics and patterns are refused with their offset and value",
          "[bus][topic]") {
  using std::string_literals::operator""s;
  const std::vector<ControlCase> cases = {
      {"foo.b\0r"s, false,
       "malformed topic \"foo.b\\x00r\": control character 0x00 at byte offset 5"},
      {"\0"s, false, "malformed topic \"\\x00\": control character 0x00 at byte offset 0"},
      {"orders.eu\0"s, false,
       "malformed topic \"orders.eu\\x00\": control character 0x00 at byte offset 9"},
      {"\x01orders"s, false,
       "malformed topic \"\\x01orders\": control character 0x01 at byte offset 0"},
      {"orders\n"s, false,
       "malformed topic \"orders\\x0a\": control character 0x0a at byte offset 6"},
      {"a\tb\x02"s, false,
       "malformed topic \"a\\x09b\\x02\": control character 0x09 at byte offset 1"},
      {"a.b\x7f"s, false, "malformed topic \"a.b\\x7f\": control character 0x7f at byte offset 3"},
      {"a.\x1f.c"s, false,
       "malformed topic \"a.\\x1f.c\": control character 0x1f at byte offset 2"},
      // Checked before the token grammar: the control character is named
      // even where a token is also empty or a wildcard.
      {"a..\0"s, false, "malformed topic \"a..\\x00\": control character 0x00 at byte offset 3"},
      {"say \"hi\"\r"s, false,
       "malformed topic \"say \\\"hi\\\"\\x0d\": control character 0x0d at byte offset 8"},
      {"orders.*.b\0r"s, true,
       "malformed pattern \"orders.*.b\\x00r\": control character 0x00 at byte offset 10"},
      {"orders.>\0"s, true,
       "malformed pattern \"orders.>\\x00\": control character 0x00 at byte offset 8"},
      {"\x7f.>"s, true, "malformed pattern \"\\x7f.>\": control character 0x7f at byte offset 0"},
      {"*.\x1b[0m"s, true,
       "malformed pattern \"*.\\x1b[0m\": control character 0x1b at byte offset 2"},
  };
  for (const ControlCase& c : cases) {
    CAPTURE(absl::CHexEscape(c.text), c.pattern);
    const absl::Status st = c.pattern ? ValidatePattern(c.text) : ValidateTopic(c.text);
    REQUIRE(st.code() == absl::StatusCode::kInvalidArgument);
    REQUIRE(std::string(st.message()) == c.error);
  }
}

TEST_CASE("every control byte is refused at any position of a topic or a pattern",
          "[bus][topic]") {
  std::vector<int> bad;
  for (int b = 0; b < 0x20; ++b) bad.push_back(b);
  bad.push_back(0x7f);
  for (int b : bad) {
    for (size_t at : {size_t{0}, size_t{3}, size_t{6}}) {
      std::string t = "abc.def";  // the byte replaces position `at` or is appended
      if (at < t.size() && t[at] != '.') {
        t[at] = static_cast<char>(b);
      } else {
        t.insert(at, 1, static_cast<char>(b));
      }
      CAPTURE(b, at, absl::CHexEscape(t));
      char hex[8];
      std::snprintf(hex, sizeof hex, "0x%02x", b);
      const std::string why =
          std::string("control character ") + hex + " at byte offset " + std::to_string(at);
      for (const absl::Status& st : {ValidateTopic(t), ValidatePattern(t)}) {
        REQUIRE(st.code() == absl::StatusCode::kInvalidArgument);
        const std::string m(st.message());
        REQUIRE_THAT(m, Catch::EndsWith(why));
        for (char ch : m) REQUIRE(static_cast<unsigned char>(ch) >= 0x20);
        REQUIRE(static_cast<unsigned char>(m.back()) != 0x7f);
      }
    }
  }
  // Everything else printable that is not '.', a wildcard or a space is a
  // token character; so are bytes >= 0x80 (UTF-8).
  for (int b = 0x21; b < 0x100; ++b) {
    if (b == '.' || b == '*' || b == '>' || b == 0x7f) continue;
    const std::string t = std::string("a.") + static_cast<char>(b) + "z";
    CAPTURE(b);
    REQUIRE(ValidateTopic(t).ok());
    REQUIRE(ValidatePattern(t).ok());
  }
}

struct MatchCase {
  std::string pattern;
  std::string topic;
  bool match;
};

const std::vector<MatchCase>& MatchTable() {
  static const std::vector<MatchCase> cases = {
      {"orders", "orders", true},
      {"orders", "orders.eu", false},
      {"orders.eu", "orders", false},
      {"orders.eu.created", "orders.eu.created", true},
      {"orders.eu.created", "orders.us.created", false},
      {"orders.*.created", "orders.eu.created", true},
      {"orders.*.created", "orders.eu.x.created", false},
      {"orders.*.created", "orders.created", false},
      {"orders.*", "orders", false},
      {"orders.*", "orders.eu", true},
      {"orders.*", "orders.eu.created", false},
      {"orders.>", "orders", false},
      {"orders.>", "orders.eu", true},
      {"orders.>", "orders.eu.created.late", true},
      {"*", "orders", true},
      {"*", "orders.eu", false},
      {">", "orders", true},
      {">", "orders.eu.created", true},
      {"*.>", "orders", false},
      {"*.>", "orders.eu", true},
      {"*.*", "a.b", true},
      {"*.eu.>", "orders.eu.created", true},
      {"*.eu.>", "orders.us.created", false},
      {"orders.eu.*", "orders.eu.created", true},
      // System topics: a leading wildcard never matches a '$' first token.
      {">", "$dlq.orders", false},
      {"*.orders", "$dlq.orders", false},
      {"$dlq.>", "$dlq.orders.created", true},
      {"$dlq.orders.*", "$dlq.orders.created", true},
      {"orders.>", "orders.$x", true},
  };
  return cases;
}

TEST_CASE("a star matches exactly one token and a tail matches one or more", "[bus][topic]") {
  for (const MatchCase& c : MatchTable()) {
    CAPTURE(c.pattern, c.topic);
    REQUIRE(ValidatePattern(c.pattern).ok());
    REQUIRE(ValidateTopic(c.topic).ok());
    REQUIRE(PatternMatches(c.pattern, c.topic) == c.match);
  }
}

TEST_CASE("the trie matches exactly what the reference matcher matches", "[bus][topic]") {
  TopicTrie<int> trie;
  const auto& table = MatchTable();
  for (size_t i = 0; i < table.size(); ++i) trie.Insert(table[i].pattern, static_cast<int>(i));
  for (const MatchCase& c : table) {
    CAPTURE(c.topic);
    std::vector<int> got;
    trie.Match(c.topic, &got);
    std::sort(got.begin(), got.end());
    std::vector<int> want;
    for (size_t i = 0; i < table.size(); ++i) {
      if (PatternMatches(table[i].pattern, c.topic)) want.push_back(static_cast<int>(i));
    }
    REQUIRE(got == want);
  }
}

TEST_CASE("random patterns and topics match in the trie as in the reference", "[bus][topic]") {
  std::mt19937 rng(7);
  const std::vector<std::string> words = {"a", "b", "c", "$s"};
  auto token = [&] { return words[rng() % 3]; };
  auto topic = [&] {
    std::string t = (rng() % 8 == 0) ? std::string("$s") : token();
    for (int n = 1 + static_cast<int>(rng() % 4); n > 0; --n) t += "." + token();
    return t;
  };
  auto pattern = [&] {
    const int n = 1 + static_cast<int>(rng() % 4);
    std::string p;
    for (int i = 0; i < n; ++i) {
      if (i) p += ".";
      const int r = static_cast<int>(rng() % 6);
      if (r == 0) p += "*";
      else if (r == 1 && i == n - 1) p += ">";
      else if (r == 2 && i == 0) p += "$s";
      else p += token();
    }
    return p;
  };
  std::vector<std::string> patterns;
  TopicTrie<int> trie;
  for (int i = 0; i < 300; ++i) {
    patterns.push_back(pattern());
    REQUIRE(ValidatePattern(patterns.back()).ok());
    trie.Insert(patterns.back(), i);
  }
  // Remove a third again: removal must keep the rest matching.
  std::vector<bool> live(patterns.size(), true);
  for (int i = 0; i < 300; i += 3) {
    REQUIRE(trie.Remove(patterns[i], i));
    live[i] = false;
  }
  REQUIRE_FALSE(trie.Remove("never.inserted", 1));
  REQUIRE(trie.size() == 200);
  for (int k = 0; k < 500; ++k) {
    const std::string t = topic();
    CAPTURE(t);
    std::vector<int> got;
    trie.Match(t, &got);
    std::sort(got.begin(), got.end());
    std::vector<int> want;
    for (int i = 0; i < 300; ++i) {
      if (live[i] && PatternMatches(patterns[i], t)) want.push_back(i);
    }
    REQUIRE(got == want);
  }
}

}  // namespace
}  // namespace engram
