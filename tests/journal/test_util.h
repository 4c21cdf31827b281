// Helpers shared by the journal tests: temporary directories and file bytes.
#ifndef ENGRAM_TESTS_JOURNAL_TEST_UTIL_H_
#define ENGRAM_TESTS_JOURNAL_TEST_UTIL_H_

#include <dirent.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tests/temp_dir.h"

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

}  // namespace engram::testing

#endif  // ENGRAM_TESTS_JOURNAL_TEST_UTIL_H_
