// The engram command line: `engram journal verify|dump|stats|tail DIR`.
#include <cstdio>
#include <string>
#include <vector>

#include "engram/tools/journal_command.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
    std::fputs(engram::tools::JournalUsage(), args.empty() ? stderr : stdout);
    return args.empty() ? engram::tools::kExitUsage : engram::tools::kExitOk;
  }
  if (args[0] == "journal") {
    args.erase(args.begin());
    return engram::tools::RunJournalCommand(args);
  }
  std::fprintf(stderr, "engram: unknown command '%s' (try: engram journal --help)\n",
               args[0].c_str());
  return engram::tools::kExitUsage;
}
