// `engram journal verify|dump|stats|tail DIR ...`: the journal subcommands
// of the engram command line, built on the public journal headers only.
#ifndef ENGRAM_TOOLS_JOURNAL_COMMAND_H_
#define ENGRAM_TOOLS_JOURNAL_COMMAND_H_

#include <string>
#include <functional>
#include <vector>

#include "engram/journal/record.h"

namespace engram::tools {

// Exit codes of the command line.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;  // damage found, I/O error, not a journal
inline constexpr int kExitUsage = 2;    // bad arguments

// Runs `engram journal ARGS...` (args excludes "engram journal"); writes
// results to stdout, diagnostics to stderr; returns the exit code.
int RunJournalCommand(const std::vector<std::string>& args);

// A record's fields as text, or "" when there is none. An application that
// embeds the command line (e.g. `bank journal dump`) passes one built on
// its EventRegistry, so that dump and tail also print field values.
using RecordDescriber = std::function<std::string(const RecordView&)>;
int RunJournalCommand(const std::vector<std::string>& args, RecordDescriber describe);

// The usage text of `engram journal`.
const char* JournalUsage();

}  // namespace engram::tools

#endif  // ENGRAM_TOOLS_JOURNAL_COMMAND_H_
