#ifndef ENGRAM_IMAGE_MEMORY_IMAGE_H_
#define ENGRAM_IMAGE_MEMORY_IMAGE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <atomic>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engram/actors/actor_system.h"
#include "engram/base/internal/mutex.h"
#include "engram/image/event_registry.h"
#include "engram/bus/event_bus.h"
#include "engram/image/persistent_actor.h"
#include "engram/image/projection.h"
#include "engram/image/snapshot_store.h"
#include "engram/journal/journal.h"
#include "engram/journal/reader.h"
#include "engram/journal/writer_lock.h"

namespace engram {
class Standby;
namespace internal {
class MemoryImageTestPeer;
}  // namespace internal

// The memory image: persistent actors on an ActorSystem, their events in a
// Journal, and recovery that rebuilds every actor by replaying the journal.
//
// Journal records written by the image: each stream (one persistent actor)
// starts with a creation record (type id 0, the actor kind's name as
// payload), followed by its events (type ids from the EventRegistry). So
// actors created at run time are re-created at replay. Stream 0 holds the
// type catalog: before an event type's first event in a journal, a record
// (type id 0, schema version = the type's version, payload "<id>=<name>")
// names it, so that tools can show type names without the application.
// Recovery checks the catalog against the registry.
//
// Use: register event types and actor kinds, Open() (recovers), then Spawn
// new streams or Find existing ones, and send them commands.
//
// Thread-safety: RegisterKind() before Open(); after Open() every method
// may be called from any thread.
class MemoryImage {
 public:
  struct Options {
    // The journal's options; record_epochs is always on for a writable
    // image (each Open starts a writer's tenure with an epoch record).
    JournalOptions journal;
    // Called every `progress_every` replayed events and at the end.
    std::function<void(uint64_t records, uint64_t lsn)> progress;
    uint64_t progress_every = 1'000'000;
    // Replay debugging: open without taking the journal's writer lock (a
    // live writer may keep running); commands that emit events and Spawn
    // fail. Step()/RunUntil() then replay further.
    bool read_only = false;
    // Replay only records with LSN <= this (0: all): the image as of an LSN.
    uint64_t replay_to_lsn = 0;
    // Snapshots: where (default: DIR/snapshots), and a policy of one every
    // this many events per actor (0: only on demand, see Snapshot()).
    std::string snapshot_dir;
    uint64_t snapshot_every = 0;
    // Load snapshots on recovery (false: replay everything).
    bool use_snapshots = true;
    // Publish every committed event, once durable, to this bus as an
    // ImageEvent on "<topic_prefix>.<registered type name>" with its LSN as
    // sequence (projections follow them). Null: no publication.
    EventBus* bus = nullptr;
    std::string topic_prefix = "image";
  };
  // One replayed record, as Step()/RunUntil() report it.
  struct ReplayStep {
    uint64_t lsn = 0;
    uint64_t stream_id = 0;
    uint64_t stream_version = 0;
    absl::Time timestamp;
    // The event's registered name ("" if a creation or a catalog record;
    // "$epoch" for an epoch record).
    std::string type_name;
    std::string created_kind;  // the actor kind, for a stream's creation record
  };
  // What Open() did.
  struct RecoveryStats {
    uint64_t streams = 0;
    uint64_t events = 0;
    uint64_t last_lsn = 0;
    double seconds = 0;
    RecoveryReport journal;  // torn tail / repair, as the journal reports it
    uint64_t snapshots_loaded = 0;
    uint64_t events_skipped = 0;  // covered by snapshots, not replayed
    // Damaged snapshots that recovery fell back from (file and reason).
    std::vector<SnapshotStore::Rejected> snapshots_rejected;
    // Epoch records replayed (engram/journal/epoch.h) and the last one: for
    // a writable image, its own (Journal::Open appends it before replay).
    uint64_t epochs = 0;
    std::optional<EpochRecord> last_epoch;
  };

  MemoryImage(ActorSystem& system, const EventRegistry& registry);
  ~MemoryImage();
  MemoryImage(const MemoryImage&) = delete;
  MemoryImage& operator=(const MemoryImage&) = delete;

  // Registers actor kind A (default-constructible, derived from
  // PersistentActor) under a stable name.
  template <class A>
  void RegisterKind(const std::string& name) {
    static_assert(std::is_base_of_v<PersistentActorBase, A>,
                  "A must derive from PersistentActor<State>");
    kinds_[name] = [] { return std::unique_ptr<Actor>(new A()); };
    kind_types_[name] = TypeOf<A>();
  }

  // Opens the journal in `dir` and replays it into freshly spawned actors.
  // Errors name the LSN at fault: an event of an unknown type or of a
  // schema version without an upcaster, an event for a stream with no
  // creation record, an unknown actor kind; or the journal's own errors.
  absl::Status Open(const std::string& dir, const Options& options);
  absl::Status Open(const std::string& dir) { return Open(dir, Options{}); }

  // Creates a new stream: journals its creation record, spawns the actor.
  // ALREADY_EXISTS if the stream exists; NOT_FOUND for an unregistered kind.
  absl::StatusOr<ActorRef> Spawn(const std::string& kind, uint64_t stream_id);
  template <class A>
  absl::StatusOr<ActorRef> Spawn(uint64_t stream_id) {
    return Spawn(KindNameOf<A>(), stream_id);
  }
  // Creates several streams of one kind, each with its first event, as ONE
  // journal batch: after a crash at any instant either all of them exist
  // with their events or none does. `first_event(id)` gives each stream's
  // first event (of a registered type with an OnEvent handler in A).
  // Returns the batch's last LSN (to wait for, or gate on). Errors as
  // Spawn, and INVALID_ARGUMENT for a duplicate id or a batch larger than a
  // journal segment.
  template <class A, class F>
  absl::StatusOr<uint64_t> SpawnAll(absl::Span<const uint64_t> ids, F first_event) {
    using E = std::decay_t<decltype(first_event(uint64_t{}))>;
    std::vector<std::unique_ptr<Envelope>> events;
    events.reserve(ids.size());
    for (uint64_t id : ids) events.push_back(std::make_unique<TypedEnvelope<E>>(first_event(id)));
    return SpawnAll(KindNameOf<A>(), ids, std::move(events));
  }
  absl::StatusOr<uint64_t> SpawnAll(const std::string& kind, absl::Span<const uint64_t> ids,
                                    std::vector<std::unique_ptr<Envelope>> first_events);
  // The actor of an existing stream.
  absl::StatusOr<ActorRef> Find(uint64_t stream_id) const;
  size_t streams() const;
  // The ids of the streams of one kind, ascending.
  std::vector<uint64_t> StreamIds(const std::string& kind) const;

  // Replay debugging on a read-only image: applies the next record and
  // waits until its actor has applied it. False at the end of the journal.
  absl::StatusOr<bool> Step(ReplayStep* step);
  // Applies records until `stop(step)` holds for one just applied (true) or
  // the journal ends (false): a breakpoint on a predicate.
  absl::StatusOr<bool> RunUntil(const std::function<bool(const ReplayStep&)>& stop,
                                ReplayStep* step = nullptr);

  // A hash of the whole image: every stream's id, version and state hash,
  // in stream order. Equal images give equal hashes in every process and
  // build (each state hash is canonical: engram/image/state_hash.h), so a
  // leader, its followers and a fresh replay can compare images.
  absl::StatusOr<uint64_t> ImageHash(absl::Duration timeout = absl::Seconds(60));

  // Spawns projection P (derived from Projection), subscribes it to the
  // image's live events and has it catch up from the journal; returns once
  // it has caught up. Needs Options::bus.
  template <class P, class... Args>
  absl::StatusOr<ActorRef> SpawnProjection(Args&&... args) {
    static_assert(std::is_base_of_v<Projection, P>, "P must derive from Projection");
    if (bus_ == nullptr) {
      return absl::FailedPreconditionError("projections need MemoryImage::Options::bus");
    }
    ActorRef p = system_.Spawn<P>(std::forward<Args>(args)...);
    return StartProjection(p);
  }

  EventBus* bus() const { return bus_; }
  const std::string& topic_prefix() const { return topic_prefix_; }

  // Asks the actor of `stream_id` to write a snapshot now; returns when it
  // is written.
  absl::Status Snapshot(uint64_t stream_id, absl::Duration timeout = absl::Seconds(60));
  // Snapshot errors of the every-N policy (they do not fail commands).
  uint64_t snapshot_errors() const { return snapshot_errors_.load(); }

  const RecoveryStats& recovery() const { return recovery_; }
  // The journal writer; null when the image is open read-only (or is a
  // standby that has not taken over yet).
  Journal* journal() { return writer_.load(std::memory_order_acquire); }
  // The directory of the journal (also when read-only).
  const std::string& journal_dir() const { return dir_; }
  const EventRegistry& registry() const { return registry_; }
  const SnapshotStore* snapshots() const {
    return snapshot_store_.load(std::memory_order_acquire);
  }
  ActorSystem& system() { return system_; }

  // For PersistentActorBase: the image and stream of the actor being
  // constructed on this thread, and the LSN of the stream's creation record.
  struct Context {
    MemoryImage* image;
    uint64_t stream_id;
    uint64_t creation_lsn;
  };
  static const Context* Constructing();

 private:
  friend class PersistentActorBase;
  // Test hooks (commit observer, held outputs): tests and ImageTestKit.
  friend class internal::MemoryImageTestPeer;
  // A standby follows (FollowSome) and takes over (Promote).
  friend class Standby;

  // Open; with `lock` (the writer lock, already held) for a writable
  // image; with `follow` for a read-only image that replays only up to
  // that horizon and then goes on following with FollowSome.
  absl::Status OpenImpl(const std::string& dir, const Options& options,
                        std::unique_ptr<WriterLock> lock, std::optional<ReadHorizon> follow);
  // Standby, on its following thread: applies the records within the
  // horizon, waiting up to `wait` for the first; at most `max` of them.
  // Returns how many it applied (sent to their actors).
  absl::StatusOr<uint64_t> FollowSome(absl::Duration wait, uint64_t max);
  // Standby, once following stopped: replays what `journal` (just opened
  // by this process, which now holds the writer lock) holds beyond what was
  // applied, then becomes a writable image on it.
  absl::Status Promote(std::unique_ptr<Journal> journal);
  // The following reader's view of the writer's state page.
  absl::StatusOr<WriterState> FollowedWriterState();
  // LSN of the last record replayed (following: applied).
  uint64_t replayed_lsn() const { return recovery_.last_lsn; }
  using CommitObserver =
      std::function<void(uint64_t stream_id, const std::vector<std::unique_ptr<Envelope>>&)>;
  const CommitObserver& commit_observer() const { return observer_; }
  uint64_t snapshot_every() const { return snapshot_every_; }
  // Counts a snapshot error of the every-N policy and logs the first one.
  void RecordSnapshotError(const absl::Status& s);
  // Journals the catalog record of `info` if this journal has none yet.
  absl::Status Catalog(const EventRegistry::TypeInfo& info);
  // Output gating: while held, gated outputs wait even when durable (as if
  // the flush were slow); ReleaseOutputs lets them go in order.
  void HoldOutputs();
  void ReleaseOutputs();
  // Under the DeterministicScheduler nothing runs unless told to: runs it
  // until idle (no-op on a threaded scheduler).
  void RunDeterministicUntilIdle();

  template <class A>
  std::string KindNameOf() const {
    for (const auto& [name, factory] : kind_types_) {
      if (factory == TypeOf<A>()) return name;
    }
    return std::string(TypeOf<A>()->name);
  }
  // Replays the next record (if its LSN <= stop_lsn); false at the end. A
  // following image waits up to `wait` for it within the horizon.
  absl::StatusOr<bool> ReplayNext(uint64_t stop_lsn, ReplayStep* step,
                                  absl::Duration wait = absl::ZeroDuration());
  // Waits until every actor has applied what it was sent (touched_only:
  // every actor sent events since the last FlushReplayBatches).
  absl::Status AwaitReplayed(bool touched_only = false);
  absl::StatusOr<ActorRef> SpawnStream(const std::string& kind, uint64_t stream_id,
                                       uint64_t creation_lsn) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Spawn and SpawnAll: OK if streams of `kind` can be created now.
  absl::Status CheckCanCreate(const std::string& kind) const;
  // OK if `stream_id` may name a new stream.
  absl::Status CheckNewStreamLocked(uint64_t stream_id) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The record that begins a stream: type id 0, payload = its kind.
  RecordInput CreationRecord(const std::string& kind, uint64_t stream_id) const;
  // Runs `output` when the journal covers `lsn` (in LSN order).
  void Gate(uint64_t lsn, absl::AnyInvocable<void(absl::Status)> output);
  void ReleaseHeld();

  ActorSystem& system_;
  const EventRegistry& registry_;
  absl::flat_hash_map<std::string, std::function<std::unique_ptr<Actor>()>> kinds_;
  absl::flat_hash_map<std::string, const TypeTag*> kind_types_;
  std::string dir_;                   // the journal's directory
  std::unique_ptr<Journal> journal_;  // null when read-only; owns writer_
  // The journal commands append to: set by Open, or by Promote on a
  // standby while actors run; read by every actor (release/acquire).
  std::atomic<Journal*> writer_{nullptr};
  // The horizon a standby follows to (unset: not following).
  std::optional<ReadHorizon> follow_;
  // Opened as a standby (stays set after Promote; read by CheckCanCreate on
  // any thread, relaxed: it only picks an error message).
  std::atomic<bool> standby_{false};
  std::string snapshot_dir_;
  std::unique_ptr<Reader> reader_;    // during replay; kept when read-only
  std::unique_ptr<SnapshotStore> snapshots_;  // null when read-only
  // snapshots_.get(), published like writer_ (actors read it).
  std::atomic<SnapshotStore*> snapshot_store_{nullptr};
  uint64_t snapshot_every_ = 0;
  EventBus* bus_ = nullptr;
  std::string topic_prefix_;
  absl::StatusOr<ActorRef> StartProjection(const ActorRef& p);
  CommitObserver observer_;
  std::atomic<uint64_t> snapshot_errors_{0};  // relaxed: a statistic
  // Recovery: stream -> the version its loaded snapshot covers.
  absl::flat_hash_map<uint64_t, uint64_t> snapshot_versions_;
  absl::flat_hash_map<uint64_t, SnapshotStore::Snapshot> pending_snapshots_;
  // Recovery: events decoded but not yet sent, per stream (sent in batches).
  struct Batch {
    ActorRef target;
    std::vector<internal::ReplayEvent> events;
  };
  absl::flat_hash_map<uint64_t, Batch> replay_batches_;
  size_t replay_batch_size_ = 256;
  void FlushReplayBatches();
  // Asks the stream's actor to restore `snap` and waits for its answer.
  absl::Status RestoreSnapshot(const ActorRef& ref, SnapshotStore::Snapshot snap);
  RecoveryStats recovery_;

  mutable Mutex mu_;
  absl::flat_hash_map<uint64_t, ActorRef> streams_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<uint64_t, std::string> stream_kinds_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<uint32_t, std::string> cataloged_ ABSL_GUARDED_BY(mu_);
  // Gated outputs registered with the journal and not yet run. Writers:
  // Gate() (increment) and the journal's callbacks (decrement); acq_rel.
  // While non-zero, new outputs queue behind them to keep their order.
  std::atomic<int64_t> outstanding_{0};
  bool hold_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::pair<uint64_t, absl::AnyInvocable<void(absl::Status)>>> held_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace engram

#endif  // ENGRAM_IMAGE_MEMORY_IMAGE_H_
