#ifndef ENGRAM_RUNTIME_INTERNAL_TIMER_QUEUE_H_
#define ENGRAM_RUNTIME_INTERNAL_TIMER_QUEUE_H_

#include <cstdint>
#include <memory>
#include <queue>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/time/time.h"
#include "engram/runtime/timer_service.h"

namespace engram::internal {

// The bookkeeping shared by every TimerService: a min-heap of deadlines with
// lazy deletion, and the callbacks by id. Periodic timers are re-armed when
// they are taken due, at deadline + period (no drift).
//
// Thread-safety: none; the owning service serialises access.
class TimerQueue {
 public:
  using Callback = std::shared_ptr<absl::AnyInvocable<void()>>;

  TimerId Add(absl::Time deadline, absl::Duration period,
              absl::AnyInvocable<void()> fn);
  bool Cancel(TimerId id);

  // Removes up to `max` timers due at `now` and returns their callbacks,
  // earliest first (ties in scheduling order). Periodic timers are re-armed.
  std::vector<Callback> TakeDue(absl::Time now, size_t max = SIZE_MAX);

  // The earliest pending deadline, or InfiniteFuture when none.
  absl::Time NextDeadline();

  size_t size() const { return timers_.size(); }

 private:
  struct Timer {
    absl::Duration period;
    Callback fn;
  };
  struct HeapEntry {
    absl::Time deadline;
    TimerId id;  // ids grow, so they order ties by scheduling order
    bool operator>(const HeapEntry& o) const {
      return deadline != o.deadline ? deadline > o.deadline : id > o.id;
    }
  };
  void DropCancelledTop();

  TimerId next_id_ = 1;
  absl::flat_hash_map<TimerId, Timer> timers_;
  std::priority_queue<HeapEntry, std::vector<HeapEntry>, std::greater<>> heap_;
};

}  // namespace engram::internal

#endif  // ENGRAM_RUNTIME_INTERNAL_TIMER_QUEUE_H_
