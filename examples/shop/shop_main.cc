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
//
// `shop --help` and `shop <command> --help` describe the options (CLI11);
// check also takes --threads and --seed. A bad argument prints one line
// naming the flag and the value and exits 2.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>

#include "engram/tools/cli_flags.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "engram/actors/actor_system.h"
#include "engram/bus/event_bus.h"
#include "shop/shop_model.h"
#include "engram/image/async_api_catalog.h"
#include "engram/image/memory_image.h"

namespace {

constexpr int64_t kInitialStock = 1'000'000'000;

using engram::cli::kExitUsage;

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
  std::string command;
  std::string journal;
  int64_t orders = -1;
  int threads = 0;
  int64_t seed = 1;
  CLI::App app("The shop example: an order flow (orders, payments, inventory, shipping) as a "
               "memory image with sagas and a projection.\nExit codes: 0 consistent, 1 error "
               "or inconsistency, 2 bad arguments.",
               "shop");
  app.require_subcommand(0, 1);
  auto common = [&](CLI::App* c) {
    c->add_option("--journal", journal, "the journal directory")->type_name("DIR")->required();
    c->add_option("--threads", threads, "worker threads, >= 1 (default: one per core)")
        ->type_name("T")
        ->check(engram::cli::AtLeast(1));
    c->add_option("--seed", seed, "random seed (default 1)")->type_name("S")->check(engram::cli::Integer());
  };
  CLI::App* run = app.add_subcommand(
      "run",
      "Recover, resume unfinished orders, place N orders (payments above 500 fail and are "
      "compensated), print `placed K` every 100 orders and at the end.");
  common(run);
  run->add_option("--orders", orders, "orders to place, >= 0")
      ->type_name("N")
      ->required()
      ->check(engram::cli::AtLeast(0));
  CLI::App* check = app.add_subcommand(
      "check",
      "Recover, resume and finish every order, print the counts and the orders-by-status "
      "projection; exit 0 only if stock and projection agree with the orders.");
  common(check);
  CLI::App* catalog =
      app.add_subcommand("catalog", "Print the AsyncAPI 3.0 document of the shop's events.");
  for (CLI::App* c : {run, check, catalog}) {
    c->callback([&command, c] { command = c->get_name(); });
  }
  if (argc >= 2 && argv[1][0] != '-') {
    const std::string c = argv[1];
    if (c != "run" && c != "check" && c != "catalog") {
      std::fprintf(stderr, "shop: unknown command '%s' (try: shop --help)\n", c.c_str());
      return kExitUsage;
    }
  }
  if (const std::optional<int> code = engram::cli::Parse(app, argc, argv, "shop")) {
    return *code;
  }
  if (command.empty()) {
    std::fprintf(stderr, "shop: missing command (run, check or catalog; try: shop --help)\n");
    return kExitUsage;
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
  // A run killed early may have left no inventory, or one that was never
  // restocked (its creation journaled, the restock not): orders are only
  // placed after the restock, so with no orders the stock is set up again.
  if (command == "run" && image.StreamIds("order").empty()) {
    engram::ActorRef inv;
    if (auto found = image.Find(shop::kInventoryStream); found.ok()) {
      inv = *found;
    } else {
      inv = image.Spawn<shop::Inventory>(shop::kInventoryStream).value();
    }
    const int64_t have =
        system.Ask<int64_t>(inv, shop::GetAvailable{}, absl::Seconds(60)).value_or(-1);
    if (have < 0) return 1;
    if (have < kInitialStock &&
        !system.Ask<engram::Done>(inv, shop::Restock{kInitialStock - have}, absl::Seconds(60))
             .ok()) {
      return 1;
    }
  }
  if (command == "run") {
    FinishOrders(system, image);  // what a crash left in flight
    const std::vector<uint64_t> existing = image.StreamIds("order");
    uint64_t next = existing.empty() ? shop::kFirstOrder : existing.back() + 1;
    std::mt19937_64 rng(static_cast<uint64_t>(seed) ^ next);
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
  // No inventory yet: a run was killed before it set up the stock (and so
  // before it placed any order).
  auto inventory = image.Find(shop::kInventoryStream);
  const int64_t available =
      inventory.ok()
          ? system.Ask<int64_t>(*inventory, shop::GetAvailable{}, absl::Seconds(60)).value_or(-1)
          : 0;
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
  // Before the first order the stock is either set up or not (a run killed
  // between creating the inventory and journaling its restock).
  const int64_t expected =
      states.empty() && available < kInitialStock ? 0 : kInitialStock - sold;
  bool ok = available == expected;
  if (!ok) std::fprintf(stderr, "shop: stock %lld, expected %lld\n",
                        static_cast<long long>(available), static_cast<long long>(expected));
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
