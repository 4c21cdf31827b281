#include "actors/internal/mailbox.h"

#include <atomic>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

namespace engram {
namespace {

#ifdef ENGRAM_TSAN
constexpr int kPerProducer = 20'000;
#else
constexpr int kPerProducer = 500'000;
#endif

struct Item {
  int producer;
  int seq;
};

TEST_CASE("the first push into a blocked mailbox reports that it unblocked it",
          "[actors][mailbox]") {
  Mailbox mb;
  auto* a = new TypedEnvelope<int>(1);
  auto* b = new TypedEnvelope<int>(2);
  REQUIRE(mb.Push(a) == Mailbox::PushResult::kUnblocked);
  REQUIRE(mb.Push(b) == Mailbox::PushResult::kPushed);
  Envelope* x = mb.Pop();
  Envelope* y = mb.Pop();
  REQUIRE(x == a);
  REQUIRE(y == b);
  REQUIRE(mb.Pop() == nullptr);
  REQUIRE(mb.TryBlock());
  delete x;
  delete y;
  auto* c = new TypedEnvelope<int>(3);
  REQUIRE(mb.Push(c) == Mailbox::PushResult::kUnblocked);
  REQUIRE_FALSE(mb.TryBlock());  // not empty: the owner must go on
  Envelope* rest = mb.Close();
  REQUIRE(rest == c);
  REQUIRE(Mailbox::TakeNext(rest) == nullptr);
  delete rest;
  auto* d = new TypedEnvelope<int>(4);
  REQUIRE(mb.Push(d) == Mailbox::PushResult::kClosed);
  delete d;
}

TEST_CASE("a mailbox keeps each producer's order and loses nothing under contention",
          "[actors][mailbox][stress]") {
  Mailbox mb;
  constexpr int kProducers = 4;
  std::atomic<int> unblocks{0};
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      for (int i = 0; i < kPerProducer; ++i) {
        if (mb.Push(new TypedEnvelope<Item>(Item{p, i})) ==
            Mailbox::PushResult::kUnblocked) {
          unblocks.fetch_add(1);
        }
      }
    });
  }
  std::vector<int> next(kProducers, 0);
  int received = 0, out_of_order = 0;
  while (received < kProducers * kPerProducer) {
    Envelope* e = mb.Pop();
    if (e == nullptr) {
      std::this_thread::yield();
      continue;
    }
    const Item& it = PayloadOf<Item>(*e);
    if (it.seq != next[it.producer]) ++out_of_order;
    next[it.producer] = it.seq + 1;
    ++received;
    delete e;
  }
  for (auto& t : producers) t.join();
  REQUIRE(out_of_order == 0);
  REQUIRE(received == kProducers * kPerProducer);
  REQUIRE(mb.Pop() == nullptr);
  REQUIRE(unblocks.load() == 1);  // the owner never blocked after the first
}

}  // namespace
}  // namespace engram
