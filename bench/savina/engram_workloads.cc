#include "bench/savina/engram_workloads.h"

#include <malloc.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "engram/actors/actor_system.h"
#include "engram/base/internal/mutex.h"
#include "bench/bench_util.h"

namespace engram::bench::engram_impl {
namespace {

using Clock = std::chrono::steady_clock;

ActorSystemOptions Threads(int threads) {
  ActorSystemOptions o;
  o.scheduler.threads = threads;
  return o;
}

// Savina's fork-join "tiny computation", as in caf_workloads.cpp.
volatile double g_theta = 37.2;
inline double TinyCompute() {
  const double s = std::sin(g_theta);
  return s * s;
}

Result Finish(Clock::time_point start, double ops, bool ok, std::string detail) {
  const double s = SecondsSince(start);
  return Result{ops / s, ok, ok ? std::string() : std::move(detail)};
}

// A one-shot slot for the value that ends a run.
struct Outcome {
  Notification done;
  std::atomic<int64_t> value{0};
  void Set(int64_t v) {
    value.store(v, std::memory_order_relaxed);
    done.Notify();
  }
};

// ---- PingPong -------------------------------------------------------------

struct PingMsg {};
struct PongMsg {};
struct Start {};

class Pong : public Actor {
 public:
  Pong() {
    Handle([this](const ActorRef& ping) { ping_ = ping; });
    Handle([this](PingMsg) { ping_.Send(PongMsg{}); });
  }

 private:
  ActorRef ping_;
};

class Ping : public Actor {
 public:
  Ping(ActorRef pong, int64_t n, Outcome* out) : pong_(pong), left_(n) {
    Handle([this](Start) { pong_.Send(PingMsg{}); });
    Handle([this, out](PongMsg) {
      ++done_;
      if (--left_ == 0) {
        out->Set(done_);
      } else {
        pong_.Send(PingMsg{});
      }
    });
  }

 private:
  ActorRef pong_;
  int64_t left_;
  int64_t done_ = 0;
};

// ---- Counting -------------------------------------------------------------

struct Incr {};
struct Query {
  ActorRef reply_to;
};
struct Total {
  int64_t count;
};

class CountingActor : public Actor {
 public:
  CountingActor() {
    Handle([this](Incr) { ++count_; });
    Handle([this](const Query& q) { q.reply_to.Send(Total{count_}); });
  }

 private:
  int64_t count_ = 0;
};

class Producer : public Actor {
 public:
  Producer(ActorRef counter, int64_t n, Outcome* out) {
    Handle([this, counter, n](Start) {
      for (int64_t i = 0; i < n; ++i) counter.Send(Incr{});
      counter.Send(Query{self()});
    });
    Handle([out](const Total& t) { out->Set(t.count); });
  }
};

// ---- FjThroughput -----------------------------------------------------------

struct Work {};

class ThroughputWorker : public Actor {
 public:
  ThroughputWorker(int64_t expected, std::atomic<int64_t>* processed,
                   std::atomic<int>* finished, Outcome* out, int actors) {
    Handle([=, this](Work) {
      sum_ += TinyCompute();
      if (++count_ == expected) {
        processed->fetch_add(count_);
        if (finished->fetch_add(1) + 1 == actors) out->Set(processed->load());
      }
    });
  }

 private:
  int64_t count_ = 0;
  double sum_ = 0;
};

// ---- ThreadRing -------------------------------------------------------------

struct Token {
  int64_t remaining;
};

class RingNode : public Actor {
 public:
  RingNode(int index, Outcome* out) {
    Handle([this](const ActorRef& next) { next_ = next; });
    Handle([this, out, index](const Token& t) {
      if (t.remaining > 0) {
        next_.Send(Token{t.remaining - 1});
      } else {
        out->Set(index);  // the run must end at node hops % actors
      }
    });
  }

 private:
  ActorRef next_;
};

// ---- FjCreate ----------------------------------------------------------------

class CreateWorker : public Actor {
 public:
  CreateWorker(std::atomic<int64_t>* processed, int64_t total, Outcome* out) {
    Handle([=, this](Work) {
      if (TinyCompute() > 0.0) {
        if (processed->fetch_add(1, std::memory_order_relaxed) + 1 == total) {
          out->Set(total);
        }
      }
      Stop();
    });
  }
};

// ---- Big ---------------------------------------------------------------------

struct BigPing {
  ActorRef from;
};
struct BigPong {};
struct BigDone {
  int64_t sent;
};

inline uint64_t NextRandom(uint64_t& x) {  // splitmix64, as the CAF side
  uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

class BigSink : public Actor {
 public:
  BigSink(int actors, Outcome* out) {
    Handle([=, this](const BigDone& d) {
      total_ += d.sent;
      if (++finished_ == actors) out->Set(total_);
    });
  }

 private:
  int finished_ = 0;
  int64_t total_ = 0;
};

class BigNode : public Actor {
 public:
  BigNode(int index, const std::vector<ActorRef>* peers, int64_t pings, ActorRef sink)
      : index_(index), peers_(peers), pings_(pings), sink_(sink),
        rng_(0x5eed0000ULL + static_cast<uint64_t>(index)) {
    Handle([this](Start) {
      if (pings_ > 0) {
        SendPing();
      } else {
        sink_.Send(BigDone{0});
      }
    });
    Handle([this](const BigPing& p) { p.from.Send(BigPong{}); });
    Handle([this](BigPong) {
      if (sent_ < pings_) {
        SendPing();
      } else {
        sink_.Send(BigDone{sent_});
      }
    });
  }

 private:
  void SendPing() {
    const auto n = static_cast<uint64_t>(peers_->size());
    uint64_t j = NextRandom(rng_) % (n - 1);  // any actor but this one
    if (j >= static_cast<uint64_t>(index_)) ++j;
    ++sent_;
    (*peers_)[j].Send(BigPing{self()});
  }

  int index_;
  const std::vector<ActorRef>* peers_;
  int64_t pings_;
  ActorRef sink_;
  uint64_t rng_;
  int64_t sent_ = 0;
};

// ---- Chameneos ---------------------------------------------------------------

enum Colour : int { kRed = 0, kYellow = 1, kBlue = 2, kFaded = 3 };
inline int Complement(int a, int b) { return a == b ? a : 3 - a - b; }

struct MeetRequest {
  int colour;
  ActorRef creature;
};
struct MeetWith {
  int colour;
  ActorRef other;
};
struct ChangeColour {
  int colour;
};
struct Fade {};
struct Report {
  int64_t meetings;
};

class Mall : public Actor {
 public:
  Mall(int64_t meetings, int creatures, Outcome* out)
      : remaining_(meetings), creatures_(creatures) {
    Handle([this](MeetRequest r) {
      if (remaining_ > 0) {
        if (!waiting_) {
          waiting_ = std::move(r.creature);
        } else {
          --remaining_;
          waiting_.Send(MeetWith{r.colour, std::move(r.creature)});
          waiting_ = ActorRef();
        }
      } else {
        r.creature.Send(Fade{});
      }
    });
    Handle([this, out](const Report& r) {
      sum_ += r.meetings;
      if (++faded_ == creatures_) {
        // Both checks in one value: the creatures' total, or -1 if the mall
        // did not arrange exactly `meetings` meetings.
        out->Set(remaining_ == 0 ? sum_ : -1);
      }
    });
  }

 private:
  int64_t remaining_;
  int creatures_;
  ActorRef waiting_;
  int64_t sum_ = 0;
  int faded_ = 0;
};

class Creature : public Actor {
 public:
  Creature(ActorRef mall, int colour) : mall_(mall), colour_(colour) {
    Handle([this](Start) { mall_.Send(MeetRequest{colour_, self()}); });
    Handle([this](const MeetWith& m) {
      colour_ = Complement(colour_, m.colour);
      ++meetings_;
      m.other.Send(ChangeColour{colour_});
      mall_.Send(MeetRequest{colour_, self()});
    });
    Handle([this](const ChangeColour& c) {
      colour_ = c.colour;
      ++meetings_;
      mall_.Send(MeetRequest{colour_, self()});
    });
    Handle([this](Fade) {
      colour_ = kFaded;
      mall_.Send(Report{meetings_});
      Stop();
    });
  }

 private:
  ActorRef mall_;
  int colour_;
  int64_t meetings_ = 0;
};

// ---- idle actors ---------------------------------------------------------------

struct Touch {};

class IdleActor : public Actor {
 public:
  explicit IdleActor(std::atomic<int64_t>* touched) {
    Handle([touched](Touch) { touched->fetch_sub(1, std::memory_order_release); });
  }
};

std::string Mismatch(const char* what, int64_t got, int64_t want) {
  return std::string(what) + " " + std::to_string(got) + ", expected " +
         std::to_string(want);
}

}  // namespace

Result PingPong(int threads, int64_t round_trips) {
  ActorSystem system(Threads(threads));
  Outcome out;
  ActorRef pong = system.Spawn<Pong>();
  ActorRef ping = system.Spawn<Ping>(pong, round_trips, &out);
  pong.Send(ping);
  const auto start = Clock::now();
  ping.Send(Start{});
  out.done.WaitForNotification();
  const int64_t got = out.value.load();
  return Finish(start, static_cast<double>(round_trips), got == round_trips,
                Mismatch("round trips", got, round_trips));
}

Result Counting(int threads, int64_t n) {
  ActorSystem system(Threads(threads));
  Outcome out;
  ActorRef counter = system.Spawn<CountingActor>();
  ActorRef producer = system.Spawn<Producer>(counter, n, &out);
  const auto start = Clock::now();
  producer.Send(Start{});
  out.done.WaitForNotification();
  const int64_t got = out.value.load();
  return Finish(start, static_cast<double>(n), got == n, Mismatch("count", got, n));
}

Result FjThroughput(int threads, int actors, int64_t per_actor) {
  ActorSystem system(Threads(threads));
  Outcome out;
  std::atomic<int64_t> processed{0};
  std::atomic<int> finished{0};
  std::vector<ActorRef> workers;
  for (int i = 0; i < actors; ++i) {
    workers.push_back(
        system.Spawn<ThroughputWorker>(per_actor, &processed, &finished, &out, actors));
  }
  const auto start = Clock::now();
  for (int64_t k = 0; k < per_actor; ++k) {
    for (const ActorRef& w : workers) w.Send(Work{});
  }
  out.done.WaitForNotification();
  const int64_t want = per_actor * actors;
  const int64_t got = out.value.load();
  return Finish(start, static_cast<double>(want), got == want,
                Mismatch("messages", got, want));
}

Result ThreadRing(int threads, int actors, int64_t hops) {
  ActorSystem system(Threads(threads));
  Outcome out;
  std::vector<ActorRef> ring;
  for (int i = 0; i < actors; ++i) ring.push_back(system.Spawn<RingNode>(i, &out));
  for (int i = 0; i < actors; ++i) ring[i].Send(ring[(i + 1) % actors]);
  const auto start = Clock::now();
  ring[0].Send(Token{hops});
  out.done.WaitForNotification();
  const int64_t want = hops % actors;
  return Finish(start, static_cast<double>(hops), out.value.load() == want,
                Mismatch("token ended at node", out.value.load(), want));
}

Result FjCreate(int threads, int64_t actors) {
  ActorSystem system(Threads(threads));
  Outcome out;
  std::atomic<int64_t> processed{0};
  const auto start = Clock::now();
  for (int64_t i = 0; i < actors; ++i) {
    system.Spawn<CreateWorker>(&processed, actors, &out).Send(Work{});
  }
  out.done.WaitForNotification();
  const int64_t got = out.value.load();
  return Finish(start, static_cast<double>(actors), got == actors,
                Mismatch("actors", got, actors));
}

Result Big(int threads, int actors, int64_t pings) {
  ActorSystem system(Threads(threads));
  Outcome out;
  ActorRef sink = system.Spawn<BigSink>(actors, &out);
  std::vector<ActorRef> peers;
  peers.reserve(actors);
  for (int i = 0; i < actors; ++i) {
    peers.push_back(system.Spawn<BigNode>(i, &peers, pings, sink));
  }
  const auto start = Clock::now();
  for (const ActorRef& p : peers) p.Send(Start{});
  out.done.WaitForNotification();
  const int64_t want = pings * actors;
  const int64_t got = out.value.load();
  return Finish(start, static_cast<double>(want), got == want, Mismatch("pings", got, want));
}

Result Chameneos(int threads, int creatures, int64_t meetings) {
  ActorSystem system(Threads(threads));
  Outcome out;
  ActorRef mall = system.Spawn<Mall>(meetings, creatures, &out);
  std::vector<ActorRef> all;
  for (int i = 0; i < creatures; ++i) {
    all.push_back(system.Spawn<Creature>(mall, i % 3));
  }
  const auto start = Clock::now();
  for (const ActorRef& c : all) c.Send(Start{});
  out.done.WaitForNotification();
  const int64_t got = out.value.load();
  return Finish(start, static_cast<double>(meetings), got == 2 * meetings,
                Mismatch("meetings counted by creatures", got, 2 * meetings));
}

double BytesPerIdleActor(int threads, int64_t actors) {
  ActorSystem system(Threads(threads));
  // The handle vector is allocated and touched before the baseline, so it
  // is not counted (as on the CAF side).
  std::vector<ActorRef> refs(actors);
  std::atomic<int64_t> touched{actors};
  // Return freed heap to the OS first, as the CAF side does, so memory left
  // by earlier workloads in this process is not reused unseen.
  malloc_trim(0);
  const int64_t before = ResidentBytes();
  for (int64_t i = 0; i < actors; ++i) refs[i] = system.Spawn<IdleActor>(&touched);
  for (const ActorRef& r : refs) r.Send(Touch{});
  while (touched.load(std::memory_order_acquire) > 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  const int64_t after = ResidentBytes();
  return static_cast<double>(after - before) / static_cast<double>(actors);
}

}  // namespace engram::bench::engram_impl
