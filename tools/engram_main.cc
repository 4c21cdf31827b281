// The engram command line: `engram journal verify|dump|stats|tail DIR`.
// `engram --help` lists the commands; `engram journal --help` and
// `engram journal <command> --help` describe them.
#include <cstdio>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "engram/tools/cli_flags.h"
#include "engram/tools/journal_command.h"

int main(int argc, char** argv) {
  CLI::App app("The engram command line.", "engram");
  app.require_subcommand(0, 1);
  // Everything after `journal` goes to RunJournalCommand, --help included.
  CLI::App* journal =
      app.add_subcommand("journal", "Inspect a journal: verify, dump, stats, tail (see "
                                    "'engram journal --help').")
          ->prefix_command();
  journal->set_help_flag();
  if (argc >= 2 && std::string(argv[1]) == "help") {  // as before: `engram help`
    std::fputs(app.help().c_str(), stdout);
    return engram::tools::kExitOk;
  }
  if (argc >= 2 && argv[1][0] != '-' && std::string(argv[1]) != "journal") {
    std::fprintf(stderr, "engram: unknown command '%s' (try: engram --help)\n", argv[1]);
    return engram::tools::kExitUsage;
  }
  if (const std::optional<int> code = engram::cli::Parse(app, argc, argv, "engram")) {
    return *code;
  }
  if (journal->parsed()) return engram::tools::RunJournalCommand(journal->remaining());
  std::fprintf(stderr, "engram: missing command\n%s", app.help().c_str());
  return engram::tools::kExitUsage;
}
