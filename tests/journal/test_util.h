// Helpers shared by the journal tests: temporary directories and file bytes.
#ifndef ENGRAM_TESTS_JOURNAL_TEST_UTIL_H_
#define ENGRAM_TESTS_JOURNAL_TEST_UTIL_H_

#include <dirent.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tests/temp_dir.h"

extern char** environ;

namespace engram::testing {

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

inline std::vector<std::string> ListDir(const std::string& path) {
  std::vector<std::string> out;
  if (DIR* d = opendir(path.c_str())) {
    while (struct dirent* e = readdir(d)) {
      std::string n = e->d_name;
      if (n != "." && n != "..") out.push_back(n);
    }
    closedir(d);
  }
  return out;
}

// A payload whose bytes are derived from `key`, so a reader can check it.
inline std::string PayloadFor(uint64_t key, size_t size) {
  std::string s(size, '\0');
  uint64_t x = key * 0x9E3779B97F4A7C15ull + 1;
  for (size_t i = 0; i < size; ++i) {
    x ^= x >> 29;
    x *= 0xBF58476D1CE4E5B9ull;
    s[i] = static_cast<char>(x >> 56);
  }
  return s;
}

// Starts the program args[0] with `args` and its stdout on a pipe. Returns
// its pid and sets *out_fd to the pipe's read end; -1 if it cannot start.
inline pid_t SpawnWithStdoutPipe(std::vector<std::string> args, int* out_fd) {
  int fds[2];
  if (pipe(fds) != 0) return -1;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
  posix_spawn_file_actions_addclose(&fa, fds[0]);
  posix_spawn_file_actions_addclose(&fa, fds[1]);
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  close(fds[1]);
  if (rc != 0) {
    close(fds[0]);
    return -1;
  }
  *out_fd = fds[0];
  return pid;
}

}  // namespace engram::testing

#endif  // ENGRAM_TESTS_JOURNAL_TEST_UTIL_H_
