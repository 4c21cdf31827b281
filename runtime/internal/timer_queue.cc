#include "engram/runtime/internal/timer_queue.h"

#include <cstdint>
#include <utility>

namespace engram::internal {

TimerId TimerQueue::Add(absl::Time deadline, absl::Duration period,
                        absl::AnyInvocable<void()> fn) {
  const TimerId id = next_id_++;
  timers_.emplace(id, Timer{period, std::make_shared<absl::AnyInvocable<void()>>(
                                        std::move(fn))});
  heap_.push({deadline, id});
  return id;
}

bool TimerQueue::Cancel(TimerId id) { return timers_.erase(id) > 0; }

void TimerQueue::DropCancelledTop() {
  while (!heap_.empty() && !timers_.contains(heap_.top().id)) heap_.pop();
}

absl::Time TimerQueue::NextDeadline() {
  DropCancelledTop();
  return heap_.empty() ? absl::InfiniteFuture() : heap_.top().deadline;
}

std::vector<TimerQueue::Callback> TimerQueue::TakeDue(absl::Time now,
                                                    size_t max) {
  std::vector<Callback> due;
  for (DropCancelledTop();
       due.size() < max && !heap_.empty() && heap_.top().deadline <= now;
       DropCancelledTop()) {
    const HeapEntry top = heap_.top();
    heap_.pop();
    auto it = timers_.find(top.id);
    due.push_back(it->second.fn);
    if (it->second.period > absl::ZeroDuration()) {
      heap_.push({top.deadline + it->second.period, top.id});
    } else {
      timers_.erase(it);
    }
  }
  return due;
}

}  // namespace engram::internal
