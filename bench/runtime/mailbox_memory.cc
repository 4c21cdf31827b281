// Bytes per mailbox for the two designs DESIGN.md weighs: engram's
// linearizable Treiber-stack mailbox and moodycamel::ConcurrentQueue (default
// traits and BLOCK_SIZE = 2), empty, after one producer thread and after two
// have enqueued (the queue grows an implicit sub-queue per producer thread).
// Heap bytes from mallinfo2(), averaged over many queues.
#include <malloc.h>

#include <atomic>
#include <cstdio>
#include <memory>
#include <thread>
#include <vector>

#include "actors/internal/mailbox.h"
#include "concurrentqueue/concurrentqueue.h"

namespace {

struct SmallBlocks : moodycamel::ConcurrentQueueDefaultTraits {
  static const size_t BLOCK_SIZE = 2;
  static const size_t IMPLICIT_INITIAL_INDEX_SIZE = 2;
  static const size_t EXPLICIT_INITIAL_INDEX_SIZE = 2;
};

size_t HeapInUse() { return mallinfo2().uordblks; }

constexpr int kQueues = 2000;

template <class Queue>
void Measure(const char* name) {
  std::vector<std::unique_ptr<Queue>> qs;
  qs.reserve(kQueues);
  const size_t base = HeapInUse();
  // Capacity 0: no pre-allocated blocks, the queue's smallest footprint.
  for (int i = 0; i < kQueues; ++i) qs.push_back(std::make_unique<Queue>(0));
  const size_t empty = HeapInUse();
  int item = 0;
  // Two producer threads, both alive until both have enqueued (a finished
  // thread's implicit sub-queue would be recycled by the next thread).
  std::atomic<int> stage{0};
  size_t one = 0;
  std::thread first([&] {
    for (auto& q : qs) q->enqueue(&item);
    stage = 1;
    while (stage.load() != 2) std::this_thread::yield();
  });
  while (stage.load() != 1) std::this_thread::yield();
  one = HeapInUse();
  std::thread second([&] {
    for (auto& q : qs) q->enqueue(&item);
  });
  second.join();
  const size_t two = HeapInUse();
  stage = 2;
  first.join();
  std::printf("%-40s empty %6zu B, after 1 producer %6zu B, after 2 %6zu B\n", name,
              sizeof(Queue) + (empty - base) / kQueues - sizeof(void*),
              sizeof(Queue) + (one - base) / kQueues - sizeof(void*),
              sizeof(Queue) + (two - base) / kQueues - sizeof(void*));
}

}  // namespace

int main() {
  std::printf("%-40s empty %6zu B, after 1 producer %6zu B, after 2 %6zu B "
              "(no heap; each queued message is its envelope)\n",
              "engram::Mailbox", sizeof(engram::Mailbox), sizeof(engram::Mailbox),
              sizeof(engram::Mailbox));
  Measure<moodycamel::ConcurrentQueue<void*>>("moodycamel::ConcurrentQueue<void*>");
  Measure<moodycamel::ConcurrentQueue<void*, SmallBlocks>>(
      "moodycamel::ConcurrentQueue BLOCK_SIZE=2");
  return 0;
}
