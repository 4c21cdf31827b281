// `engram journal verify|dump|stats|tail DIR ...`: the journal subcommands
// of the engram command line, built on the public journal headers only.
//
// The interface takes the arguments as strings: the parser (CLI11) and the
// JSON writer (nlohmann-json) stay inside the library, so an application
// that embeds the commands needs neither. An application with its own CLI11
// command line forwards what follows its `journal` word (see
// examples/bank/bank_main.cc: a `journal` subcommand with prefix_command()).
//
// Thread-safety: one RunJournalCommand at a time per process (it prints to
// stdout and keeps the describer in a global for its duration).
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
// `program` names the command in usage and error lines ("bank": "bank
// journal dump DIR ...", "bank: ...").
int RunJournalCommand(const std::vector<std::string>& args, RecordDescriber describe,
                      const std::string& program = "engram");

// The usage text (--help) of `engram journal`.
const char* JournalUsage();

}  // namespace engram::tools

#endif  // ENGRAM_TOOLS_JOURNAL_COMMAND_H_
