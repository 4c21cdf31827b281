// The bank's actors in-process: transfers complete, fail, or are
// compensated, and money is conserved in each case.
#include <stdlib.h>

#include <filesystem>
#include <string>

#include <catch2/catch.hpp>

#include "engram/actors/actor_system.h"
#include "bank/bank_model.h"
#include "tests/temp_dir.h"

namespace {

using engram::ActorRef;

struct Bank {
  Bank()
      : system(engram::ActorSystemOptions{.scheduler = {.threads = 2}}),
        image(system, Registry()) {
    bank::RegisterKinds(image);
    REQUIRE(image.Open(tmp.Sub("journal")).ok());
    for (uint64_t i = 1; i <= 2; ++i) {
      ActorRef a = image.Spawn<bank::Account>(i).value();
      REQUIRE(system.Ask<engram::Done>(a, bank::Open{1000}, absl::Seconds(60)).ok());
    }
  }
  static const engram::EventRegistry& Registry() {
    static engram::EventRegistry* r = [] {
      auto* reg = new engram::EventRegistry();
      REQUIRE(bank::RegisterEvents(*reg).ok());
      return reg;
    }();
    return *r;
  }
  bank::Phase Transfer(uint64_t id, uint64_t from, uint64_t to, int64_t amount) {
    ActorRef t = image.Spawn<bank::Transfer>(id).value();
    REQUIRE(system.Ask<engram::Done>(t, bank::Start{from, to, amount}, absl::Seconds(60)).ok());
    for (;;) {
      bank::Phase p = system.Ask<bank::Phase>(t, bank::GetPhase{}, absl::Seconds(60)).value();
      if (bank::Finished(p)) return p;
      absl::SleepFor(absl::Milliseconds(1));
    }
  }
  int64_t Balance(uint64_t id) {
    return system.Ask<int64_t>(image.Find(id).value(), bank::GetBalance{}, absl::Seconds(60))
        .value();
  }
  engram::testing::TempDir tmp;  // outlives the image that writes into it
  engram::ActorSystem system;
  engram::MemoryImage image;
};

TEST_CASE("a transfer debits one account and credits the other", "[examples][bank]") {
  Bank b;
  REQUIRE(b.Transfer(bank::kFirstTransferId, 1, 2, 300) == bank::Phase::kCompleted);
  REQUIRE(b.Balance(1) == 700);
  REQUIRE(b.Balance(2) == 1300);
}

TEST_CASE("a transfer larger than the balance fails and moves nothing", "[examples][bank]") {
  Bank b;
  REQUIRE(b.Transfer(bank::kFirstTransferId, 1, 2, 5000) == bank::Phase::kFailed);
  REQUIRE(b.Balance(1) == 1000);
  REQUIRE(b.Balance(2) == 1000);
}

TEST_CASE("a transfer whose credit fails is compensated by a refund", "[examples][bank]") {
  Bank b;
  REQUIRE(b.system
              .Ask<engram::Done>(b.image.Find(2).value(), bank::Freeze{}, absl::Seconds(60))
              .ok());
  REQUIRE(b.Transfer(bank::kFirstTransferId, 1, 2, 100) == bank::Phase::kCompensated);
  REQUIRE(b.Balance(1) == 1000);
  REQUIRE(b.Balance(2) == 1000);
}

TEST_CASE("a step delivered twice is applied once", "[examples][bank]") {
  Bank b;
  ActorRef acc = b.image.Find(1).value();
  // The same debit twice (as after a restart that re-sends a step).
  for (int i = 0; i < 2; ++i) {
    acc.Send(bank::Debit{42, 10, ActorRef()});
  }
  REQUIRE(b.Balance(1) == 990);
}

}  // namespace

#include "engram/image/test_kit.h"

namespace {

using Kit = engram::ImageTestKit<bank::Account>;

TEST_CASE("given an open account, a debit within the balance is one Debited event",
          "[examples][bank][testkit]") {
  Kit kit(Bank::Registry());
  REQUIRE(kit.status().ok());
  kit.Given(bank::AccountOpened{1000}).When(bank::Debit{7, 300, engram::ActorRef()});
  REQUIRE(kit.ThenEvents(bank::Debited{7, 300}) == "");
}

TEST_CASE("given an open account, a debit beyond the balance emits nothing",
          "[examples][bank][testkit]") {
  Kit kit(Bank::Registry());
  kit.Given(bank::AccountOpened{100}).When(bank::Debit{7, 300, engram::ActorRef()});
  REQUIRE(kit.ThenEvents() == "");
}

TEST_CASE("given a debit already applied, the same debit again emits nothing",
          "[examples][bank][testkit]") {
  Kit kit(Bank::Registry());
  kit.Given(bank::AccountOpened{1000}, bank::Debited{7, 300})
      .When(bank::Debit{7, 300, engram::ActorRef()});
  REQUIRE(kit.ThenEvents() == "");
  kit.When<int64_t>(bank::GetBalance{});
  REQUIRE(*kit.Reply<int64_t>() == 700);
}

TEST_CASE("the test kit reports a wrong expectation instead of passing",
          "[examples][bank][testkit]") {
  Kit kit(Bank::Registry());
  kit.Given(bank::AccountOpened{1000}).When(bank::Debit{7, 300, engram::ActorRef()});
  REQUIRE(kit.ThenEvents(bank::Debited{7, 301}) != "");
  REQUIRE(kit.ThenEvents() != "");
  REQUIRE(kit.ThenRejected(absl::StatusCode::kInvalidArgument) == "the command was accepted");
}

TEST_CASE("a transfer with a non-positive amount is rejected", "[examples][bank][testkit]") {
  engram::ImageTestKit<bank::Transfer> kit(Bank::Registry(), bank::kFirstTransferId);
  kit.When(bank::Start{1, 2, 0});
  REQUIRE(kit.ThenRejected(absl::StatusCode::kInvalidArgument) == "");
}

}  // namespace
