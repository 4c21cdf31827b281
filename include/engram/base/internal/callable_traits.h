#ifndef ENGRAM_BASE_INTERNAL_CALLABLE_TRAITS_H_
#define ENGRAM_BASE_INTERNAL_CALLABLE_TRAITS_H_

// The parameter types of a lambda or function object, for the templates that
// deduce a message or event type from a handler (Actor::Handle,
// PersistentActor's command and apply handlers, Projection::On).
// CallableTraits<F>::Arg<I> is the I-th parameter type as declared (with its
// cv-ref qualifiers); Arity is the parameter count. Overloaded or generic
// call operators are not supported: the handler's types must be explicit.

#include <cstddef>
#include <tuple>

namespace engram::internal {

template <class F>
struct CallableTraits : CallableTraits<decltype(&F::operator())> {};

template <class C, class R, class... A>
struct CallableTraits<R (C::*)(A...) const> {
  static constexpr std::size_t Arity = sizeof...(A);
  template <std::size_t I>
  using Arg = std::tuple_element_t<I, std::tuple<A...>>;
};
template <class C, class R, class... A>
struct CallableTraits<R (C::*)(A...)> : CallableTraits<R (C::*)(A...) const> {};
template <class C, class R, class... A>
struct CallableTraits<R (C::*)(A...) const noexcept>
    : CallableTraits<R (C::*)(A...) const> {};
template <class C, class R, class... A>
struct CallableTraits<R (C::*)(A...) noexcept>
    : CallableTraits<R (C::*)(A...) const> {};
template <class R, class... A>
struct CallableTraits<R (*)(A...)> {
  static constexpr std::size_t Arity = sizeof...(A);
  template <std::size_t I>
  using Arg = std::tuple_element_t<I, std::tuple<A...>>;
};

}  // namespace engram::internal

#endif  // ENGRAM_BASE_INTERNAL_CALLABLE_TRAITS_H_
