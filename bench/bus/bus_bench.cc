// Event bus throughput beside CAF 0.17.6 local groups and a plain
// mutex-protected map of callbacks, measured in one run:
//
//   publish_<n>sub_<exact|wildcard>: the main thread publishes events that
//     reach n subscribers; deliveries (events x subscribers) per second
//     until every subscriber has counted all of its events. engram and CAF
//     subscribers are actors on a 2-worker pool (same worker count), the
//     map calls its callbacks synchronously on the publisher's thread.
//     CAF groups have no wildcards: its figure on a wildcard line is the
//     same single-group publication.
//   match_10000_patterns: topic -> matching patterns among 10,000
//     (exact, '*' and '>' patterns); engram's token trie, CAF's
//     groups().get_local(name) lookup among 10,000 groups (CAF has no
//     pattern matching), and the map scanning every pattern.
//
// Each figure is the best of two alternating runs.
// Output: `name: engram X/s, caf Y/s, ratio X/Y, map Z/s`.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <latch>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <CLI/CLI.hpp>

#include "engram/tools/cli_flags.h"

#include "engram/actors/actor_system.h"
#include "bench/bus/caf_bus.h"
#include "engram/bus/event_bus.h"
#include "engram/bus/topic.h"
#include "bus/internal/topic_trie.h"

namespace engram::bench {
namespace {

constexpr int kThreads = 2;

struct Tick {
  int64_t n;
};

double Since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

class Counter final : public Actor {
 public:
  Counter(int64_t expected, std::latch* done) {
    Handle([this, expected, done](const BusEvent<Tick>&) {
      if (++count_ == expected) done->count_down();
    });
  }

 private:
  int64_t count_ = 0;
};

double EngramPublish(int subscribers, int64_t events, bool wildcard) {
  ActorSystemOptions o;
  o.scheduler.threads = kThreads;
  ActorSystem system(o);
  EventBus bus(system);
  std::latch done(subscribers);
  for (int i = 0; i < subscribers; ++i) {
    ActorRef a = system.Spawn<Counter>(events, &done);
    if (!bus.SubscribeActor<Tick>(wildcard ? "bench.*.>" : "bench.eu.tick", a).ok()) std::abort();
  }
  const auto start = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < events; ++i) {
    if (!bus.Publish("bench.eu.tick", Tick{i}).ok()) std::abort();
  }
  done.wait();
  return static_cast<double>(events) * subscribers / Since(start);
}

// The baseline: a mutex-protected map topic -> callbacks, plus a list of
// wildcard patterns scanned on every publication.
class CallbackMap {
 public:
  void Subscribe(const std::string& pattern, std::function<void(const Tick&)> fn) {
    std::lock_guard<std::mutex> lock(mu_);
    if (pattern.find_first_of("*>") == std::string::npos) {
      exact_[pattern].push_back(std::move(fn));
    } else {
      wild_.emplace_back(pattern, std::move(fn));
    }
  }
  void Publish(const std::string& topic, const Tick& t) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = exact_.find(topic);
    if (it != exact_.end()) {
      for (auto& fn : it->second) fn(t);
    }
    for (auto& [p, fn] : wild_) {
      if (PatternMatches(p, topic)) fn(t);
    }
  }

 private:
  std::mutex mu_;
  std::unordered_map<std::string, std::vector<std::function<void(const Tick&)>>> exact_;
  std::vector<std::pair<std::string, std::function<void(const Tick&)>>> wild_;
};

double MapPublish(int subscribers, int64_t events, bool wildcard) {
  CallbackMap map;
  std::vector<int64_t> counts(static_cast<size_t>(subscribers), 0);
  for (int i = 0; i < subscribers; ++i) {
    map.Subscribe(wildcard ? "bench.*.>" : "bench.eu.tick",
                  [&counts, i](const Tick&) { ++counts[static_cast<size_t>(i)]; });
  }
  const std::string topic = "bench.eu.tick";
  const auto start = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < events; ++i) map.Publish(topic, Tick{i});
  const double s = Since(start);
  for (int64_t c : counts) {
    if (c != events) std::abort();
  }
  return static_cast<double>(events) * subscribers / s;
}

std::vector<std::string> Patterns(int n) {
  std::vector<std::string> p;
  for (int i = 0; i < n; ++i) {
    const std::string a = "svc" + std::to_string(i % 100);
    const std::string b = "r" + std::to_string((i / 100) % 100);
    switch (i % 4) {
      case 0: p.push_back(a + "." + b + ".evt"); break;
      case 1: p.push_back(a + ".*.evt"); break;
      case 2: p.push_back(a + "." + b + ".>"); break;
      default: p.push_back("*." + b + ".evt"); break;
    }
  }
  return p;
}

std::vector<std::string> Topics(int n) {
  std::mt19937 rng(1);
  std::vector<std::string> t;
  for (int i = 0; i < n; ++i) {
    t.push_back("svc" + std::to_string(rng() % 100) + ".r" + std::to_string(rng() % 100) + ".evt");
  }
  return t;
}

double EngramMatch(int patterns, int64_t lookups) {
  TopicTrie<int> trie;
  const auto ps = Patterns(patterns);
  for (int i = 0; i < patterns; ++i) trie.Insert(ps[static_cast<size_t>(i)], i);
  const auto topics = Topics(1000);
  std::vector<int> out;
  size_t sink = 0;
  const auto start = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < lookups; ++i) {
    out.clear();
    trie.Match(topics[static_cast<size_t>(i) % topics.size()], &out);
    sink += out.size();
  }
  const double s = Since(start);
  if (sink == 0) std::abort();
  return static_cast<double>(lookups) / s;
}

double MapMatch(int patterns, int64_t lookups) {
  const auto ps = Patterns(patterns);
  const auto topics = Topics(1000);
  std::mutex mu;
  size_t sink = 0;
  const auto start = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < lookups; ++i) {
    std::lock_guard<std::mutex> lock(mu);
    const std::string& t = topics[static_cast<size_t>(i) % topics.size()];
    for (const auto& p : ps) sink += PatternMatches(p, t) ? 1 : 0;
  }
  const double s = Since(start);
  if (sink == 0) std::abort();
  return static_cast<double>(lookups) / s;
}

void Line(const char* name, double engram, double caf, double map) {
  std::printf("%s: engram %.3g/s, caf %.3g/s, ratio %.2f, map %.3g/s\n", name, engram, caf,
              caf > 0 ? engram / caf : 0.0, map);
  std::fflush(stdout);
}

}  // namespace
}  // namespace engram::bench

int main(int argc, char** argv) {
  using namespace engram::bench;
  // Scale: 1.0 by default; e.g. 0.1 for a quick run (`bus_bench 0.1`, as
  // before, or `bus_bench --scale 0.1`).
  double scale = 1.0;
  CLI::App app("Event bus throughput beside CAF 0.17.6 local groups and a mutex-protected "
               "map; prints `name: engram X/s, caf Y/s, ratio X/Y, map Z/s`.",
               "bus_bench");
  CLI::Option* positional =
      app.add_option("SCALE", scale, "multiplies every run's size (default 1; e.g. 0.1)")
          ->check(engram::cli::Positive());
  app.add_option("--scale", scale, "the same as SCALE")
      ->check(engram::cli::Positive())
      ->excludes(positional);
  if (const std::optional<int> code = engram::cli::Parse(app, argc, argv, "bus_bench")) {
    return *code;
  }
  auto n = [&](double v) { return static_cast<int64_t>(v * scale) + 1; };
  struct Row {
    int subs;
    int64_t events;
  };
  const Row rows[] = {{1, n(2'000'000)}, {10, n(300'000)}, {1000, n(3'000)}};
  for (bool wildcard : {false, true}) {
    for (const Row& r : rows) {
      char name[64];
      std::snprintf(name, sizeof(name), "publish_%dsub_%s", r.subs, wildcard ? "wildcard" : "exact");
      // Best of two, alternating, so neither side always runs on a heap the
      // other has just grown (page faults of a cold heap dominate a first run).
      double e = 0, c = 0, m = 0;
      for (int round = 0; round < 2; ++round) {
        e = std::max(e, EngramPublish(r.subs, r.events, wildcard));
        c = std::max(c, caf_bus::GroupPublish(kThreads, r.subs, r.events));
        m = std::max(m, MapPublish(r.subs, r.events, wildcard));
      }
      Line(name, e, c, m);
    }
  }
  const double e = EngramMatch(10'000, n(1'000'000));
  const double c = caf_bus::GroupLookup(kThreads, 10'000, n(1'000'000));
  const double m = MapMatch(10'000, n(2'000));
  Line("match_10000_patterns", e, c, m);
  return 0;
}
