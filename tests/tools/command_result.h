#ifndef ENGRAM_TESTS_TOOLS_COMMAND_RESULT_H_
#define ENGRAM_TESTS_TOOLS_COMMAND_RESULT_H_

// Runs a shell command line for the CLI tests and captures its exit code,
// stdout and stderr (through files in a TempDir; stdin is /dev/null).

#include <sys/wait.h>

#include <cstdlib>
#include <string>

#include "tests/journal/test_util.h"

namespace engram::testing {

struct CommandResult {
  int code = -1;  // the exit code, or 128 + the signal that ended it
  std::string out, err;
};

inline CommandResult RunCommand(const TempDir& tmp, const std::string& command_line) {
  const std::string out = tmp.Sub("stdout"), err = tmp.Sub("stderr");
  const std::string cmd = command_line + " >" + out + " 2>" + err + " </dev/null";
  const int status = std::system(cmd.c_str());
  CommandResult r;
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = ReadFile(out);
  r.err = ReadFile(err);
  return r;
}

inline int CountLines(const std::string& s) {
  int n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

}  // namespace engram::testing

#endif  // ENGRAM_TESTS_TOOLS_COMMAND_RESULT_H_
