#ifndef ENGRAM_RUNTIME_INTERNAL_WORK_STEALING_DEQUE_H_
#define ENGRAM_RUNTIME_INTERNAL_WORK_STEALING_DEQUE_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <type_traits>
#include <vector>

namespace engram {

// The Chase–Lev work-stealing deque (Chase & Lev, SPAA 2005), with the
// memory orders of Lê, Pop, Cohen & Zappa Nardelli, "Correct and Efficient
// Work-Stealing for Weak Memory Models" (PPoPP 2013).
//
// The owner thread pushes and pops at the bottom (LIFO, no atomic RMW unless
// the deque holds one item); any thread may steal from the top (FIFO, one
// CAS). The ring grows by doubling when full; old rings are kept until the
// deque is destroyed, since a thief may still be reading one (the memory is
// bounded by twice the largest ring).
//
// Thread-safety: Push() and Pop() by the owner thread only; Steal() and
// SizeApprox() from any thread. T must be a pointer (stored in atomics).
template <class T>
class WorkStealingDeque {
  static_assert(std::is_pointer_v<T>, "WorkStealingDeque holds pointers");

 public:
  explicit WorkStealingDeque(size_t capacity = 256) {
    size_t cap = 1;
    while (cap < capacity) cap <<= 1;
    rings_.push_back(std::make_unique<Ring>(cap));
    ring_.store(rings_.back().get(), std::memory_order_relaxed);
  }
  WorkStealingDeque(const WorkStealingDeque&) = delete;
  WorkStealingDeque& operator=(const WorkStealingDeque&) = delete;

  // Owner only.
  void Push(T item) {
    const int64_t b = bottom_.load(std::memory_order_relaxed);
    const int64_t t = top_.load(std::memory_order_acquire);
    Ring* r = ring_.load(std::memory_order_relaxed);
    if (b - t > static_cast<int64_t>(r->mask)) r = Grow(r, t, b);
    r->Put(b, item);
    // Writer: owner. Release publishes the slot (and the item it points to)
    // to thieves, which load bottom_ with acquire.
    bottom_.store(b + 1, std::memory_order_release);
  }

  // Owner only. Returns nullptr when empty.
  T Pop() noexcept {
    const int64_t b = bottom_.load(std::memory_order_relaxed) - 1;
    Ring* r = ring_.load(std::memory_order_relaxed);
    bottom_.store(b, std::memory_order_relaxed);
    // The seq_cst fence orders the bottom_ store before the top_ load, so an
    // owner and a thief racing for the last item cannot both miss each
    // other's claim.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    int64_t t = top_.load(std::memory_order_relaxed);
    if (t > b) {  // empty
      bottom_.store(b + 1, std::memory_order_relaxed);
      return nullptr;
    }
    T item = r->Get(b);
    if (t == b) {  // last item: race the thieves for it
      if (!top_.compare_exchange_strong(t, t + 1, std::memory_order_seq_cst,
                                        std::memory_order_relaxed)) {
        item = nullptr;
      }
      bottom_.store(b + 1, std::memory_order_relaxed);
    }
    return item;
  }

  // Any thread. Returns nullptr when empty or when it lost a race (callers
  // treat both as "nothing here now").
  T Steal() noexcept {
    int64_t t = top_.load(std::memory_order_acquire);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    const int64_t b = bottom_.load(std::memory_order_acquire);
    if (t >= b) return nullptr;
    Ring* r = ring_.load(std::memory_order_acquire);
    T item = r->Get(t);
    // Writer: owner (last item) and thieves. seq_cst pairs with Pop()'s
    // fence; success means this thread alone took slot t.
    if (!top_.compare_exchange_strong(t, t + 1, std::memory_order_seq_cst,
                                      std::memory_order_relaxed)) {
      return nullptr;
    }
    return item;
  }

  // Any thread; a snapshot that may be stale by the time it is used.
  size_t SizeApprox() const noexcept {
    const int64_t b = bottom_.load(std::memory_order_relaxed);
    const int64_t t = top_.load(std::memory_order_relaxed);
    return b > t ? static_cast<size_t>(b - t) : 0;
  }

 private:
  struct Ring {
    explicit Ring(size_t cap) : mask(cap - 1), slots(cap) {}
    void Put(int64_t i, T item) noexcept {
      slots[static_cast<size_t>(i) & mask].store(item, std::memory_order_relaxed);
    }
    T Get(int64_t i) const noexcept {
      return slots[static_cast<size_t>(i) & mask].load(std::memory_order_relaxed);
    }
    const size_t mask;
    std::vector<std::atomic<T>> slots;
  };

  Ring* Grow(Ring* old, int64_t t, int64_t b) {
    auto bigger = std::make_unique<Ring>((old->mask + 1) * 2);
    for (int64_t i = t; i < b; ++i) bigger->Put(i, old->Get(i));
    Ring* r = bigger.get();
    rings_.push_back(std::move(bigger));
    // Writer: owner. Release publishes the copied slots to thieves.
    ring_.store(r, std::memory_order_release);
    return r;
  }

  // top_ and bottom_ on their own cache lines: thieves hammer top_, the
  // owner bottom_.
  alignas(64) std::atomic<int64_t> top_{0};
  alignas(64) std::atomic<int64_t> bottom_{0};
  alignas(64) std::atomic<Ring*> ring_{nullptr};
  std::vector<std::unique_ptr<Ring>> rings_;  // owner only; all rings ever used
};

}  // namespace engram

#endif  // ENGRAM_RUNTIME_INTERNAL_WORK_STEALING_DEQUE_H_
