#include "actors/internal/mailbox.h"

namespace engram {

Mailbox::~Mailbox() {
  Envelope* e = Close();
  while (e != nullptr) {
    Envelope* next = e->next_;
    delete e;
    e = next;
  }
}

Envelope* Mailbox::Close() noexcept {
  Envelope* stack = head_.exchange(Closed(), std::memory_order_acq_rel);
  if (stack == Blocked() || stack == Closed()) stack = nullptr;
  // The stack holds the newest messages, newest first; append them,
  // reversed, after the cache.
  Envelope* fifo = nullptr;
  while (stack != nullptr) {
    Envelope* next = stack->next_;
    stack->next_ = fifo;
    fifo = stack;
    stack = next;
  }
  if (cache_ == nullptr) return fifo;
  Envelope* tail = cache_;
  while (tail->next_ != nullptr) tail = tail->next_;
  tail->next_ = fifo;
  Envelope* all = cache_;
  cache_ = nullptr;
  return all;
}

}  // namespace engram
