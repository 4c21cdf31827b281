#include "engram/journal/journal.h"

#include <limits.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "base/spin_wait.h"
#include "journal/internal/committed_lsn.h"
#include "journal/internal/format.h"
#include "journal/internal/group_commit_flusher.h"
#include "journal/internal/journal_state_file.h"
#include "journal/internal/recovery.h"
#include "journal/internal/retention.h"
#include "journal/internal/segment_preallocator.h"
#include "journal/internal/segment_set.h"

namespace engram {

using internal::AlignRecord;
using internal::CommittedLsn;
using internal::kCommittedClosedBit;

// How often the writer beats on the state page; followers treat a page
// that has not beaten for a second as a writer they cannot trust.
constexpr absl::Duration kStateHeartbeatPeriod = absl::Milliseconds(100);
using internal::kCommittedFlagBits;
using internal::kCommittedLsnMask;
using internal::kRecordHeaderSize;
using internal::kSegmentHeaderSize;
using internal::WriterSegment;

Journal::Journal(std::string dir, const JournalOptions& options)
    : dir_(std::move(dir)), options_(options) {}

Journal::~Journal() { Close().IgnoreError(); }

namespace {

// Open's checks of the options alone.
absl::Status CheckOptions(const JournalOptions& options) {
  if (options.segment_size < internal::kMinSegmentSize ||
      options.segment_size > internal::kMaxSegmentSize) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "segment_size %u is outside [%u, %u]", options.segment_size,
        internal::kMinSegmentSize, internal::kMaxSegmentSize));
  }
  if ((options.durability == Durability::kReplicated) != (options.replicator != nullptr)) {
    return absl::InvalidArgumentError(
        options.replicator == nullptr
            ? "durability kReplicated needs JournalOptions::replicator"
            : "JournalOptions::replicator is set but durability is not kReplicated");
  }
  if (options.durability == Durability::kReplicated && !options.record_epochs) {
    return absl::InvalidArgumentError(
        "durability kReplicated needs record_epochs: the replicas are fenced by epoch");
  }
  if (options.record_epochs && options.node_name.size() > kMaxEpochNodeBytes) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "node_name of %u bytes is longer than the %u bytes an epoch record holds",
        options.node_name.size(), kMaxEpochNodeBytes));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Journal>> Journal::Open(
    const std::string& dir, const JournalOptions& options) {
  if (absl::Status s = CheckOptions(options); !s.ok()) return s;
  if (absl::Status s = internal::JournalRecovery::PrepareDirectory(dir, options);
      !s.ok()) {
    return s;
  }
  absl::StatusOr<std::unique_ptr<WriterLock>> lock =
      WriterLock::TryAcquire(dir, options.file_mode);
  if (!lock.ok()) return lock.status();
  return OpenLocked(dir, options, std::move(*lock));
}

absl::StatusOr<std::unique_ptr<Journal>> Journal::Open(const std::string& dir,
                                                       const JournalOptions& options,
                                                       std::unique_ptr<WriterLock> lock) {
  if (lock == nullptr || lock->dir() != dir) {
    return absl::InvalidArgumentError(absl::StrCat(
        "journal ", dir, ": the writer lock given is for ",
        lock == nullptr ? std::string("no directory") : lock->dir()));
  }
  if (absl::Status s = CheckOptions(options); !s.ok()) return s;
  if (absl::Status s = internal::JournalRecovery::PrepareDirectory(dir, options);
      !s.ok()) {
    return s;
  }
  return OpenLocked(dir, options, std::move(lock));
}

absl::StatusOr<std::unique_ptr<Journal>> Journal::OpenLocked(const std::string& dir,
                                                             const JournalOptions& options,
                                                             std::unique_ptr<WriterLock> lock) {
  std::unique_ptr<Journal> j(new Journal(dir, options));
  j->capacity_ = (options.segment_size + 4095) & ~uint64_t{4095};
  j->max_record_ = j->capacity_ - kSegmentHeaderSize;
  if (options.max_record_size != 0 && options.max_record_size < j->max_record_) {
    j->max_record_ = options.max_record_size;
  }
  j->lock_ = std::move(lock);

  auto recovered = internal::JournalRecovery::Recover(dir, options);
  if (!recovered.ok()) return recovered.status();
  j->recovery_ = std::move(recovered->report);
  const uint64_t next_lsn = recovered->next_lsn;
  j->journal_id_ = recovered->journal_id;
  j->committed_lsn_.store(next_lsn - 1, std::memory_order_relaxed);
  // Followers on this host learn from the state page how far the journal
  // is committed and durable, and are woken by it. Recovery made every
  // kept record durable.
  auto state = internal::JournalStateFile::CreateForWriter(dir, recovered->journal_id,
                                                           options.file_mode);
  if (!state.ok()) return state.status();
  j->state_ = std::move(*state);
  j->state_->PublishCommitted(next_lsn - 1, /*also_durable=*/true);
  j->state_->StartHeartbeat(kStateHeartbeatPeriod);

  j->preallocator_ = std::make_unique<internal::SegmentPreallocator>(
      dir, j->capacity_, options.file_mode, options.prefault);
  j->segments_ = std::make_unique<internal::SegmentSet>(
      dir, recovered->journal_id, j->preallocator_.get());
  j->flusher_ = std::make_unique<internal::GroupCommitFlusher>(
      dir, options, &j->committed_lsn_, j->segments_.get(), next_lsn - 1);
  j->retention_ = std::make_unique<internal::Retention>(
      dir, options.durability, &j->committed_lsn_, j->segments_.get(),
      j->flusher_.get());

  // This tenure's epoch is above every epoch record recovery read and
  // every segment header's creator epoch (retention may have deleted the
  // segment holding the newest epoch record; the active segment, never
  // deleted, was created in the newest tenure or holds its record).
  uint64_t epoch = 0;
  if (options.record_epochs) {
    const uint64_t last = std::max(
        j->recovery_.last_epoch.has_value() ? j->recovery_.last_epoch->epoch : 0,
        recovered->highest_segment_epoch);
    if (last >= UINT32_MAX) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "journal %s: epoch %u is the last one possible", dir, last));
    }
    epoch = last + 1;
    // Every segment created from here on (the first one included) says so.
    j->segments_->set_creator_epoch(static_cast<uint32_t>(epoch));
  }
  if (recovered->active.has_value()) {
    // With record_epochs, recovery sealed a version-1 segment: the epoch
    // record below rolls to a new one.
    j->segments_->AdoptRecovered(std::move(*recovered->active));
  } else if (absl::Status s = j->segments_->InstallFirst(next_lsn); !s.ok()) {
    return s;
  }
  j->preallocator_->Start([r = j->retention_.get()] { r->RetireMappings(); });
  j->flusher_->PublishTo(j->state_.get());
  if (options.durability != Durability::kProcess) j->flusher_->Start();
  // The replicator checks the replicas against what recovery kept, before
  // this tenure's epoch record is written, and ships from where they end.
  if (options.durability == Durability::kReplicated) {
    ReplicationContext context;
    context.dir = dir;
    context.journal_id = recovered->journal_id;
    context.epoch = epoch;
    context.last_lsn = next_lsn - 1;
    internal::GroupCommitFlusher* flusher = j->flusher_.get();
    context.acknowledged = [flusher](uint64_t lsn) { flusher->AcknowledgeReplicated(lsn); };
    context.failed = [flusher](absl::Status why) { flusher->FailReplication(why); };
    context.degrade = [flusher](bool degraded) { flusher->SetDegraded(degraded); };
    Journal* journal = j.get();
    context.committed_lsn = [journal] { return journal->last_lsn(); };
    context.refuse_appends = [journal](absl::Status why) {
      MutexLock l(&journal->refuse_mu_);
      journal->refused_status_ = why;
      journal->refusing_.store(!why.ok(), std::memory_order_release);
    };
    if (absl::Status s = options.replicator->Start(std::move(context)); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat("journal ", dir, ": replication: ", s.message()));
    }
    j->replicating_ = true;
  }
  // The writer's tenure starts with its epoch record, durable before Open
  // returns and so before any caller's first append.
  if (options.record_epochs) {
    if (absl::Status s = j->StartEpoch(epoch, recovered->journal_id); !s.ok()) {
      return s;
    }
  }
  return j;
}

namespace {

// The host name for epoch records ("" if it cannot be had).
std::string HostName() {
  char buf[HOST_NAME_MAX + 1] = {};
  if (gethostname(buf, sizeof buf - 1) != 0) return std::string();
  std::string name(buf);
  if (name.size() > kMaxEpochNodeBytes) name.resize(kMaxEpochNodeBytes);
  return name;
}

}  // namespace

absl::Status Journal::StartEpoch(uint64_t epoch, uint64_t journal_id) {
  EpochRecord e;
  e.epoch = epoch;
  e.previous_epoch = epoch - 1;
  e.journal_id = journal_id;
  e.base_lsn = CommittedLsn(committed_lsn_) + 1;  // no caller can append yet
  e.node = options_.node_name.empty() ? HostName() : options_.node_name;
  e.pid = static_cast<uint32_t>(getpid());
  e.start_unix_ns = absl::GetCurrentTimeNanos();
  const std::string payload = EncodeEpochRecord(e);
  RecordInput rec;
  rec.stream_id = kJournalStreamId;
  rec.type_id = kEpochTypeId;
  rec.schema_version = kEpochSchemaVersion;
  rec.timestamp_ns = e.start_unix_ns;
  rec.payload = payload;
  absl::StatusOr<uint64_t> lsn = AppendRecords(&rec, 1, /*journal_record=*/true);
  if (!lsn.ok()) {
    return absl::Status(lsn.status().code(),
                        absl::StrCat("journal ", dir_, ": appending epoch record ", e.epoch,
                                     ": ", lsn.status().message()));
  }
  if (*lsn != e.base_lsn) {
    return absl::InternalError(absl::StrFormat(
        "journal %s: epoch record got LSN %u, expected %u", dir_, *lsn, e.base_lsn));
  }
  // Durable at every level (Sync fdatasyncs even at kProcess; recovery
  // synced everything before it).
  if (absl::Status s = Sync(); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat("journal ", dir_, ": syncing epoch record ",
                                               e.epoch, ": ", s.message()));
  }
  state_->SetEpoch(e.epoch);
  epoch_ = std::move(e);
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> Journal::AppendCopy(absl::Span<const RecordView> records) {
  uint64_t last = 0;
  std::vector<RecordInput> batch;
  size_t i = 0;
  while (i < records.size()) {
    const RecordView& head = records[i];
    const uint64_t expected = CommittedLsn(committed_lsn_) + 1;
    if (head.lsn != expected) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "journal %s: copied record LSN %u does not follow LSN %u", dir_, head.lsn,
          expected - 1));
    }
    if (head.batch_count == 0 || head.batch_count > records.size() - i) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "journal %s: copied record LSN %u opens a batch of %u records, %u given", dir_,
          head.lsn, head.batch_count, records.size() - i));
    }
    batch.clear();
    for (size_t k = 0; k < head.batch_count; ++k) {
      const RecordView& r = records[i + k];
      if (r.lsn != head.lsn + k || (k > 0 && r.batch_count != 0) || r.timestamp_ns == 0) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "journal %s: copied record LSN %u is not member %u of the batch at LSN %u", dir_,
            r.lsn, k, head.lsn));
      }
      RecordInput in;
      in.stream_id = r.stream_id;
      in.stream_version = r.stream_version;
      in.type_id = r.type_id;
      in.schema_version = r.schema_version;
      in.flags = r.flags;
      in.timestamp_ns = r.timestamp_ns;
      in.payload = r.payload;
      batch.push_back(in);
    }
    // The same fields give the same header and checksum: the copy is the
    // original byte for byte.
    absl::StatusOr<uint64_t> lsn =
        AppendRecords(batch.data(), batch.size(), /*journal_record=*/true);
    if (!lsn.ok()) return lsn.status();
    if (*lsn != head.lsn) {
      return absl::InternalError(absl::StrFormat(
          "journal %s: copied batch at LSN %u landed at LSN %u (another appender?)", dir_,
          head.lsn, *lsn));
    }
    last = *lsn + batch.size() - 1;
    i += batch.size();
  }
  return last;
}

absl::StatusOr<uint64_t> Journal::Append(const RecordInput& record) noexcept {
  return AppendRecords(&record, 1);
}

absl::StatusOr<uint64_t> Journal::AppendBatch(
    absl::Span<const RecordInput> records) noexcept {
  return AppendRecords(records.data(), records.size());
}

namespace {

// Writes `n` records at `p` with LSNs from `lsn`, publishing them all with
// the release store of the first record's size word.
inline void WriteRecords(uint8_t* p, const RecordInput* recs, size_t n,
                         uint64_t lsn, int64_t now) noexcept {
  uint8_t* head = p;
  uint32_t head_size = 0;
  for (size_t i = 0; i < n; ++i) {
    const RecordInput& r = recs[i];
    internal::RecordHeader h;
    h.size = static_cast<uint32_t>(kRecordHeaderSize + r.payload.size());
    h.batch_count = i == 0 ? static_cast<uint32_t>(n) : 0;
    h.lsn = lsn + i;
    h.stream_id = r.stream_id;
    h.stream_version = r.stream_version;
    h.type_id = r.type_id;
    h.schema_version = r.schema_version;
    h.flags = r.flags;
    h.timestamp_ns = r.timestamp_ns != 0 ? r.timestamp_ns : now;
    h.checksum = internal::RecordChecksum(&h, r.payload.data(), r.payload.size());
    // Everything but the size word; the bytes after the record (padding)
    // are already zero.
    std::memcpy(p + 4, reinterpret_cast<const uint8_t*>(&h) + 4,
                kRecordHeaderSize - 4);
    if (!r.payload.empty()) {
      std::memcpy(p + kRecordHeaderSize, r.payload.data(), r.payload.size());
    }
    if (i == 0) {
      head_size = h.size;
    } else {
      // Ordered before the head's release store below; readers only look at
      // members after acquiring the head's size word.
      __atomic_store_n(reinterpret_cast<uint32_t*>(p), h.size, __ATOMIC_RELAXED);
    }
    p += AlignRecord(h.size);
  }
  // Commit: readers that acquire this word see the whole batch.
  __atomic_store_n(reinterpret_cast<uint32_t*>(head), head_size, __ATOMIC_RELEASE);
}

}  // namespace

uint64_t Journal::WaitForPredecessors(uint64_t lsn) const noexcept {
  // Publication is in LSN order so that an acknowledged record never lies
  // after a hole that a crash could leave: recovery cuts at the first hole.
  // The predecessor is usually mid-memcpy on the other core; with more
  // writers than cores it may be preempted, hence spin, yield, then park.
  return internal::SpinThenPark(committed_lsn_, [lsn](uint64_t v) {
    return (v & kCommittedLsnMask) == lsn - 1;
  });
}

absl::StatusOr<uint64_t> Journal::AppendRecords(const RecordInput* recs, size_t n,
                                                bool journal_record) noexcept {
  if (n == 0) return absl::InvalidArgumentError("AppendBatch of zero records");
  if (refusing_.load(std::memory_order_relaxed) && !journal_record) {
    MutexLock l(&refuse_mu_);
    if (!refused_status_.ok()) return refused_status_;
  }
  uint64_t total = 0;
  bool need_time = false;
  for (size_t i = 0; i < n; ++i) {
    if (recs[i].stream_id == kJournalStreamId && IsReservedTypeId(recs[i].type_id) &&
        !journal_record) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "record %u of %u: stream 0 type 0x%08X is in the range 0x%08X..0x%08X reserved "
          "for the journal's own records",
          i + 1, n, recs[i].type_id, kReservedTypeIdFirst, kReservedTypeIdLast));
    }
    const uint64_t size = kRecordHeaderSize + recs[i].payload.size();
    if (size > max_record_) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "record of %u bytes (%u-byte header + %u-byte payload) exceeds the "
          "limit of %u bytes",
          size, kRecordHeaderSize, recs[i].payload.size(), max_record_));
    }
    total += AlignRecord(size);
    need_time |= recs[i].timestamp_ns == 0;
  }
  if (total > capacity_ - kSegmentHeaderSize || n > 0x7fffffff) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "batch of %u records (%u bytes) exceeds the segment capacity of %u "
        "bytes",
        n, total, capacity_ - kSegmentHeaderSize));
  }
  const int64_t now = need_time ? absl::GetCurrentTimeNanos() : 0;
  for (;;) {
    WriterSegment* seg = segments_->active();
    if (seg == nullptr) {
      return absl::FailedPreconditionError(
          absl::StrCat("journal ", dir_, " is closed"));
    }
    const uint64_t old = seg->reserve.fetch_add((uint64_t{n} << 32) | total,
                                                std::memory_order_relaxed);
    const uint64_t offset = old & 0xffffffffu;
    const uint64_t index = old >> 32;
    if (offset + total <= seg->capacity) {
      const uint64_t lsn = seg->first_lsn + index;
      WriteRecords(seg->data + offset, recs, n, lsn, now);
      const uint64_t prev = WaitForPredecessors(lsn);
      // Inside the publication window (predecessors published, successors
      // wait for the store below), so the page's LSN only grows.
      state_->PublishCommitted(lsn + n - 1, options_.durability == Durability::kProcess);
      // Keeps Close's bit (an appender already past the active-segment check
      // when Close ran) and the nudge bit. A nudge that lands between the
      // load in WaitForPredecessors and this store is overwritten, but the
      // value still changes (the LSN advances), which is all a nudge is for.
      committed_lsn_.store((lsn + n - 1) | (prev & kCommittedFlagBits),
                           std::memory_order_release);
      // Cheap when nobody blocks (libstdc++ checks a waiter count first).
      committed_lsn_.notify_all();
      return lsn;
    }
    absl::Status s = segments_->Roll(seg, offset, index);
    if (!s.ok()) return s;
  }
}

uint64_t Journal::last_lsn() const noexcept {
  return CommittedLsn(committed_lsn_);
}

uint64_t Journal::durable_lsn() const noexcept {
  if (options_.durability == Durability::kProcess) {
    return CommittedLsn(committed_lsn_);
  }
  return flusher_->durable_lsn();
}

uint64_t Journal::sync_count() const noexcept {
  return flusher_ == nullptr ? 0 : flusher_->sync_count();
}

absl::Status Journal::WaitPublished(uint64_t lsn, absl::Duration timeout) {
  if (timeout == absl::InfiniteDuration()) {
    // Parks on committed_lsn_ itself: the appender that publishes `lsn`
    // wakes this thread with its store, and Close with its bit. closed_ is
    // checked too in case an in-flight appender's store overwrote the bit.
    const uint64_t v = internal::SpinThenPark(committed_lsn_, [&](uint64_t w) {
      return (w & kCommittedLsnMask) >= lsn || (w & kCommittedClosedBit) != 0 ||
             closed_.load(std::memory_order_acquire);
    });
    if ((v & kCommittedLsnMask) >= lsn) return absl::OkStatus();
    return absl::FailedPreconditionError(absl::StrCat("journal ", dir_, " is closed"));
  }
  // A bounded wait parks the same way; its deadline nudges the word (see
  // base/spin_wait.h), so appenders pay nothing for it.
  const std::optional<uint64_t> v = internal::SpinThenParkUntil(
      committed_lsn_,
      [&](uint64_t w) {
        return (w & kCommittedLsnMask) >= lsn || (w & kCommittedClosedBit) != 0 ||
               closed_.load(std::memory_order_acquire);
      },
      absl::Now() + timeout, &internal::NudgeCommittedLsn);
  if (!v.has_value()) {
    return absl::DeadlineExceededError(absl::StrFormat(
        "LSN %u not published within %s", lsn, absl::FormatDuration(timeout)));
  }
  if ((*v & kCommittedLsnMask) >= lsn) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat("journal ", dir_, " is closed"));
}

absl::Status Journal::WaitDurable(uint64_t lsn, absl::Duration timeout) {
  if (durable_lsn() >= lsn) return absl::OkStatus();
  if (options_.durability == Durability::kProcess) return WaitPublished(lsn, timeout);
  return flusher_->WaitDurable(lsn, timeout);
}

void Journal::OnDurable(uint64_t lsn, absl::AnyInvocable<void(absl::Status)> done) {
  if (options_.durability == Durability::kProcess) {
    // Appends return in LSN order and publish as they return, so callers
    // that register in LSN order are called in LSN order.
    done(WaitDurable(lsn));
    return;
  }
  flusher_->OnDurable(lsn, std::move(done));
}

absl::Status Journal::Sync() {
  return flusher_->Sync(CommittedLsn(committed_lsn_));
}

absl::StatusOr<int> Journal::DeleteSegmentsBelow(uint64_t lsn) {
  return retention_->DeleteSegmentsBelow(lsn);
}

absl::Status Journal::Close() {
  if (closed_.exchange(true, std::memory_order_acq_rel)) return absl::OkStatus();
  // Members are null when Open failed part-way.
  if (segments_ != nullptr) segments_->StopAppends();
  // Wakes the threads parked in WaitPublished.
  committed_lsn_.fetch_or(kCommittedClosedBit, std::memory_order_acq_rel);
  committed_lsn_.notify_all();
  if (preallocator_ != nullptr) preallocator_->Stop();
  absl::Status status;
  if (options_.durability != Durability::kProcess && flusher_ != nullptr) {
    const uint64_t last = CommittedLsn(committed_lsn_);
    if (replicating_) {
      // Synced first: the replicator ships only what is durable here.
      status = flusher_->SyncUpTo(last);
      absl::Status stopped = options_.replicator->Stop(last);
      if (status.ok()) status = stopped;
    }
    absl::Status closed = flusher_->Close(last);
    if (status.ok()) status = closed;
  }
  if (preallocator_ != nullptr) preallocator_->DiscardPrepared();
  if (segments_ != nullptr) segments_->ReleaseAll();
  // After the flusher's last round, so the page shows the final durable LSN.
  if (state_ != nullptr) state_->MarkClosed();
  lock_.reset();
  return status;
}

}  // namespace engram
