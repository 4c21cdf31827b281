// Runs the `bank` binary as a child process for the tests that drive it
// from outside: spawn with stdout (and optionally stderr) on a pipe, read
// it to the end, the last `acked K` line, and `bank check`'s verdict.
#ifndef ENGRAM_TESTS_EXAMPLES_BANK_CHILD_H_
#define ENGRAM_TESTS_EXAMPLES_BANK_CHILD_H_

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

// ENGRAM_TEST_ASAN: built with AddressSanitizer (GCC or clang), whose
// slower processes get fewer rounds (ENGRAM_TSAN is set by the build).
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ENGRAM_TEST_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define ENGRAM_TEST_ASAN 1
#endif

namespace engram::testing {

struct Child {
  pid_t pid = -1;
  int out = -1;  // read end of the child's stdout
};

inline Child Spawn(const std::vector<std::string>& args, bool merge_stderr = false) {
  int fds[2];
  REQUIRE(pipe2(fds, O_CLOEXEC) == 0);
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    if (merge_stderr) {
      dup2(fds[1], STDERR_FILENO);
    } else {
      int devnull = open("/dev/null", O_WRONLY);
      dup2(devnull, STDERR_FILENO);
    }
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(fds[1]);
  return Child{pid, fds[0]};
}

// Reads everything the child printed until it exits; returns its exit code.
inline int Finish(Child& c, std::string* out) {
  char buf[4096];
  ssize_t n;
  while ((n = read(c.out, buf, sizeof buf)) > 0) out->append(buf, static_cast<size_t>(n));
  close(c.out);
  int status = 0;
  REQUIRE(waitpid(c.pid, &status, 0) == c.pid);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

inline int64_t LastAcked(const std::string& out) {
  int64_t last = 0;
  for (absl::string_view line : absl::StrSplit(out, '\n')) {
    int64_t k = 0;
    if (absl::ConsumePrefix(&line, "acked ") && absl::SimpleAtoi(line, &k)) last = k;
  }
  return last;
}

struct CheckResult {
  int code;
  int64_t accounts = -1, total = -1, transfers = -1;
};

inline CheckResult Check(const std::string& dir, const std::string& binary = BANK_BINARY) {
  Child c = Spawn({binary, "check", "--journal", dir});
  std::string out;
  CheckResult r{Finish(c, &out)};
  long long a = 0, t = 0, k = 0;
  if (std::sscanf(out.c_str(), "accounts=%lld total=%lld transfers=%lld", &a, &t, &k) == 3) {
    r.accounts = a;
    r.total = t;
    r.transfers = k;
  }
  return r;
}

}  // namespace engram::testing

#endif  // ENGRAM_TESTS_EXAMPLES_BANK_CHILD_H_
