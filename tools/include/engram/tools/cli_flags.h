#ifndef ENGRAM_TOOLS_CLI_FLAGS_H_
#define ENGRAM_TOOLS_CLI_FLAGS_H_

// CLI11 validators and the parse step shared by the project's command lines
// (the `engram` CLI, the examples and the benchmark drivers), so that a bad
// value is refused with the same wording and exit code everywhere. CLI11
// prefixes the flag: "--accounts: 'many' is not a number >= 2".
//
// Header-only; link the engram_cli_flags target (it brings CLI11).

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

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

// The exit code of a command line that could not be parsed.
inline constexpr int kExitUsage = 2;

// Runs `parse` (which calls one of app.parse's overloads). Returns
// std::nullopt when the command line parsed and the program goes on;
// otherwise the exit code the program returns: 0 after --help (printed on
// stdout), kExitUsage after a bad command line, reported on stderr as
// "<program>: <error> (try: <usage> [<subcommand> ]--help)".
template <class ParseFn>
[[nodiscard]] std::optional<int> ParseWith(CLI::App& app, const std::string& program,
                                           const std::string& usage, ParseFn&& parse) {
  try {
    parse();
  } catch (const CLI::Success& e) {  // --help
    const int code = app.exit(e);
    std::cout.flush();
    return code;
  } catch (const CLI::ParseError& e) {
    const std::vector<CLI::App*> selected = app.get_subcommands();
    std::fprintf(stderr, "%s: %s (try: %s %s--help)\n", program.c_str(), e.what(),
                 usage.c_str(),
                 selected.empty() ? "" : (selected[0]->get_name() + " ").c_str());
    return kExitUsage;
  }
  return std::nullopt;
}

// ParseWith for a main's own arguments; `program` names it in errors.
[[nodiscard]] inline std::optional<int> Parse(CLI::App& app, int argc, char** argv,
                                              const std::string& program) {
  return ParseWith(app, program, program, [&] { app.parse(argc, argv); });
}

}  // namespace engram::cli

#endif  // ENGRAM_TOOLS_CLI_FLAGS_H_
