#ifndef ENGRAM_TESTS_BUS_BUS_TEST_UTIL_H_
#define ENGRAM_TESTS_BUS_BUS_TEST_UTIL_H_

#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "engram/base/internal/mutex.h"

namespace engram::testing {

// A thread-safe list of what subscribers saw.
template <class T>
class Log {
 public:
  void Add(T v) {
    MutexLock lock(&mu_);
    items_.push_back(std::move(v));
  }
  std::vector<T> items() const {
    MutexLock lock(&mu_);
    return items_;
  }
  size_t size() const {
    MutexLock lock(&mu_);
    return items_.size();
  }

 private:
  mutable Mutex mu_;
  std::vector<T> items_ ABSL_GUARDED_BY(mu_);
};

struct Order {
  Order() = default;
  explicit Order(int i, std::string r = "") : id(i), region(std::move(r)) {}
  int id = 0;
  std::string region;
};
struct Payment {
  explicit Payment(int a = 0) : amount(a) {}
  int amount = 0;
};

}  // namespace engram::testing

#endif  // ENGRAM_TESTS_BUS_BUS_TEST_UTIL_H_
