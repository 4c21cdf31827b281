// The shop example's command line.
//
//   shop run --journal DIR --orders N [--threads T] [--seed S]
//     Recovers, resumes unfinished orders, places N orders (payments above
//     500 fail and are compensated), prints `placed K` every 100 orders and
//     at the end, then waits until every order is completed or cancelled.
//   shop check --journal DIR
//     Recovers, resumes every unfinished order, waits until all are
//     finished, and prints `orders=N completed=C cancelled=X available=A`
//     and the orders-by-status projection; exits 0 only if every order
//     finished, the stock matches the completed orders, and the projection
//     agrees with the orders.
//   shop catalog
//     Prints the AsyncAPI 3.0 document of the shop's events.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "engram/actors/actor_system.h"
#include "engram/bus/event_bus.h"
#include "shop/shop_model.h"
#include "engram/image/async_api_catalog.h"
#include "engram/image/memory_image.h"

namespace {

constexpr int64_t kInitialStock = 1'000'000'000;

[[noreturn]] void Usage(const std::string& error) {
  std::fprintf(stderr,
               "shop: %s\n"
               "usage: shop run --journal DIR --orders N [--threads T] [--seed S]\n"
               "       shop check --journal DIR\n"
               "       shop catalog\n",
               error.c_str());
  std::exit(2);
}

// Resumes every order and waits until each is finished; returns the states.
std::vector<shop::OrderState> FinishOrders(engram::ActorSystem& system,
                                           engram::MemoryImage& image) {
  std::vector<engram::ActorRef> pending;
  for (uint64_t id : image.StreamIds("order")) {
    engram::ActorRef r = image.Find(id).value();
    r.Send(shop::Resume{});
    pending.push_back(r);
  }
  std::vector<shop::OrderState> done;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(5);
  while (!pending.empty()) {
    std::vector<engram::AskFuture<shop::OrderState>> asks;
    for (const auto& r : pending) {
      asks.push_back(system.AskAsync<shop::OrderState>(r, shop::GetPhase{}, absl::Seconds(60)));
    }
    std::vector<engram::ActorRef> still;
    for (size_t i = 0; i < pending.size(); ++i) {
      absl::StatusOr<shop::OrderState> s = asks[i].Get();
      if (!s.ok()) {
        std::fprintf(stderr, "shop: %s: %s\n", pending[i].name().c_str(),
                     s.status().ToString().c_str());
        std::exit(1);
      }
      if (s->phase == shop::Phase::kNew || shop::Finished(s->phase)) {
        done.push_back(*s);
      } else {
        still.push_back(pending[i]);
      }
    }
    pending.swap(still);
    if (std::chrono::steady_clock::now() > deadline) {
      std::fprintf(stderr, "shop: %zu orders did not finish within 5 minutes\n", pending.size());
      std::exit(1);
    }
    if (!pending.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return done;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) Usage("missing command (run, check or catalog)");
  const std::string command = argv[1];
  std::string journal;
  int64_t orders = -1;
  int threads = 0;
  uint64_t seed = 1;
  for (int i = 2; i < argc; ++i) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) Usage(flag + " needs a value");
    const std::string value = argv[++i];
    int64_t v = 0;
    if (flag == "--journal") {
      journal = value;
    } else if (absl::SimpleAtoi(value, &v) && v >= 0 && flag == "--orders") {
      orders = v;
    } else if (absl::SimpleAtoi(value, &v) && v >= 1 && flag == "--threads") {
      threads = static_cast<int>(v);
    } else if (absl::SimpleAtoi(value, &v) && flag == "--seed") {
      seed = static_cast<uint64_t>(v);
    } else {
      Usage(absl::StrCat("bad flag or value: ", flag, " ", value));
    }
  }
  engram::EventRegistry registry;
  if (!shop::RegisterEvents(registry).ok()) return 1;
  if (command == "catalog") {
    engram::AsyncApiCatalog catalog("engram shop example", "1.0.0",
                                    "The order flow of examples/shop as a memory image.");
    catalog.AddImageEvents(registry, "image");
    std::fputs(catalog.ToJson().c_str(), stdout);
    return 0;
  }
  if (command != "run" && command != "check") Usage("unknown command '" + command + "'");
  if (journal.empty()) Usage("--journal DIR is required");
  if (command == "run" && orders < 0) Usage("--orders N is required");

  engram::ActorSystemOptions options;
  options.scheduler.threads = threads;
  engram::ActorSystem system(options);
  engram::EventBus bus(system, "shop");
  shop::SetBus(&bus);
  engram::MemoryImage image(system, registry);
  shop::RegisterKinds(image);
  shop::Services services(bus, image);
  engram::MemoryImage::Options image_options;
  image_options.bus = &bus;
  image_options.journal.create_if_missing = command == "run";
  const auto start = std::chrono::steady_clock::now();
  if (absl::Status s = image.Open(journal, image_options); !s.ok()) {
    std::fprintf(stderr, "shop: cannot open %s: %s\n", journal.c_str(), s.ToString().c_str());
    return 1;
  }
  std::fprintf(stderr, "shop: recovered %llu events in %.3f s\n",
               static_cast<unsigned long long>(image.recovery().events),
               std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  if (command == "run" && !image.Find(shop::kInventoryStream).ok()) {
    engram::ActorRef inv = image.Spawn<shop::Inventory>(shop::kInventoryStream).value();
    if (!system.Ask<engram::Done>(inv, shop::Restock{kInitialStock}, absl::Seconds(60)).ok()) {
      return 1;
    }
  }
  if (command == "run") {
    FinishOrders(system, image);  // what a crash left in flight
    const std::vector<uint64_t> existing = image.StreamIds("order");
    uint64_t next = existing.empty() ? shop::kFirstOrder : existing.back() + 1;
    std::mt19937_64 rng(seed ^ next);
    std::deque<engram::AskFuture<engram::Done>> inflight;
    int64_t placed = 0;
    auto settle = [&] {
      if (inflight.front().Get().ok() && ++placed % 100 == 0) {
        std::printf("placed %lld\n", static_cast<long long>(placed));
        std::fflush(stdout);
      }
      inflight.pop_front();
    };
    for (int64_t i = 0; i < orders; ++i) {
      engram::ActorRef o = image.Spawn<shop::Order>(next++).value();
      inflight.push_back(system.AskAsync<engram::Done>(
          o, shop::Checkout{static_cast<int32_t>(1 + rng() % 5), static_cast<int64_t>(1 + rng() % 600)},
          absl::Seconds(60)));
      if (inflight.size() >= 256) settle();
    }
    while (!inflight.empty()) settle();
    std::printf("placed %lld\n", static_cast<long long>(placed));
    std::fflush(stdout);
  }
  const std::vector<shop::OrderState> states = FinishOrders(system, image);
  int64_t completed = 0, cancelled = 0, sold = 0;
  for (const auto& s : states) {
    if (s.phase == shop::Phase::kCompleted) {
      ++completed;
      sold += s.items;
    }
    if (s.phase == shop::Phase::kCancelled) ++cancelled;
  }
  const int64_t available =
      system.Ask<int64_t>(image.Find(shop::kInventoryStream).value(), shop::GetAvailable{},
                          absl::Seconds(60))
          .value_or(-1);
  auto projection = image.SpawnProjection<shop::OrdersByStatus>();
  if (!projection.ok()) return 1;
  auto counts = system.Ask<std::map<std::string, int64_t>>(*projection, shop::CountByStatus{},
                                                           absl::Seconds(60));
  std::printf("orders=%zu completed=%lld cancelled=%lld available=%lld emails=%zu invoices=%zu\n",
              states.size(), static_cast<long long>(completed),
              static_cast<long long>(cancelled), static_cast<long long>(available),
              services.emails(), services.invoices());
  std::printf("orders by status:");
  for (const auto& [status, n] : *counts) {
    std::printf(" %s=%lld", status.c_str(), static_cast<long long>(n));
  }
  std::printf("\n");
  std::fflush(stdout);
  bool ok = available == kInitialStock - sold;
  if (!ok) std::fprintf(stderr, "shop: stock %lld, expected %lld\n",
                        static_cast<long long>(available),
                        static_cast<long long>(kInitialStock - sold));
  const auto get = [&](const char* k) {
    auto it = counts->find(k);
    return it == counts->end() ? int64_t{0} : it->second;
  };
  if (get("completed") != completed || get("cancelled") != cancelled) {
    std::fprintf(stderr, "shop: the projection disagrees with the orders\n");
    ok = false;
  }
  for (const auto& s : states) {
    if (!shop::Finished(s.phase) && s.phase != shop::Phase::kNew) ok = false;
  }
  return ok ? 0 : 1;
}
