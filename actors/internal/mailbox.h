#ifndef ENGRAM_ACTORS_INTERNAL_MAILBOX_H_
#define ENGRAM_ACTORS_INTERNAL_MAILBOX_H_

#include <atomic>
#include <cstdint>
#include <utility>

#include "engram/actors/envelope.h"

namespace engram {

// An actor's mailbox: a lock-free multi-producer, single-consumer queue
// whose head word also carries the actor's scheduling state.
//
// Senders push onto an intrusive LIFO stack with one CAS (Treiber push); the
// owner takes the whole stack with one exchange and reverses it into a
// private FIFO cache. The push CAS is the linearization point, so the queue
// is linearizable: two sends ordered by happens-before (in particular two
// sends by one sender, whatever worker thread it is on) are received in
// that order. This is the per-sender FIFO guarantee, without per-producer
// sub-queues.
//
// The head word has two sentinel values besides "a stack" and "empty":
//  - kBlocked: the owner found the mailbox empty and is not scheduled. The
//    sender whose push replaces kBlocked must schedule the owner (Push()
//    returns kUnblocked); every other sender need not.
//  - kClosed: the owner stopped. Push() fails with kClosed and the caller
//    routes the message to dead letters.
//
// Cost: one pointer of shared state plus two of owner state; no allocation
// beyond the envelopes themselves.
//
// Thread-safety: Push() from any thread; everything else by the owner (the
// thread running the actor's turn) only.
class Mailbox {
 public:
  enum class PushResult { kPushed, kUnblocked, kClosed };

  Mailbox() noexcept = default;
  ~Mailbox();
  Mailbox(const Mailbox&) = delete;
  Mailbox& operator=(const Mailbox&) = delete;

  PushResult Push(Envelope* e) noexcept {
    Envelope* head = head_.load(std::memory_order_relaxed);
    for (;;) {
      if (head == Closed()) return PushResult::kClosed;
      e->next_ = head == Blocked() ? nullptr : head;
      // Writer: any sender. Release publishes the envelope to the owner's
      // acquire exchange; acquire (on success) makes the owner's last turn,
      // which ended with the release CAS to kBlocked, happen before the
      // turn this sender schedules.
      if (head_.compare_exchange_weak(head, e, std::memory_order_acq_rel,
                                      std::memory_order_relaxed)) {
        return head == Blocked() ? PushResult::kUnblocked : PushResult::kPushed;
      }
    }
  }

  // Owner: the oldest message, or nullptr if none is queued now.
  Envelope* Pop() noexcept {
    if (cache_ == nullptr && !Refill()) return nullptr;
    Envelope* e = cache_;
    cache_ = e->next_;
    e->next_ = nullptr;
    return e;
  }

  // Owner: true if a message is queued now.
  bool HasMessages() noexcept { return cache_ != nullptr || Refill(); }

  // Owner: marks the mailbox blocked if it is empty. Returns false (and
  // stays unblocked) if messages are queued; the owner must go on.
  bool TryBlock() noexcept {
    if (cache_ != nullptr) return false;
    Envelope* expected = nullptr;
    // Writer: owner. Release: this turn's effects happen before the turn a
    // later sender schedules (see Push()).
    return head_.compare_exchange_strong(expected, Blocked(),
                                         std::memory_order_acq_rel,
                                         std::memory_order_relaxed);
  }

  // Owner: closes the mailbox and returns every queued message in FIFO
  // order, linked through the envelopes' mailbox links (walk the list with
  // TakeNext()). Later pushes fail with kClosed.
  Envelope* Close() noexcept;

  // For a list returned by Close(): unlinks `e` from the envelope after it
  // and returns that one (nullptr at the end).
  static Envelope* TakeNext(Envelope* e) noexcept {
    return std::exchange(e->next_, nullptr);
  }

  // Before the owner is constructed or published: start out scheduled
  // instead of blocked (the spawner schedules the first turn itself), so
  // that sends made meanwhile, e.g. from the owner's constructor, just queue
  // (kPushed) and are taken, in order, by that first turn. Relaxed: the
  // spawner publishes the cell later with release operations.
  void StartScheduled() noexcept {
    head_.store(nullptr, std::memory_order_relaxed);
  }

  // Owner or after the owner is gone: true once closed.
  bool closed() const noexcept {
    return head_.load(std::memory_order_acquire) == Closed();
  }

  // The initial state: blocked (an idle actor that nobody has scheduled).
  static Envelope* Blocked() noexcept {
    return reinterpret_cast<Envelope*>(uintptr_t{1});
  }
  static Envelope* Closed() noexcept {
    return reinterpret_cast<Envelope*>(uintptr_t{2});
  }

 private:
  // Moves the shared stack into the cache, reversed. False if it was empty.
  bool Refill() noexcept {
    // Empty, or (outside a turn) blocked or closed: nothing to take.
    if (reinterpret_cast<uintptr_t>(head_.load(std::memory_order_relaxed)) <=
        reinterpret_cast<uintptr_t>(Closed())) {
      return false;
    }
    // Writer: owner. Acquire pairs with the senders' release pushes.
    Envelope* stack = head_.exchange(nullptr, std::memory_order_acquire);
    Envelope* fifo = nullptr;
    while (stack != nullptr) {
      Envelope* next = stack->next_;
      stack->next_ = fifo;
      fifo = stack;
      stack = next;
    }
    cache_ = fifo;
    return fifo != nullptr;
  }

  std::atomic<Envelope*> head_{Blocked()};
  Envelope* cache_ = nullptr;  // owner only: FIFO of taken messages
};

}  // namespace engram

#endif  // ENGRAM_ACTORS_INTERNAL_MAILBOX_H_
