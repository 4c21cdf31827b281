#ifndef ENGRAM_BUS_TOPIC_H_
#define ENGRAM_BUS_TOPIC_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

namespace engram {

// The topic grammar of the event bus (the NATS subject grammar).
//
// A topic is one or more tokens separated by '.', e.g. "orders.eu.created".
// A token is non-empty and holds no '.', no space, no control character
// (a byte below 0x20, which includes NUL, tab and newline, or 0x7f), and
// neither '*' nor '>'; any other byte (UTF-8 included) is allowed. A pattern is a topic whose tokens may also be the wildcards
//   '*'  exactly one token, and
//   '>'  one or more trailing tokens (only as the last token).
// A wildcard must be a whole token: "ord*" and "a.>b" are malformed.
//
// Topics whose first token starts with '$' (such as the dead-letter topics
// "$dlq.<topic>") are system topics: a wildcard in the first position of a
// pattern does not match them, so "*" and ">" never see dead letters; a
// pattern that names the '$' token ("$dlq.>") does.

// OK, or INVALID_ARGUMENT naming the topic and the reason (empty topic,
// empty token, whitespace, a wildcard, a control character). The topic is
// shown escaped (control bytes as \xNN) and a control character or a space
// is named by its value and byte offset, e.g.
//   malformed topic "foo.b\x00r": control character 0x00 at byte offset 5
// The whole string_view counts: an embedded NUL is a control character.
absl::Status ValidateTopic(std::string_view topic);

// OK, or INVALID_ARGUMENT naming the pattern and the reason (empty token,
// whitespace, a control character, wildcard inside a token, '>' not last);
// shown as for ValidateTopic().
absl::Status ValidatePattern(std::string_view pattern);

// True if `topic` is a system topic: its first token starts with '$'. Also
// true of that first token alone. The one statement of the rule that a
// wildcard in a pattern's first position does not match system topics.
inline bool IsSystemTopic(std::string_view topic) noexcept {
  return !topic.empty() && topic.front() == '$';
}

// Splits on '.'; no validation.
std::vector<std::string_view> SplitTopic(std::string_view topic);

// True if the valid `pattern` matches the valid `topic`. A direct,
// trie-free matcher: the reference the tests compare the trie against.
bool PatternMatches(std::string_view pattern, std::string_view topic);

}  // namespace engram

#endif  // ENGRAM_BUS_TOPIC_H_
