#include "engram/base/internal/callable_traits.h"

#include <string>
#include <type_traits>

#include <catch2/catch.hpp>

namespace {
int Free(const std::string&, double) { return 0; }
}  // namespace

TEST_CASE("callable traits name each parameter of lambdas and functions", "[base]") {
  auto one = [](const std::string&) {};
  auto two = [](int, std::string&&) mutable noexcept {};
  using One = engram::internal::CallableTraits<decltype(one)>;
  using Two = engram::internal::CallableTraits<decltype(two)>;
  using Fn = engram::internal::CallableTraits<decltype(&Free)>;
  STATIC_REQUIRE(One::Arity == 1);
  STATIC_REQUIRE(std::is_same_v<One::Arg<0>, const std::string&>);
  STATIC_REQUIRE(Two::Arity == 2);
  STATIC_REQUIRE(std::is_same_v<Two::Arg<1>, std::string&&>);
  STATIC_REQUIRE(Fn::Arity == 2);
  STATIC_REQUIRE(std::is_same_v<Fn::Arg<1>, double>);
}
