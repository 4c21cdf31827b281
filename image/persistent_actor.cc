#include "engram/image/persistent_actor.h"

#include <algorithm>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "engram/base/log.h"
#include "engram/image/memory_image.h"
#include "engram/image/snapshot_store.h"

namespace engram {
namespace {

const MemoryImage::Context& ContextOrDie() {
  const auto* ctx = MemoryImage::Constructing();
  if (ctx == nullptr) {
    Log(LogSeverity::kFatal,
        "a PersistentActor was constructed outside MemoryImage::Spawn; create persistent "
        "actors through their image");
  }
  return *ctx;
}

}  // namespace

PersistentActorBase::PersistentActorBase()
    : image_(ContextOrDie().image),
      stream_id_(ContextOrDie().stream_id),
      creation_lsn_(ContextOrDie().creation_lsn) {
  Handle([this](internal::ReplayEvent& r) { Replay(r); });
  Handle([this](internal::ReplayBatch& b) {
    for (internal::ReplayEvent& r : b.events) Replay(r);
  });
  Handle([](internal::ReplayBarrier) { return Done{}; });
  Handle([this](internal::StateHashRequest) {
    return std::pair<uint64_t, uint64_t>(version_, StateHash());
  });
  Handle([this](internal::RestoreSnapshot& r) -> absl::StatusOr<Done> {
    if (absl::Status s = DecodeState(r.state); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat("stream ", stream_id_,
                                                 ": snapshot at version ", r.version,
                                                 ": ", s.message()));
    }
    version_ = r.version;
    last_lsn_ = r.lsn;
    snapshot_version_ = r.version;
    return Done{};
  });
  Handle([this](internal::SnapshotRequest) {
    Promise<Done> reply = MakePromise<Done>();
    if (absl::Status s = CaptureSnapshot(&reply); !s.ok()) reply.Fail(std::move(s));
  });
  Handle([this](internal::DurableSnapshot& d) {
    absl::Status s = image_->snapshots()->Write({stream_id_, d.version, d.lsn, std::move(d.state)});
    if (s.ok()) {
      d.reply.Deliver(Done{});
    } else if (d.reply.pending()) {
      d.reply.Fail(std::move(s));
    } else {
      image_->RecordSnapshotError(s);
    }
  });
}

absl::Status PersistentActorBase::TakeSnapshot() {
  Promise<Done> none;
  return CaptureSnapshot(&none);
}

absl::Status PersistentActorBase::CaptureSnapshot(Promise<Done>* reply) {
  if (image_->snapshots() == nullptr) {
    return absl::FailedPreconditionError("the image is open read-only: no snapshots");
  }
  absl::StatusOr<std::string> bytes = EncodeState();
  if (!bytes.ok()) return bytes.status();
  snapshot_version_ = version_;
  internal::DurableSnapshot snap{std::move(*bytes), version_, last_lsn_, std::move(*reply)};
  // Written only once the journal holds every event it covers: written
  // earlier, a power cut could leave a snapshot ahead of the journal, which
  // recovery would load (and a retried command would apply twice).
  Gate([self = self(), snap = std::move(snap)](absl::Status s) mutable {
    if (!s.ok()) {
      snap.reply.Fail(absl::Status(
          s.code(), absl::StrCat("snapshot at LSN ", snap.lsn,
                                 " not written: the LSN did not become durable: ",
                                 s.message())));
      return;
    }
    self.Send(std::move(snap));
  });
  return absl::OkStatus();
}

uint64_t PersistentActorBase::NewId() {
  const uint64_t basis = std::max(last_lsn_, creation_lsn_);
  if (basis != id_basis_) {
    id_basis_ = basis;
    id_index_ = 0;
  }
  if (basis > kMaxIdBasis) {
    throw std::out_of_range(absl::StrCat("NewId: stream ", stream_id_, " is at LSN ", basis,
                                         ", beyond the ", 64 - kIdIndexBits,
                                         "-bit LSN field of an id"));
  }
  if (id_index_ >= kMaxIdsPerCommand) {
    throw std::out_of_range(absl::StrCat("NewId: stream ", stream_id_, " took more than ",
                                         kMaxIdsPerCommand, " ids in one command (at LSN ",
                                         basis, ")"));
  }
  return basis << kIdIndexBits | ++id_index_;
}

void PersistentActorBase::Replay(internal::ReplayEvent& r) {
  if (!ApplyEnvelope(*r.event)) {
    // Registered and journaled, but this build has no OnEvent for it: the
    // state cannot be rebuilt faithfully. Fail loudly (supervision stops it).
    throw std::runtime_error(absl::StrCat("stream ", stream_id_, ", LSN ", r.lsn,
                                          ": no OnEvent handler for event type ",
                                          r.event->type()->name));
  }
  version_ = r.version;
  last_lsn_ = r.lsn;
}

absl::Status PersistentActorBase::Commit() {
  if (pending_.empty()) return absl::OkStatus();
  Journal* journal = image_->journal();
  if (journal == nullptr) {
    pending_.clear();
    return absl::FailedPreconditionError(absl::StrCat(
        "stream ", stream_id_, ": the image is open read-only; commands cannot emit events"));
  }
  const EventRegistry& registry = image_->registry();
  const int64_t now_ns = absl::ToUnixNanos(Now());
  std::vector<std::string> payloads(pending_.size());
  std::vector<RecordInput> records(pending_.size());
  for (size_t i = 0; i < pending_.size(); ++i) {
    const Envelope& e = *pending_[i];
    if (!CanApply(e.type())) {
      pending_.clear();
      return absl::FailedPreconditionError(absl::StrCat(
          "stream ", stream_id_, ": emitted event ", e.type()->name,
          " has no OnEvent handler; nothing was journaled"));
    }
    const EventRegistry::TypeInfo* info = nullptr;
    if (absl::Status s = registry.Encode(e, &info, &payloads[i]); !s.ok()) {
      pending_.clear();
      return s;
    }
    if (absl::Status s = image_->Catalog(*info); !s.ok()) {
      pending_.clear();
      return s;
    }
    records[i].stream_id = stream_id_;
    records[i].stream_version = version_ + 1 + i;
    records[i].type_id = info->type_id;
    records[i].schema_version = info->version;
    records[i].timestamp_ns = now_ns == 0 ? 1 : now_ns;
    records[i].payload = payloads[i];
  }
  absl::StatusOr<uint64_t> first = journal->AppendBatch(records);
  if (!first.ok()) {
    pending_.clear();
    return first.status();
  }
  for (const auto& e : pending_) ApplyEnvelope(*e);
  if (image_->commit_observer()) image_->commit_observer()(stream_id_, pending_);
  const uint64_t first_version = version_ + 1;
  version_ += pending_.size();
  last_lsn_ = *first + pending_.size() - 1;
  if (EventBus* bus = image_->bus()) {
    // Publish each event once durable, with its LSN as sequence.
    for (size_t i = 0; i < pending_.size(); ++i) {
      const EventRegistry::TypeInfo* info = registry.FindByTag(pending_[i]->type());
      ImageEvent ev{*first + i, stream_id_, first_version + i,
                    std::shared_ptr<const Envelope>(pending_[i].release())};
      Gate([bus, topic = absl::StrCat(image_->topic_prefix(), ".", info->name),
            ev = std::move(ev)](absl::Status s) mutable {
        if (!s.ok()) return;
        PublishOptions o;
        o.sequence = ev.lsn;
        (void)bus->Publish(topic, std::move(ev), std::move(o));
      });
    }
  }
  pending_.clear();
  const uint64_t every = image_->snapshot_every();
  if (every > 0 && version_ - snapshot_version_ >= every) {
    // The events are journaled: a failed snapshot costs only recovery time.
    if (absl::Status s = TakeSnapshot(); !s.ok()) image_->RecordSnapshotError(s);
  }
  return absl::OkStatus();
}

void PersistentActorBase::Gate(absl::AnyInvocable<void(absl::Status)> output) {
  image_->Gate(last_lsn_, std::move(output));
}

}  // namespace engram
