#include "base/spin_wait.h"

#include <map>
#include <thread>
#include <utility>

#include "engram/base/internal/mutex.h"

namespace engram::internal {
namespace {

// The waker's state. Leaked on purpose: a bounded wait during static
// destruction still works.
struct WakerState {
  struct Armed {
    void (*nudge)(void*);
    void* word;
  };
  Mutex mu;
  CondVar cv;
  // (deadline, token) -> what to nudge; the earliest deadline first.
  std::map<std::pair<absl::Time, uint64_t>, Armed> armed ABSL_GUARDED_BY(mu);
  std::map<uint64_t, absl::Time> deadline_of ABSL_GUARDED_BY(mu);
  uint64_t next_token ABSL_GUARDED_BY(mu) = 1;
  bool started ABSL_GUARDED_BY(mu) = false;

  void Run() {
    MutexLock lock(&mu);
    for (;;) {
      if (armed.empty()) {
        cv.Wait(&mu);
        continue;
      }
      auto first = armed.begin();
      const absl::Time deadline = first->first.first;
      if (absl::Now() < deadline) {
        cv.WaitWithDeadline(&mu, deadline);
        continue;
      }
      // Under mu, so that Cancel (which takes mu) returns only when no
      // nudge of its word is running.
      first->second.nudge(first->second.word);
      deadline_of.erase(first->first.second);
      armed.erase(first);
    }
  }
};

WakerState& State() {
  static WakerState* const state = new WakerState;
  return *state;
}

}  // namespace

uint64_t DeadlineWaker::Arm(absl::Time deadline, void (*nudge)(void*), void* word) {
  WakerState& s = State();
  MutexLock lock(&s.mu);
  if (!s.started) {
    s.started = true;
    std::thread([&s] { s.Run(); }).detach();
  }
  const uint64_t token = s.next_token++;
  const bool earliest = s.armed.empty() || deadline < s.armed.begin()->first.first;
  s.armed.emplace(std::make_pair(deadline, token), WakerState::Armed{nudge, word});
  s.deadline_of.emplace(token, deadline);
  if (earliest) s.cv.SignalAll();
  return token;
}

void DeadlineWaker::Cancel(uint64_t token) {
  WakerState& s = State();
  MutexLock lock(&s.mu);
  auto it = s.deadline_of.find(token);
  if (it == s.deadline_of.end()) return;  // already nudged
  s.armed.erase(std::make_pair(it->second, token));
  s.deadline_of.erase(it);
}

}  // namespace engram::internal
