#ifndef ENGRAM_IMAGE_TEST_KIT_H_
#define ENGRAM_IMAGE_TEST_KIT_H_

#include <stdlib.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "engram/actors/actor_system.h"
#include "engram/image/event_registry.h"
#include "engram/image/internal/memory_image_test_peer.h"
#include "engram/image/memory_image.h"
#include "engram/runtime/deterministic_scheduler.h"

namespace engram {

// Given/When/Then for one persistent actor, on the DeterministicScheduler
// (single-threaded, fake time) and a throw-away journal:
//
//   ImageTestKit<Account> kit(registry);
//   kit.Given(AccountOpened{1000})
//      .When(Withdraw{300});
//   CHECK(kit.ThenEvents(Withdrawn{300}) == "");   // "" = as expected
//   kit.When(Withdraw{5000});
//   CHECK(kit.ThenRejected(absl::StatusCode::kFailedPrecondition) == "");
//
// Given events are applied as recovery would (apply only, no handler).
// When sends a command as a request and runs until idle. The Then checks
// return "" when they hold and a description of the difference otherwise,
// so any test framework can assert on them. Events are compared by their
// registered type and encoded bytes (no operator== needed).
//
// Thread-safety: single-threaded, like the scheduler it drives.
template <class A>
class ImageTestKit {
 public:
  explicit ImageTestKit(const EventRegistry& registry, uint64_t stream_id = 1)
      : registry_(registry), system_(scheduler_), image_(system_, registry) {
    std::string tmpl =
        (std::filesystem::temp_directory_path() / "engram-testkit-XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) {
      // Reported by status() (no image is opened); nothing is left to remove.
      open_status_ = absl::InternalError(
          absl::StrCat("ImageTestKit: cannot create a temporary directory from ", tmpl, ": ",
                       std::strerror(errno)));
      return;
    }
    dir_ = tmpl;
    image_.RegisterKind<A>("test-kit-actor");
    internal::MemoryImageTestPeer::SetCommitObserver(
        image_,
        [this](uint64_t, const std::vector<std::unique_ptr<Envelope>>& events) {
          for (const auto& e : events) {
            const EventRegistry::TypeInfo* info = nullptr;
            std::string bytes;
            if (registry_.Encode(*e, &info, &bytes).ok()) {
              emitted_.emplace_back(info->type_id, std::move(bytes));
            }
          }
        });
    MemoryImage::Options o;
    o.journal.segment_size = 1 << 20;
    open_status_ = image_.Open(dir_ + "/journal", o);
    if (open_status_.ok()) {
      absl::StatusOr<ActorRef> ref = image_.Spawn("test-kit-actor", stream_id);
      if (ref.ok()) actor_ = *ref;
      open_status_ = ref.status();
    }
    scheduler_.RunUntilIdle();
  }
  ~ImageTestKit() {
    if (dir_.empty()) return;
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  // The image could be set up (check it first).
  const absl::Status& status() const { return open_status_; }

  template <class... E>
  ImageTestKit& Given(E... events) {
    (GivenOne(std::move(events)), ...);
    scheduler_.RunUntilIdle();
    return *this;
  }

  template <class R = Done, class C>
  ImageTestKit& When(C command) {
    emitted_.clear();
    auto future = system_.AskAsync<R>(actor_, std::move(command), absl::Seconds(10));
    scheduler_.RunUntilIdle();
    last_status_ = absl::OkStatus();
    if (!future.ready()) {
      last_status_ = absl::DeadlineExceededError("the command was not answered");
    } else {
      absl::StatusOr<R> r = future.Get();
      last_status_ = r.status();
      if constexpr (!std::is_same_v<R, Done>) {
        if (r.ok()) last_reply_ = std::make_shared<R>(std::move(*r));
      }
    }
    return *this;
  }

  // The events the last command emitted, in order.
  template <class... E>
  std::string ThenEvents(E... expected) {
    if (!last_status_.ok()) {
      return absl::StrCat("the command was rejected: ", last_status_.ToString());
    }
    std::vector<std::pair<uint32_t, std::string>> want;
    std::string error;
    (Encode(std::move(expected), &want, &error), ...);
    if (!error.empty()) return error;
    if (want.size() != emitted_.size()) {
      return absl::StrCat("expected ", want.size(), " event(s), the command emitted ",
                          emitted_.size(), Describe());
    }
    for (size_t i = 0; i < want.size(); ++i) {
      if (want[i] != emitted_[i]) {
        return absl::StrCat("event ", i + 1, " differs", Describe());
      }
    }
    return "";
  }

  // The last command was rejected with `code` and emitted nothing.
  std::string ThenRejected(absl::StatusCode code) {
    if (last_status_.ok()) return "the command was accepted";
    if (last_status_.code() != code) {
      return absl::StrCat("rejected with ", last_status_.ToString(), ", expected code ",
                          absl::StatusCodeToString(code));
    }
    if (!emitted_.empty()) return "a rejected command emitted events";
    return "";
  }

  // The last command's reply (When<R>).
  template <class R>
  const R* Reply() const {
    return static_cast<const R*>(last_reply_.get());
  }

  const absl::Status& last_status() const { return last_status_; }
  ActorSystem& system() { return system_; }
  DeterministicScheduler& scheduler() { return scheduler_; }
  ActorRef actor() const { return actor_; }

 private:
  template <class E>
  void GivenOne(E event) {
    actor_.Send(internal::ReplayEvent{std::make_unique<TypedEnvelope<E>>(std::move(event)),
                                      0, ++given_version_});
  }
  template <class E>
  void Encode(E e, std::vector<std::pair<uint32_t, std::string>>* out, std::string* error) {
    TypedEnvelope<E> env(std::move(e));
    const EventRegistry::TypeInfo* info = nullptr;
    std::string bytes;
    absl::Status s = registry_.Encode(env, &info, &bytes);
    if (!s.ok()) {
      *error = std::string(s.message());
      return;
    }
    out->emplace_back(info->type_id, std::move(bytes));
  }
  std::string Describe() const {
    std::string s = " (emitted:";
    for (const auto& [id, bytes] : emitted_) {
      const EventRegistry::TypeInfo* info = registry_.FindById(id);
      absl::StrAppend(&s, " ", info ? info->name : absl::StrCat(id));
    }
    return s + ")";
  }

  const EventRegistry& registry_;
  std::string dir_;
  DeterministicScheduler scheduler_;
  ActorSystem system_;
  MemoryImage image_;
  ActorRef actor_;
  absl::Status open_status_;
  absl::Status last_status_;
  std::shared_ptr<void> last_reply_;
  uint64_t given_version_ = 0;
  std::vector<std::pair<uint32_t, std::string>> emitted_;
};

}  // namespace engram

#endif  // ENGRAM_IMAGE_TEST_KIT_H_
