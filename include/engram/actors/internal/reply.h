#ifndef ENGRAM_ACTORS_INTERNAL_REPLY_H_
#define ENGRAM_ACTORS_INTERNAL_REPLY_H_

#include <memory>
#include <type_traits>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "engram/actors/envelope.h"

namespace engram::internal {

template <class T>
struct IsStatusOr : std::false_type {};
template <class T>
struct IsStatusOr<absl::StatusOr<T>> : std::true_type {
  using value_type = T;
};

// Answers `target` with `value`, checking it is the type the requester
// expects. A StatusOr answers with its value or its error.
template <class R>
void AnswerWith(ReplyTarget& target, R&& value) {
  using V = std::remove_cvref_t<R>;
  if constexpr (IsStatusOr<V>::value) {
    using T = typename IsStatusOr<V>::value_type;
    if (!value.ok()) {
      target.Fail(std::move(value).status());
      return;
    }
    AnswerWith(target, T(*std::forward<R>(value)));
  } else {
    if (target.expected() != TypeOf<V>()) {
      target.Fail(absl::InvalidArgumentError(
          absl::StrCat("reply type mismatch: the requester expects ",
                       target.expected()->name, ", the handler returned ",
                       TypeOf<V>()->name)));
      return;
    }
    target.Deliver(std::make_unique<TypedEnvelope<V>>(std::forward<R>(value)));
  }
}

}  // namespace engram::internal

#endif  // ENGRAM_ACTORS_INTERNAL_REPLY_H_
