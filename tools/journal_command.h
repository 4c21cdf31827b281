// `engram journal verify|dump|stats|tail DIR ...`: the journal subcommands
// of the engram command line, built on the public journal headers only.
#ifndef ENGRAM_TOOLS_JOURNAL_COMMAND_H_
#define ENGRAM_TOOLS_JOURNAL_COMMAND_H_

#include <string>
#include <vector>

namespace engram::tools {

// Exit codes of the command line.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;  // damage found, I/O error, not a journal
inline constexpr int kExitUsage = 2;    // bad arguments

// Runs `engram journal ARGS...` (args excludes "engram journal"); writes
// results to stdout, diagnostics to stderr; returns the exit code.
int RunJournalCommand(const std::vector<std::string>& args);

// The usage text of `engram journal`.
const char* JournalUsage();

}  // namespace engram::tools

#endif  // ENGRAM_TOOLS_JOURNAL_COMMAND_H_
