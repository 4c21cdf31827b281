#include "engram/image/memory_image.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <vector>

#include <xxhash.h>

#include "absl/cleanup/cleanup.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "engram/journal/epoch.h"
#include "engram/base/log.h"
#include "engram/journal/reader.h"
#include "image/internal/catalog_entry.h"

namespace engram {
namespace {

thread_local const MemoryImage::Context* tls_context = nullptr;

}  // namespace

const MemoryImage::Context* MemoryImage::Constructing() { return tls_context; }

MemoryImage::MemoryImage(ActorSystem& system, const EventRegistry& registry)
    : system_(system), registry_(registry) {}

MemoryImage::~MemoryImage() {
  ReleaseOutputs();
  // Stop the actors before the journal they append to goes away.
  std::vector<ActorRef> refs;
  {
    MutexLock lock(&mu_);
    for (auto& [id, ref] : streams_) refs.push_back(ref);
  }
  for (auto& r : refs) r.Stop();
  RunDeterministicUntilIdle();
  for (auto& r : refs) system_.AwaitStopped(r, absl::Seconds(60));
  if (journal_) journal_->Close().IgnoreError();
}

void MemoryImage::RunDeterministicUntilIdle() {
  if (DeterministicScheduler* d = system_.deterministic()) d->RunUntilIdle();
}

absl::StatusOr<ActorRef> MemoryImage::SpawnStream(const std::string& kind, uint64_t stream_id,
                                                  uint64_t creation_lsn) {
  auto it = kinds_.find(kind);
  if (it == kinds_.end()) {
    return absl::NotFoundError(absl::StrCat("actor kind '", kind,
                                            "' is not registered with the image"));
  }
  SpawnOptions options;
  options.name = absl::StrCat(kind, "/", stream_id);
  // A throwing command handler is a rejected command (its events are
  // discarded, the state is untouched); a throwing apply leaves the state
  // unknown, so the actor stops instead of restarting with a blank state.
  options.supervision.directive = Directive::kStop;
  auto make = it->second;
  ActorRef ref = internal::SpawnActor(
      &system_, nullptr, std::move(options),
      [this, stream_id, creation_lsn, make]() -> std::unique_ptr<Actor> {
        const Context ctx{this, stream_id, creation_lsn};
        const Context* outer = std::exchange(tls_context, &ctx);
        absl::Cleanup restore = [outer] { tls_context = outer; };
        return make();
      });
  if (!ref) return absl::FailedPreconditionError("the actor system is shut down");
  streams_[stream_id] = ref;
  stream_kinds_[stream_id] = kind;
  return ref;
}

absl::Status MemoryImage::Open(const std::string& dir, const Options& options) {
  return OpenImpl(dir, options, nullptr, std::nullopt);
}

absl::Status MemoryImage::OpenImpl(const std::string& dir, const Options& options,
                                   std::unique_ptr<WriterLock> lock,
                                   std::optional<ReadHorizon> follow) {
  if (journal_ || reader_) return absl::FailedPreconditionError("the image is already open");
  if (options.replay_to_lsn != 0 && !options.read_only) {
    return absl::InvalidArgumentError(
        "replay_to_lsn needs read_only: a writable image must replay the whole journal");
  }
  const auto start = std::chrono::steady_clock::now();
  dir_ = dir;
  if (!options.read_only) {
    JournalOptions journal_options = options.journal;
    journal_options.record_epochs = true;  // every writer's tenure is recorded
    absl::StatusOr<std::unique_ptr<Journal>> journal =
        lock != nullptr ? Journal::Open(dir, journal_options, std::move(lock))
                        : Journal::Open(dir, journal_options);
    if (!journal.ok()) return journal.status();
    journal_ = std::move(*journal);
    writer_.store(journal_.get(), std::memory_order_release);
    recovery_.journal = journal_->recovery();
  }
  follow_ = follow;
  standby_.store(follow.has_value(), std::memory_order_relaxed);
  snapshot_every_ = options.snapshot_every;
  bus_ = options.bus;
  topic_prefix_ = options.topic_prefix;
  const std::string snapshot_dir =
      options.snapshot_dir.empty() ? dir + "/snapshots" : options.snapshot_dir;
  if (!options.read_only) {
    snapshots_ = std::make_unique<SnapshotStore>(snapshot_dir);
    if (absl::Status s = snapshots_->Init(); !s.ok()) return s;
    snapshot_store_.store(snapshots_.get(), std::memory_order_release);
  }
  snapshot_dir_ = snapshot_dir;
  if (options.use_snapshots && options.replay_to_lsn == 0) {
    SnapshotStore reader_store(snapshot_dir);
    // A writable image knows where the journal ends; a snapshot beyond it
    // is refused (falling back to an older one or to the events).
    const uint64_t journal_end = journal_ ? journal_->last_lsn() : UINT64_MAX;
    absl::StatusOr<std::vector<SnapshotStore::Snapshot>> loaded =
        reader_store.LoadNewest(&recovery_.snapshots_rejected, journal_end);
    if (!loaded.ok()) return loaded.status();
    for (auto& snap : *loaded) {
      snapshot_versions_[snap.stream_id] = snap.version;
      pending_snapshots_[snap.stream_id] = std::move(snap);
    }
    for (const auto& r : recovery_.snapshots_rejected) {
      Log(LogSeverity::kWarning, absl::StrCat("snapshot ", r.file, " is unusable (", r.reason,
                                              "); using an older one or the events"));
    }
  }
  absl::StatusOr<std::unique_ptr<Reader>> reader = Reader::Open(dir, 0);
  if (!reader.ok()) return reader.status();
  reader_ = std::move(*reader);
  const uint64_t stop = options.replay_to_lsn == 0 ? UINT64_MAX : options.replay_to_lsn;
  for (;;) {
    absl::StatusOr<bool> applied = ReplayNext(stop, nullptr);
    if (!applied.ok()) return applied.status();
    if (!*applied) break;
    if (options.progress && recovery_.events > 0 &&
        recovery_.events % options.progress_every == 0) {
      options.progress(recovery_.events, recovery_.last_lsn);
    }
  }
  if (absl::Status s = AwaitReplayed(); !s.ok()) return s;
  if (!options.read_only) reader_.reset();  // a writable image replays once
  recovery_.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (options.progress) options.progress(recovery_.events, recovery_.last_lsn);
  return absl::OkStatus();
}

absl::StatusOr<bool> MemoryImage::ReplayNext(uint64_t stop_lsn, ReplayStep* step,
                                             absl::Duration wait) {
  if (reader_ == nullptr) {
    return absl::FailedPreconditionError("stepping needs an image opened read-only");
  }
  if (reader_->next_lsn() > stop_lsn) return false;
  RecordView rec;
  // A standby reads only what its leader cannot lose any more.
  absl::StatusOr<bool> more = follow_.has_value()
                                  ? reader_->NextWait(&rec, wait, *follow_)
                                  : reader_->Next(&rec);
  if (!more.ok()) return more.status();
  if (!*more) return false;
  recovery_.last_lsn = rec.lsn;
  if (step != nullptr) {
    step->lsn = rec.lsn;
    step->stream_id = rec.stream_id;
    step->stream_version = rec.stream_version;
    step->timestamp = absl::FromUnixNanos(rec.timestamp_ns);
    step->created_kind.clear();
    step->type_name.clear();
  }
  if (rec.stream_id == kJournalStreamId && IsReservedTypeId(rec.type_id)) {
    // The journal's own records: epochs are noted and skipped; any other
    // reserved type is one this build cannot interpret, so replay stops
    // rather than guess (fail closed).
    if (rec.type_id != kEpochTypeId) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "LSN %u: stream 0 record type 0x%08X is reserved for the journal's own records and "
          "unknown to this build (written by a newer engram?)",
          rec.lsn, rec.type_id));
    }
    absl::StatusOr<EpochRecord> epoch = DecodeEpochRecord(rec.payload);
    if (!epoch.ok()) {
      return absl::Status(epoch.status().code(),
                          absl::StrCat("LSN ", rec.lsn, ": ", epoch.status().message()));
    }
    ++recovery_.epochs;
    recovery_.last_epoch = std::move(*epoch);
    if (step != nullptr) step->type_name = "$epoch";
    return true;
  }
  if (internal::IsCatalogRecord(rec.stream_id, rec.type_id)) {
    absl::StatusOr<internal::CatalogEntry> entry = internal::ParseCatalogEntry(rec.payload);
    if (!entry.ok()) {
      return absl::Status(entry.status().code(),
                          absl::StrCat("LSN ", rec.lsn, ": ", entry.status().message()));
    }
    if (const EventRegistry::TypeInfo* info = registry_.FindById(entry->type_id);
        info != nullptr && info->name != entry->name) {
      return absl::FailedPreconditionError(absl::StrCat(
          "LSN ", rec.lsn, ": type id ", entry->type_id, " is '", entry->name,
          "' in the journal but '", info->name, "' in the registry"));
    }
    MutexLock lock(&mu_);
    cataloged_[entry->type_id] = std::move(entry->name);
    return true;
  }
  if (rec.type_id == 0) {
    const std::string kind(rec.payload);
    MutexLock lock(&mu_);
    if (streams_.contains(rec.stream_id)) {
      return absl::DataLossError(absl::StrCat("LSN ", rec.lsn, ": stream ", rec.stream_id,
                                              " is created a second time"));
    }
    absl::StatusOr<ActorRef> ref = SpawnStream(kind, rec.stream_id, rec.lsn);
    if (!ref.ok()) {
      return absl::Status(ref.status().code(),
                          absl::StrCat("LSN ", rec.lsn, ": stream ", rec.stream_id, ": ",
                                       ref.status().message()));
    }
    ++recovery_.streams;
    if (step != nullptr) step->created_kind = kind;
    if (auto it = pending_snapshots_.find(rec.stream_id); it != pending_snapshots_.end()) {
      SnapshotStore::Snapshot snap = std::move(it->second);
      pending_snapshots_.erase(it);
      // Confirmed before any event it covers is skipped: a snapshot that
      // does not decode (a state type that changed) falls back to replaying
      // the stream's events from its creation, which follows right here.
      absl::Status restored = RestoreSnapshot(*ref, std::move(snap));
      if (restored.ok()) {
        ++recovery_.snapshots_loaded;
      } else {
        snapshot_versions_.erase(rec.stream_id);
        Log(LogSeverity::kWarning,
            absl::StrCat(restored.message(),
                         "; replaying the stream's events from its creation instead"));
        recovery_.snapshots_rejected.push_back(
            {absl::StrCat("stream ", rec.stream_id), std::string(restored.message())});
      }
    }
    return true;
  }
  ActorRef target;
  {
    MutexLock lock(&mu_);
    auto it = streams_.find(rec.stream_id);
    if (it == streams_.end()) {
      return absl::DataLossError(absl::StrCat("LSN ", rec.lsn, ": event for stream ",
                                              rec.stream_id, " before its creation record"));
    }
    target = it->second;
  }
  if (auto it = snapshot_versions_.find(rec.stream_id);
      it != snapshot_versions_.end() && rec.stream_version <= it->second) {
    ++recovery_.events_skipped;  // covered by the stream's snapshot
    return true;
  }
  absl::StatusOr<std::unique_ptr<Envelope>> event =
      registry_.Decode(rec.type_id, rec.schema_version, rec.payload, rec.lsn);
  if (!event.ok()) return event.status();
  if (step != nullptr) step->type_name = registry_.FindById(rec.type_id)->name;
  Batch& batch = replay_batches_[rec.stream_id];
  if (!batch.target) batch.target = target;
  batch.events.push_back(internal::ReplayEvent{std::move(*event), rec.lsn, rec.stream_version});
  if (batch.events.size() >= replay_batch_size_ || step != nullptr) {
    batch.target.Send(internal::ReplayBatch{std::move(batch.events)});
    batch.events.clear();
  }
  ++recovery_.events;
  return true;
}

absl::StatusOr<uint64_t> MemoryImage::FollowSome(absl::Duration wait, uint64_t max) {
  if (!follow_.has_value() || reader_ == nullptr) {
    return absl::FailedPreconditionError("the image is not following a journal");
  }
  uint64_t n = 0;
  while (n < max) {
    absl::StatusOr<bool> applied =
        ReplayNext(UINT64_MAX, nullptr, n == 0 ? wait : absl::ZeroDuration());
    if (!applied.ok()) return applied.status();
    if (!*applied) break;
    ++n;
  }
  // Sent now, not when a batch fills: a query after this sees them (each
  // actor's mailbox is FIFO).
  if (n > 0) FlushReplayBatches();
  return n;
}

absl::StatusOr<WriterState> MemoryImage::FollowedWriterState() {
  if (reader_ == nullptr) return absl::FailedPreconditionError("the image has no reader");
  return reader_->writer_state();
}

absl::Status MemoryImage::Promote(std::unique_ptr<Journal> journal) {
  if (!follow_.has_value() || reader_ == nullptr || journal == nullptr) {
    return absl::FailedPreconditionError("only a following image can be promoted");
  }
  // The new writer's recovery kept every record the old one committed: the
  // records past the horizon, and this writer's own epoch record, are now
  // durable, and are replayed before the image accepts a command.
  follow_.reset();
  for (;;) {
    absl::StatusOr<bool> applied = ReplayNext(UINT64_MAX, nullptr);
    if (!applied.ok()) return applied.status();
    if (!*applied) break;
  }
  if (reader_->next_lsn() != journal->last_lsn() + 1) {
    return absl::DataLossError(absl::StrFormat(
        "journal %s: the standby's replay stopped before LSN %u, but the journal ends at LSN %u",
        dir_, reader_->next_lsn(), journal->last_lsn()));
  }
  // Only the streams the drain sent events to: every earlier batch is in
  // its actor's mailbox ahead of any command, and asking each of a large
  // image's streams would cost the takeover a round trip per stream.
  if (absl::Status s = AwaitReplayed(/*touched_only=*/true); !s.ok()) return s;
  snapshots_ = std::make_unique<SnapshotStore>(snapshot_dir_);
  if (absl::Status s = snapshots_->Init(); !s.ok()) return s;
  snapshot_store_.store(snapshots_.get(), std::memory_order_release);
  recovery_.journal = journal->recovery();
  journal_ = std::move(journal);
  reader_.reset();
  writer_.store(journal_.get(), std::memory_order_release);
  return absl::OkStatus();
}

absl::Status MemoryImage::RestoreSnapshot(const ActorRef& ref, SnapshotStore::Snapshot snap) {
  auto done = system_.AskAsync<Done>(
      ref, internal::RestoreSnapshot{std::move(snap.state), snap.version, snap.lsn},
      absl::InfiniteDuration());
  RunDeterministicUntilIdle();
  return done.Get().status();
}

void MemoryImage::FlushReplayBatches() {
  for (auto& [id, batch] : replay_batches_) {
    if (!batch.events.empty()) batch.target.Send(internal::ReplayBatch{std::move(batch.events)});
  }
  replay_batches_.clear();
}

absl::Status MemoryImage::AwaitReplayed(bool touched_only) {
  std::vector<ActorRef> refs;
  if (touched_only) {
    // Every stream sent events since the last flush has an entry, also one
    // whose full batches already went out.
    for (auto& [id, batch] : replay_batches_) refs.push_back(batch.target);
  }
  FlushReplayBatches();
  if (!touched_only) {
    MutexLock lock(&mu_);
    for (auto& [id, ref] : streams_) refs.push_back(ref);
  }
  std::vector<AskFuture<Done>> barriers;
  barriers.reserve(refs.size());
  for (const ActorRef& r : refs) {
    barriers.push_back(
        system_.AskAsync<Done>(r, internal::ReplayBarrier{}, absl::InfiniteDuration()));
  }
  RunDeterministicUntilIdle();
  for (size_t i = 0; i < refs.size(); ++i) {
    absl::StatusOr<Done> done = barriers[i].Get();
    if (!done.ok()) {
      return absl::Status(done.status().code(), absl::StrCat("replay into ", refs[i].name(),
                                                             ": ", done.status().message()));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> MemoryImage::Step(ReplayStep* step) {
  absl::StatusOr<bool> applied = ReplayNext(UINT64_MAX, step);
  if (!applied.ok() || !*applied) return applied;
  if (absl::Status s = AwaitReplayed(); !s.ok()) return s;
  return true;
}

absl::StatusOr<bool> MemoryImage::RunUntil(const std::function<bool(const ReplayStep&)>& stop,
                                           ReplayStep* step) {
  ReplayStep local;
  ReplayStep* s = step != nullptr ? step : &local;
  for (;;) {
    absl::StatusOr<bool> applied = ReplayNext(UINT64_MAX, s);
    if (!applied.ok()) return applied.status();
    if (!*applied) {
      if (absl::Status st = AwaitReplayed(); !st.ok()) return st;
      return false;
    }
    if (stop(*s)) {
      if (absl::Status st = AwaitReplayed(); !st.ok()) return st;
      return true;
    }
  }
}

absl::Status MemoryImage::CheckCanCreate(const std::string& kind) const {
  if (writer_.load(std::memory_order_acquire) == nullptr) {
    return absl::FailedPreconditionError(
        standby_.load(std::memory_order_relaxed)
            ? "the image is a standby following another writer: no new streams"
        : reader_ ? "the image is open read-only (replay debugging): no new streams"
                  : "open the image before spawning");
  }
  if (!kinds_.contains(kind)) {
    return absl::NotFoundError(absl::StrCat("actor kind '", kind,
                                            "' is not registered with the image"));
  }
  return absl::OkStatus();
}

absl::Status MemoryImage::CheckNewStreamLocked(uint64_t stream_id) const {
  if (stream_id == 0) return absl::InvalidArgumentError("stream id 0 is reserved");
  if (streams_.contains(stream_id)) {
    return absl::AlreadyExistsError(absl::StrCat("stream ", stream_id, " already exists"));
  }
  return absl::OkStatus();
}

RecordInput MemoryImage::CreationRecord(const std::string& kind, uint64_t stream_id) const {
  RecordInput created;
  created.stream_id = stream_id;
  created.type_id = 0;
  created.schema_version = 1;
  created.timestamp_ns = absl::ToUnixNanos(system_.clock().Now());
  if (created.timestamp_ns == 0) created.timestamp_ns = 1;
  created.payload = kind;
  return created;
}

absl::StatusOr<ActorRef> MemoryImage::Spawn(const std::string& kind, uint64_t stream_id) {
  if (absl::Status s = CheckCanCreate(kind); !s.ok()) return s;
  MutexLock lock(&mu_);
  if (absl::Status s = CheckNewStreamLocked(stream_id); !s.ok()) return s;
  absl::StatusOr<uint64_t> lsn =
      writer_.load(std::memory_order_acquire)->Append(CreationRecord(kind, stream_id));
  if (!lsn.ok()) return lsn.status();
  return SpawnStream(kind, stream_id, *lsn);
}

absl::StatusOr<uint64_t> MemoryImage::SpawnAll(
    const std::string& kind, absl::Span<const uint64_t> ids,
    std::vector<std::unique_ptr<Envelope>> first_events) {
  if (absl::Status s = CheckCanCreate(kind); !s.ok()) return s;
  if (ids.empty() || ids.size() != first_events.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "SpawnAll needs one first event per stream id (", ids.size(), " ids, ",
        first_events.size(), " events)"));
  }
  std::vector<std::string> payloads(ids.size());
  std::vector<const EventRegistry::TypeInfo*> infos(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    if (absl::Status s = registry_.Encode(*first_events[i], &infos[i], &payloads[i]); !s.ok()) {
      return s;
    }
    if (absl::Status s = Catalog(*infos[i]); !s.ok()) return s;
  }
  MutexLock lock(&mu_);
  absl::flat_hash_set<uint64_t> seen;
  for (uint64_t id : ids) {
    if (absl::Status s = CheckNewStreamLocked(id); !s.ok()) return s;
    if (!seen.insert(id).second) {
      return absl::InvalidArgumentError(absl::StrCat("stream id ", id, " is given twice"));
    }
  }
  std::vector<RecordInput> records;
  records.reserve(2 * ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    records.push_back(CreationRecord(kind, ids[i]));
    RecordInput first = records.back();  // same stream and time
    first.stream_version = 1;
    first.type_id = infos[i]->type_id;
    first.schema_version = infos[i]->version;
    first.payload = payloads[i];
    records.push_back(first);
  }
  absl::StatusOr<uint64_t> lsn = writer_.load(std::memory_order_acquire)->AppendBatch(records);
  if (!lsn.ok()) return lsn.status();
  for (size_t i = 0; i < ids.size(); ++i) {
    absl::StatusOr<ActorRef> ref = SpawnStream(kind, ids[i], *lsn + 2 * i);
    if (!ref.ok()) return ref.status();
    // Applied exactly as recovery will apply it.
    std::vector<internal::ReplayEvent> events;
    events.push_back(internal::ReplayEvent{std::move(first_events[i]), *lsn + 2 * i + 1, 1});
    ref->Send(internal::ReplayBatch{std::move(events)});
  }
  return *lsn + 2 * ids.size() - 1;
}

absl::StatusOr<ActorRef> MemoryImage::Find(uint64_t stream_id) const {
  MutexLock lock(&mu_);
  auto it = streams_.find(stream_id);
  if (it == streams_.end()) {
    return absl::NotFoundError(absl::StrCat("no stream ", stream_id, " in the image"));
  }
  return it->second;
}

std::vector<uint64_t> MemoryImage::StreamIds(const std::string& kind) const {
  std::vector<uint64_t> ids;
  {
    MutexLock lock(&mu_);
    for (const auto& [id, k] : stream_kinds_) {
      if (k == kind) ids.push_back(id);
    }
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

size_t MemoryImage::streams() const {
  MutexLock lock(&mu_);
  return streams_.size();
}

absl::StatusOr<uint64_t> MemoryImage::ImageHash(absl::Duration timeout) {
  std::vector<std::pair<uint64_t, ActorRef>> all;
  {
    MutexLock lock(&mu_);
    all.assign(streams_.begin(), streams_.end());
  }
  std::sort(all.begin(), all.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<AskFuture<std::pair<uint64_t, uint64_t>>> hashes;
  for (const auto& [id, ref] : all) {
    hashes.push_back(system_.AskAsync<std::pair<uint64_t, uint64_t>>(
        ref, internal::StateHashRequest{}, timeout));
  }
  RunDeterministicUntilIdle();
  XXH3_state_t* state = XXH3_createState();
  XXH3_64bits_reset(state);
  for (size_t i = 0; i < all.size(); ++i) {
    const uint64_t id = all[i].first;
    absl::StatusOr<std::pair<uint64_t, uint64_t>> h = hashes[i].Get();
    if (!h.ok()) {
      XXH3_freeState(state);
      return h.status();
    }
    const uint64_t triple[3] = {id, h->first, h->second};
    XXH3_64bits_update(state, triple, sizeof triple);
  }
  const uint64_t out = XXH3_64bits_digest(state);
  XXH3_freeState(state);
  return out;
}

void MemoryImage::Gate(uint64_t lsn, absl::AnyInvocable<void(absl::Status)> output) {
  {
    MutexLock lock(&mu_);
    if (hold_) {
      held_.emplace_back(lsn, std::move(output));
      return;
    }
  }
  Journal* const journal = writer_.load(std::memory_order_acquire);
  // Read-only (or a standby, whose state is durable already): nothing is
  // ever waited for.
  if (journal == nullptr || (outstanding_.load(std::memory_order_acquire) == 0 &&
                             (lsn == 0 || journal->durable_lsn() >= lsn))) {
    output(absl::OkStatus());
    return;
  }
  outstanding_.fetch_add(1, std::memory_order_acq_rel);
  journal->OnDurable(lsn, [this, o = std::move(output)](absl::Status s) mutable {
    o(std::move(s));
    outstanding_.fetch_sub(1, std::memory_order_acq_rel);
  });
}

absl::StatusOr<ActorRef> MemoryImage::StartProjection(const ActorRef& p) {
  // Subscribe first, then measure how far the journal is durable: every
  // event durable later is published to the subscription.
  absl::StatusOr<SubscriptionId> sub =
      bus_->SubscribeActor<ImageEvent>(absl::StrCat(topic_prefix_, ".>"), p);
  if (!sub.ok()) return sub.status();
  Journal* const journal = writer_.load(std::memory_order_acquire);
  const uint64_t durable = journal ? journal->durable_lsn() : recovery_.last_lsn;
  auto done = system_.AskAsync<Done>(p, internal::CatchUp{dir_, &registry_, durable},
                                     absl::InfiniteDuration());
  RunDeterministicUntilIdle();
  absl::StatusOr<Done> caught_up = done.Get();
  if (!caught_up.ok()) return caught_up.status();
  return p;
}

absl::Status MemoryImage::Catalog(const EventRegistry::TypeInfo& info) {
  MutexLock lock(&mu_);
  if (cataloged_.contains(info.type_id)) return absl::OkStatus();
  const std::string payload = internal::EncodeCatalogEntry(info.type_id, info.name);
  RecordInput rec;
  rec.stream_id = 0;
  rec.type_id = 0;
  rec.schema_version = info.version;
  rec.timestamp_ns = absl::ToUnixNanos(system_.clock().Now());
  if (rec.timestamp_ns == 0) rec.timestamp_ns = 1;
  rec.payload = payload;
  absl::StatusOr<uint64_t> lsn = writer_.load(std::memory_order_acquire)->Append(rec);
  if (!lsn.ok()) return lsn.status();
  cataloged_[info.type_id] = info.name;
  return absl::OkStatus();
}

absl::Status MemoryImage::Snapshot(uint64_t stream_id, absl::Duration timeout) {
  absl::StatusOr<ActorRef> ref = Find(stream_id);
  if (!ref.ok()) return ref.status();
  auto done = system_.AskAsync<Done>(*ref, internal::SnapshotRequest{}, timeout);
  RunDeterministicUntilIdle();
  return done.Get().status();
}

void MemoryImage::RecordSnapshotError(const absl::Status& s) {
  if (snapshot_errors_.fetch_add(1, std::memory_order_relaxed) == 0) {
    Log(LogSeverity::kError, absl::StrCat("snapshot failed (reported once): ", s.ToString()));
  }
}

void MemoryImage::HoldOutputs() {
  MutexLock lock(&mu_);
  hold_ = true;
}

void MemoryImage::ReleaseOutputs() {
  std::vector<std::pair<uint64_t, absl::AnyInvocable<void(absl::Status)>>> held;
  {
    MutexLock lock(&mu_);
    hold_ = false;
    held.swap(held_);
  }
  for (auto& [lsn, output] : held) Gate(lsn, std::move(output));
}

}  // namespace engram
