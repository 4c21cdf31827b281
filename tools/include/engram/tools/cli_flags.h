#ifndef ENGRAM_TOOLS_CLI_FLAGS_H_
#define ENGRAM_TOOLS_CLI_FLAGS_H_

// CLI11 validators shared by the project's command lines (the `engram`
// CLI, the examples and the benchmark drivers), so that a bad value is
// refused with the same wording everywhere. CLI11 prefixes the flag:
// "--accounts: 'many' is not a number >= 2".
//
// Header-only; link the engram_cli_flags target (it brings CLI11).

#include <cstdint>
#include <cstdlib>
#include <string>

#include <CLI/CLI.hpp>

namespace engram::cli {

// A decimal integer >= `min` (and <= INT64_MAX).
inline CLI::Validator AtLeast(int64_t min) {
  return CLI::Validator(
      [min](std::string& s) -> std::string {
        char* end = nullptr;
        errno = 0;
        const long long v = std::strtoll(s.c_str(), &end, 10);
        if (!s.empty() && end == s.c_str() + s.size() && errno == 0 && v >= min) return "";
        return "'" + s + "' is not a number >= " + std::to_string(min);
      },
      "");
}

// A decimal integer of any sign (within int64_t).
inline CLI::Validator Integer() {
  return CLI::Validator(
      [](std::string& s) -> std::string {
        char* end = nullptr;
        errno = 0;
        (void)std::strtoll(s.c_str(), &end, 10);
        if (!s.empty() && end == s.c_str() + s.size() && errno == 0) return "";
        return "'" + s + "' is not a number";
      },
      "");
}

// A number (integer or decimal) > 0. (CLI11's PositiveNumber prints its
// range as 300 digits.)
inline CLI::Validator Positive() {
  return CLI::Validator(
      [](std::string& s) -> std::string {
        char* end = nullptr;
        const double v = std::strtod(s.c_str(), &end);
        if (!s.empty() && end == s.c_str() + s.size() && v > 0) return "";
        return "'" + s + "' is not a number > 0";
      },
      "");
}

}  // namespace engram::cli

#endif  // ENGRAM_TOOLS_CLI_FLAGS_H_
