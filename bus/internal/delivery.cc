#include "bus/internal/delivery.h"

#include <vector>

#include "bus/internal/subscription.h"

namespace engram::internal {
namespace {

struct Deferred {
  Delivery d;
  absl::Status status;
  bool abandoned;
};

struct DispatchState {
  int depth = 0;
  std::vector<Deferred> deferred;
};

thread_local DispatchState t_dispatch;

}  // namespace

Delivery& Delivery::operator=(Delivery&& o) noexcept {
  if (this != &o) {
    Delivery old(std::move(*this));
    event = std::move(o.event);
    sub = std::move(o.sub);
    group = std::move(o.group);
    partition = o.partition;
    attempt = o.attempt;
    in_window = o.in_window;
  }
  return *this;
}

Delivery::~Delivery() {
  if (sub == nullptr) return;
  Delivery self(std::move(event), std::move(sub), std::move(group), partition, attempt);
  self.in_window = in_window;
  CompleteDelivery(std::move(self),
                   absl::UnavailableError("the subscriber stopped before handling the event"),
                   /*abandoned=*/true);
}

void CompleteDelivery(Delivery d, absl::Status status, bool abandoned) {
  if (d.sub == nullptr) return;
  if (t_dispatch.depth > 0) {
    t_dispatch.deferred.push_back(Deferred{std::move(d), std::move(status), abandoned});
    return;
  }
  std::shared_ptr<Subscription> sub = d.sub;
  sub->Complete(std::move(d), std::move(status), abandoned);
}

DispatchScope::DispatchScope() noexcept { ++t_dispatch.depth; }

DispatchScope::~DispatchScope() {
  if (--t_dispatch.depth > 0) return;
  while (!t_dispatch.deferred.empty()) {
    std::vector<Deferred> batch;
    batch.swap(t_dispatch.deferred);
    for (Deferred& x : batch) CompleteDelivery(std::move(x.d), std::move(x.status), x.abandoned);
  }
}

}  // namespace engram::internal
