#ifndef ENGRAM_ACTORS_PROMISE_H_
#define ENGRAM_ACTORS_PROMISE_H_

#include <memory>
#include <utility>

#include "absl/status/status.h"
#include "engram/actors/envelope.h"
#include "engram/actors/internal/reply.h"

namespace engram {

// A reply that a handler answers later (after a request of its own, say),
// taken with Actor::MakePromise<R>() while handling a request. Answer it
// once with Deliver() or Fail(); one destroyed unanswered fails the request
// with an error that says so. An empty Promise (the message was a plain
// send, not a request) ignores both.
//
// Thread-safety: movable between threads; used by one at a time.
template <class R>
class Promise {
 public:
  Promise() = default;
  explicit Promise(std::unique_ptr<ReplyTarget> target)
      : target_(std::move(target)) {}

  void Deliver(R value) {
    if (auto t = std::move(target_)) internal::AnswerWith(*t, std::move(value));
  }
  void Fail(absl::Status status) {
    if (auto t = std::move(target_)) t->Fail(std::move(status));
  }
  // True while unanswered and answerable.
  bool pending() const { return target_ != nullptr; }

 private:
  std::unique_ptr<ReplyTarget> target_;
};

}  // namespace engram

#endif  // ENGRAM_ACTORS_PROMISE_H_
