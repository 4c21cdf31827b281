#ifndef ENGRAM_BUS_TOPIC_TRIE_H_
#define ENGRAM_BUS_TOPIC_TRIE_H_

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "engram/bus/topic.h"

namespace engram {

// A token trie of subscription patterns: each node is one token position;
// literal tokens are children by name, '*' and '>' have their own slots.
// Match(topic) walks the topic's tokens once, following the literal child
// and the '*' child at every level and collecting the '>' values on the way,
// so its cost grows with the topic's length and the number of wildcard
// branches taken, not with the number of patterns.
//
// V is the value stored per pattern (the bus stores a subscription or a
// consumer group). Values are compared with == for Remove().
//
// Thread-safety: none; the EventBus guards its trie with its mutex.
// Ownership: the trie owns its nodes and copies of the values.
template <class V>
class TopicTrie {
 public:
  // `pattern` must be valid (ValidatePattern).
  void Insert(std::string_view pattern, V value) {
    Node* n = &root_;
    for (std::string_view tok : SplitTopic(pattern)) {
      if (tok == ">") {
        n->rest.push_back(std::move(value));
        ++size_;
        return;
      }
      std::unique_ptr<Node>& child =
          tok == "*" ? n->star : n->children[std::string(tok)];
      if (!child) child = std::make_unique<Node>();
      n = child.get();
    }
    n->here.push_back(std::move(value));
    ++size_;
  }

  // Removes one value equal to `value` stored under `pattern`; false if none.
  bool Remove(std::string_view pattern, const V& value) {
    std::vector<std::string_view> toks = SplitTopic(pattern);
    const bool removed = RemoveAt(&root_, toks, 0, value);
    if (removed) --size_;
    return removed;
  }

  // Appends every value whose pattern matches the valid `topic` to `out`.
  void Match(std::string_view topic, std::vector<V>* out) const {
    std::vector<std::string_view> toks = SplitTopic(topic);
    MatchAt(&root_, toks, 0, out);
  }

  size_t size() const { return size_; }

 private:
  struct Node {
    absl::flat_hash_map<std::string, std::unique_ptr<Node>> children;
    std::unique_ptr<Node> star;  // the '*' child
    std::vector<V> here;         // patterns that end at this node
    std::vector<V> rest;         // patterns with '>' at this position
    bool empty() const {
      return children.empty() && !star && here.empty() && rest.empty();
    }
  };

  static bool IsSystem(const std::vector<std::string_view>& toks, size_t i) {
    return i == 0 && IsSystemTopic(toks[0]);
  }

  static void MatchAt(const Node* n, const std::vector<std::string_view>& toks,
                      size_t i, std::vector<V>* out) {
    if (i == toks.size()) {
      out->insert(out->end(), n->here.begin(), n->here.end());
      return;
    }
    const bool system = IsSystem(toks, i);
    if (!system) out->insert(out->end(), n->rest.begin(), n->rest.end());
    auto it = n->children.find(absl::string_view(toks[i].data(), toks[i].size()));
    if (it != n->children.end()) MatchAt(it->second.get(), toks, i + 1, out);
    if (n->star && !system) MatchAt(n->star.get(), toks, i + 1, out);
  }

  static bool EraseOne(std::vector<V>& v, const V& value) {
    for (auto it = v.begin(); it != v.end(); ++it) {
      if (*it == value) {
        v.erase(it);
        return true;
      }
    }
    return false;
  }

  static bool RemoveAt(Node* n, const std::vector<std::string_view>& toks, size_t i,
                       const V& value) {
    if (i == toks.size()) return EraseOne(n->here, value);
    if (toks[i] == ">") return EraseOne(n->rest, value);
    if (toks[i] == "*") {
      if (!n->star) return false;
      const bool r = RemoveAt(n->star.get(), toks, i + 1, value);
      if (r && n->star->empty()) n->star.reset();
      return r;
    }
    auto it = n->children.find(absl::string_view(toks[i].data(), toks[i].size()));
    if (it == n->children.end()) return false;
    const bool r = RemoveAt(it->second.get(), toks, i + 1, value);
    if (r && it->second->empty()) n->children.erase(it);
    return r;
  }

  Node root_;
  size_t size_ = 0;
};

}  // namespace engram

#endif  // ENGRAM_BUS_TOPIC_TRIE_H_
