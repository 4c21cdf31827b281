#include "engram/replication/jet_stream_replicator.h"

#include <algorithm>
#include <deque>
#include <optional>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "engram/base/internal/mutex.h"
#include "engram/journal/reader.h"
#include "replication/internal/replicated_message.h"
#include "replication/internal/stream_search.h"

namespace engram {

namespace {

using internal::FormatMessageId;
using internal::ParseMessageId;
using internal::ParseReplicatedRecords;
using internal::ReplicatedMessageId;

// The stream's last message, as far as replication cares.
struct Tail {
  bool empty = true;
  uint64_t sequence = 0;  // the stream's last sequence (0: never held one)
  uint64_t journal_id = 0;
  uint64_t epoch = 0;     // of the writer that published the message
  uint64_t first_lsn = 0;
  uint64_t last_lsn = 0;
};

bool Transient(const absl::Status& s) {
  return absl::IsUnavailable(s) || absl::IsDeadlineExceeded(s) || absl::IsAborted(s) ||
         absl::IsCancelled(s) || absl::IsResourceExhausted(s) || absl::IsInternal(s);
}

constexpr absl::Duration kMaxBackoff = absl::Seconds(2);
// How long the ship thread waits for a record before it looks at stop_.
constexpr absl::Duration kIdleWait = absl::Milliseconds(20);
// How often the outage policy is looked at while waiting.
constexpr absl::Duration kPolicySlice = absl::Milliseconds(10);

}  // namespace

class JetStreamReplicator::Impl : public std::enable_shared_from_this<Impl> {
 public:
  Impl(std::shared_ptr<JetStream> js, JetStreamReplicatorOptions options)
      : js_(std::move(js)), options_(std::move(options)) {}

  absl::Status Start(ReplicationContext context);
  absl::Status Stop(uint64_t last_lsn);
  ReplicationStatus state() const {
    MutexLock l(&mu_);
    return status_;
  }
  // Joins the thread if Stop did not (the journal failed to open).
  void Join() {
    {
      MutexLock l(&mu_);
      stop_ = true;
      cv_.SignalAll();
    }
    if (thread_.joinable()) thread_.join();
  }

 private:
  struct InFlight {
    uint64_t index = 0;
    uint64_t first_lsn = 0;
    uint64_t last_lsn = 0;
    uint64_t bytes = 0;
    uint64_t expected = 0;  // the stream's sequence before this message
    bool done = false;
    bool ok = false;
  };

  absl::StatusOr<Tail> ReadTail();
  // OK if shipping may resume after `tail`; else why this writer must stop.
  // `at_start`: Start's decision, where a stream ahead of this journal is
  // kAborted (catch up and retry: a copy that is about to take over races
  // the last messages of the leader it replaces), not final.
  absl::Status Decide(const Tail& tail, bool at_start = false) ABSL_LOCKS_EXCLUDED(mu_);
  // The stream holds this writer's epoch record at epoch_lsn_ (not another
  // node's record of the same epoch number).
  absl::StatusOr<bool> StreamHoldsOurEpochRecord(const Tail& tail);
  void ShipLoop();
  // Ships from after `tail` until an error or stop_.
  void ShipFrom(const Tail& tail);
  void Publish(std::string body, uint64_t first_lsn, uint64_t last_lsn)
      ABSL_LOCKS_EXCLUDED(mu_);
  void OnAck(uint64_t index, absl::StatusOr<JetStreamAck> ack) ABSL_LOCKS_EXCLUDED(mu_);
  // After an error: waits out the publishes in flight, then reads the tail
  // until it can; nullopt when stopping or failed for good.
  std::optional<Tail> Recover() ABSL_LOCKS_EXCLUDED(mu_);
  void Report(uint64_t lsn) ABSL_LOCKS_EXCLUDED(report_mu_);
  void Fail(const absl::Status& why) ABSL_LOCKS_EXCLUDED(mu_, report_mu_);
  void NoteError(const absl::Status& why) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The outage policy, on the ship thread only (so its decisions reach the
  // journal in the order they are made): the lag, refusing appends,
  // degrading; then on_state if anything it reports changed.
  void Evaluate() ABSL_LOCKS_EXCLUDED(mu_, report_mu_);
  // Waits on cv_ for at most a policy slice; true if `deadline` passed.
  bool WaitSlice(absl::Time deadline) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::shared_ptr<JetStream> js_;
  const JetStreamReplicatorOptions options_;
  // Set by Start before the thread starts; then read-only but for the
  // callbacks, which only Report and Fail call (under report_mu_).
  ReplicationContext context_;
  uint64_t epoch_lsn_ = 0;  // LSN of this writer's epoch record
  std::optional<Tail> start_tail_;  // read by Start (none: unreachable)

  mutable Mutex mu_;
  CondVar cv_;  // a publish completed, stop_ set, progress for Stop
  std::deque<InFlight> in_flight_ ABSL_GUARDED_BY(mu_);
  uint64_t next_index_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t next_expected_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t outstanding_ ABSL_GUARDED_BY(mu_) = 0;  // callbacks not yet run
  bool error_ ABSL_GUARDED_BY(mu_) = false;  // a publish failed: recover
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  // This writer's epoch record is known to be in the stream: a tail of
  // this epoch is then ours.
  bool epoch_stored_ ABSL_GUARDED_BY(mu_) = false;
  std::string epoch_bytes_ ABSL_GUARDED_BY(mu_);  // the record, once read
  ReplicationStatus status_ ABSL_GUARDED_BY(mu_);
  // Since when the stream has not acknowledged (InfiniteFuture: it does).
  absl::Time outage_since_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  // Records and bytes shipped so far (for the mean record size).
  uint64_t shipped_records_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t shipped_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  // What on_state was last told (ship thread only).
  ReplicationStatus told_;

  Mutex report_mu_ ABSL_ACQUIRED_AFTER(mu_);
  uint64_t reported_ ABSL_GUARDED_BY(report_mu_) = 0;
  bool detached_ ABSL_GUARDED_BY(report_mu_) = false;  // Stop returned
  bool failed_reported_ ABSL_GUARDED_BY(report_mu_) = false;

  std::thread thread_;
};

absl::StatusOr<Tail> JetStreamReplicator::Impl::ReadTail() {
  absl::StatusOr<std::optional<JetStreamMessage>> last = js_->LastMessage(options_.stream);
  if (!last.ok()) return last.status();
  Tail tail;
  if (!last->has_value()) {
    absl::StatusOr<JetStreamInfo> info = js_->StreamInfo(options_.stream);
    if (!info.ok()) return info.status();
    tail.sequence = info->last_sequence;
    return tail;
  }
  const JetStreamMessage& m = **last;
  const std::string what = absl::StrFormat("stream %s sequence %u", options_.stream, m.sequence);
  absl::StatusOr<ReplicatedMessageId> id = ParseMessageId(m.msg_id);
  if (!id.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat(what, " was not written by engram: ", id.status().message()));
  }
  absl::StatusOr<internal::ReplicatedRecords> records = ParseReplicatedRecords(m.data, what);
  if (!records.ok()) return records.status();
  tail.empty = false;
  tail.sequence = m.sequence;
  tail.journal_id = id->journal_id;
  tail.epoch = id->epoch;
  tail.first_lsn = records->first_lsn;
  tail.last_lsn = records->last_lsn;
  return tail;
}

absl::StatusOr<bool> JetStreamReplicator::Impl::StreamHoldsOurEpochRecord(const Tail& tail) {
  std::string ours;
  {
    MutexLock l(&mu_);
    ours = epoch_bytes_;
  }
  // Never read, so never published by this writer.
  if (ours.empty()) return false;
  absl::StatusOr<JetStreamMessage> m =
      internal::FindMessageHolding(*js_, options_.stream, epoch_lsn_);
  if (absl::IsNotFound(m.status())) return false;
  if (!m.ok()) return m.status();
  absl::StatusOr<internal::ReplicatedRecords> records = ParseReplicatedRecords(
      m->data, absl::StrFormat("stream %s sequence %u", options_.stream, m->sequence));
  if (!records.ok()) return records.status();
  return records->records[epoch_lsn_ - records->first_lsn].bytes == ours;
}

absl::Status JetStreamReplicator::Impl::Decide(const Tail& tail, bool at_start) {
  const std::string& s = options_.stream;
  if (tail.empty) {
    if (tail.sequence != 0) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "stream %s holds no message but has held %u (purged?): it cannot tell where "
          "this journal's replicas end",
          s, tail.sequence));
    }
    return absl::OkStatus();
  }
  if (tail.journal_id != context_.journal_id) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "stream %s holds journal %016x's records (sequence %u), not this journal's (%016x): "
        "refusing to replicate into it",
        s, tail.journal_id, tail.sequence, context_.journal_id));
  }
  const auto stepped_down = [&] {
    return absl::FailedPreconditionError(absl::StrFormat(
        "stream %s was written by epoch %u (LSNs %u..%u, sequence %u) while this writer is "
        "epoch %u: another node took over; follow it instead",
        s, tail.epoch, tail.first_lsn, tail.last_lsn, tail.sequence, context_.epoch));
  };
  if (tail.epoch > context_.epoch) return stepped_down();
  if (tail.epoch == context_.epoch) {
    bool stored;
    {
      MutexLock l(&mu_);
      stored = epoch_stored_;
    }
    if (!stored) {
      absl::StatusOr<bool> ours = StreamHoldsOurEpochRecord(tail);
      if (!ours.ok()) return ours.status();
      if (!*ours) return stepped_down();
      MutexLock l(&mu_);
      epoch_stored_ = true;
    }
    return absl::OkStatus();
  }
  // An older epoch's records: they must end before this writer's.
  if (tail.last_lsn > context_.last_lsn) {
    return absl::Status(at_start ? absl::StatusCode::kAborted : absl::StatusCode::kFailedPrecondition, absl::StrFormat(
        "stream %s holds LSN %u (epoch %u, sequence %u) but this journal held only LSNs up "
        "to %u when epoch %u began: the stream has records this journal lacks; restore the "
        "journal from the stream (a replica) first",
        s, tail.last_lsn, tail.epoch, tail.sequence, context_.last_lsn, context_.epoch));
  }
  return absl::OkStatus();
}

absl::Status JetStreamReplicator::Impl::Start(ReplicationContext context) {
  if (thread_.joinable()) {
    return absl::FailedPreconditionError("the replicator already serves a journal");
  }
  context_ = std::move(context);
  epoch_lsn_ = context_.last_lsn + 1;
  {
    MutexLock l(&mu_);
    in_flight_.clear();
    outstanding_ = 0;
    error_ = stop_ = epoch_stored_ = false;
    epoch_bytes_.clear();
    status_ = ReplicationStatus();
    status_.running = true;
  }
  {
    MutexLock r(&report_mu_);
    reported_ = 0;
    detached_ = failed_reported_ = false;
  }
  start_tail_.reset();
  absl::StatusOr<Tail> tail = ReadTail();
  if (tail.ok()) {
    if (absl::Status d = Decide(*tail, /*at_start=*/true); !d.ok()) return d;
    start_tail_ = *tail;
  } else if (Transient(tail.status())) {
    // Unreachable now: the thread keeps trying; nothing is acknowledged.
    MutexLock l(&mu_);
    NoteError(tail.status());
  } else {
    return tail.status();
  }
  thread_ = std::thread([self = shared_from_this()] { self->ShipLoop(); });
  return absl::OkStatus();
}

void JetStreamReplicator::Impl::NoteError(const absl::Status& why) {
  if (status_.connected || outage_since_ == absl::InfiniteFuture()) outage_since_ = absl::Now();
  status_.connected = false;
  status_.last_error = why;
  ++status_.errors;
}

void JetStreamReplicator::Impl::ShipLoop() {
  std::optional<Tail> tail = start_tail_;
  for (;;) {
    if (!tail.has_value()) tail = Recover();
    if (!tail.has_value()) return;  // stopping, or failed for good
    ShipFrom(*tail);
    tail.reset();
    MutexLock l(&mu_);
    if (stop_ || status_.failed) return;
  }
}

void JetStreamReplicator::Impl::ShipFrom(const Tail& tail) {
  {
    MutexLock l(&mu_);
    in_flight_.clear();
    error_ = false;
    next_expected_ = tail.sequence;
    status_.connected = true;  // the tail was read: reachable again
    outage_since_ = absl::InfiniteFuture();
    status_.in_flight_messages = status_.in_flight_bytes = 0;
    status_.replicated_lsn = std::max(status_.replicated_lsn, tail.last_lsn);
    status_.stream_sequence = tail.sequence;
    status_.shipped_lsn = tail.last_lsn;
  }
  Report(tail.last_lsn);
  absl::StatusOr<std::unique_ptr<Reader>> reader = Reader::Open(context_.dir, tail.last_lsn + 1);
  if (!reader.ok()) {
    Fail(reader.status());
    return;
  }
  std::string body;
  uint64_t first = 0, last = 0;
  for (;;) {
    {
      MutexLock l(&mu_);
      while (in_flight_.size() >= options_.max_in_flight && !error_ && !stop_) {
        if (WaitSlice(absl::InfiniteFuture())) break;
        mu_.Unlock();
        Evaluate();
        mu_.Lock();
      }
      if (error_ || stop_) return;
    }
    RecordView rec;
    absl::StatusOr<bool> got = (*reader)->NextWait(
        &rec, body.empty() ? kIdleWait : absl::ZeroDuration(), ReadHorizon::kDurable);
    if (!got.ok()) {
      Fail(got.status());
      return;
    }
    if (!*got) {
      if (!body.empty()) Publish(std::move(body), first, last);
      body.clear();
      Evaluate();
      continue;
    }
    // A batch goes out whole: a message may close only before a batch head.
    if (rec.batch_count != 0 && !body.empty() &&
        body.size() + rec.bytes.size() > options_.max_message_bytes) {
      Publish(std::move(body), first, last);
      body.clear();
    }
    if (body.empty()) first = rec.lsn;
    body.append(rec.bytes.data(), rec.bytes.size());
    last = rec.lsn;
    if (rec.lsn == epoch_lsn_) {
      MutexLock l(&mu_);
      epoch_bytes_.assign(rec.bytes.data(), rec.bytes.size());
    }
  }
}

void JetStreamReplicator::Impl::Publish(std::string body, uint64_t first_lsn,
                                        uint64_t last_lsn) {
  JetStreamPublish p;
  uint64_t index;
  {
    MutexLock l(&mu_);
    index = next_index_++;
    InFlight f;
    f.index = index;
    f.first_lsn = first_lsn;
    f.last_lsn = last_lsn;
    f.bytes = body.size();
    f.expected = next_expected_++;
    in_flight_.push_back(f);
    ++outstanding_;
    shipped_records_ += last_lsn - first_lsn + 1;
    shipped_bytes_ += body.size();
    ++status_.in_flight_messages;
    status_.in_flight_bytes += f.bytes;
    status_.shipped_lsn = last_lsn;
    p.expected_last_sequence = f.expected;
  }
  p.subject = options_.subject;
  p.msg_id = FormatMessageId(ReplicatedMessageId{context_.journal_id, context_.epoch, first_lsn});
  p.data = std::move(body);
  p.max_wait = options_.max_wait;
  js_->PublishAsync(std::move(p), [self = shared_from_this(), index](
                                      absl::StatusOr<JetStreamAck> ack) {
    self->OnAck(index, std::move(ack));
  });
}

void JetStreamReplicator::Impl::OnAck(uint64_t index, absl::StatusOr<JetStreamAck> ack) {
  uint64_t acked = 0;
  {
    MutexLock l(&mu_);
    --outstanding_;
    cv_.SignalAll();
    // A callback of a pipeline that recovery has dropped: its outcome was
    // read from the stream's tail instead.
    if (in_flight_.empty() || index < in_flight_.front().index ||
        index - in_flight_.front().index >= in_flight_.size()) {
      return;
    }
    InFlight& f = in_flight_[index - in_flight_.front().index];
    f.done = true;
    if (ack.ok() && !ack->duplicate && ack->sequence == f.expected + 1) {
      f.ok = true;
    } else if (!error_) {
      error_ = true;
      NoteError(!ack.ok() ? ack.status()
                : ack->duplicate
                    ? absl::AbortedError(absl::StrFormat(
                          "stream %s acknowledged LSNs %u..%u as a duplicate of sequence %u",
                          options_.stream, f.first_lsn, f.last_lsn, ack->sequence))
                    : absl::InternalError(absl::StrFormat(
                          "stream %s stored LSNs %u..%u at sequence %u, expected %u",
                          options_.stream, f.first_lsn, f.last_lsn, ack->sequence,
                          f.expected + 1)));
    }
    while (!error_ && !in_flight_.empty() && in_flight_.front().done && in_flight_.front().ok) {
      const InFlight& front = in_flight_.front();
      acked = front.last_lsn;
      status_.replicated_lsn = front.last_lsn;
      status_.stream_sequence = front.expected + 1;
      status_.connected = true;
      outage_since_ = absl::InfiniteFuture();
      --status_.in_flight_messages;
      status_.in_flight_bytes -= front.bytes;
      if (front.first_lsn <= epoch_lsn_ && epoch_lsn_ <= front.last_lsn) epoch_stored_ = true;
      in_flight_.pop_front();
    }
  }
  if (acked != 0) Report(acked);
}

std::optional<Tail> JetStreamReplicator::Impl::Recover() {
  {
    MutexLock l(&mu_);
    // Every publish in flight completes within its max_wait; only then is
    // the tail final for them (a late one could still be stored).
    const absl::Time deadline = absl::Now() + options_.max_wait + absl::Seconds(2);
    while (outstanding_ > 0 && !stop_) {
      if (WaitSlice(deadline)) break;
      mu_.Unlock();
      Evaluate();
      mu_.Lock();
    }
    in_flight_.clear();
    status_.in_flight_messages = status_.in_flight_bytes = 0;
  }
  absl::Duration backoff = options_.retry_backoff;
  for (;;) {
    {
      MutexLock l(&mu_);
      if (stop_) return std::nullopt;
    }
    absl::StatusOr<Tail> tail = ReadTail();
    absl::Status why = tail.ok() ? Decide(*tail) : tail.status();
    if (why.ok()) return *tail;
    if (!Transient(why)) {
      Fail(why);
      return std::nullopt;
    }
    {
      MutexLock l(&mu_);
      NoteError(why);
    }
    Evaluate();
    MutexLock l(&mu_);
    const absl::Time until = absl::Now() + backoff;
    while (!stop_) {
      if (WaitSlice(until)) break;
      mu_.Unlock();
      Evaluate();
      mu_.Lock();
    }
    backoff = std::min(backoff * 2, kMaxBackoff);
  }
}

bool JetStreamReplicator::Impl::WaitSlice(absl::Time deadline) {
  const absl::Time slice = absl::Now() + kPolicySlice;
  cv_.WaitWithDeadline(&mu_, std::min(deadline, slice));
  return absl::Now() >= deadline;
}

void JetStreamReplicator::Impl::Evaluate() {
  uint64_t committed = 0;
  {
    MutexLock r(&report_mu_);
    if (detached_ || failed_reported_) return;
    committed = context_.committed_lsn ? context_.committed_lsn() : 0;
  }
  absl::Status refuse;
  bool refuse_changed = false, degrade_changed = false;
  ReplicationStatus now;
  {
    MutexLock l(&mu_);
    status_.lag_records = committed > status_.replicated_lsn ? committed - status_.replicated_lsn : 0;
    const uint64_t mean = shipped_records_ == 0 ? 256 : shipped_bytes_ / shipped_records_;
    status_.lag_bytes = status_.lag_records * mean;
    bool refusing = status_.refusing_appends;
    switch (options_.outage) {
      case ReplicationOutagePolicy::kFail:
        refusing = !status_.connected;
        if (refusing) {
          refuse = absl::UnavailableError(absl::StrFormat(
              "stream %s does not acknowledge (%s): durability replicated refuses new commands "
              "(outage policy fail)",
              options_.stream, status_.last_error.message()));
        }
        break;
      case ReplicationOutagePolicy::kBlock:
        if (status_.lag_bytes > options_.max_unreplicated_bytes) {
          refusing = true;
        } else if (status_.lag_bytes < options_.max_unreplicated_bytes / 2) {
          refusing = false;
        }
        if (refusing) {
          refuse = absl::UnavailableError(absl::StrFormat(
              "replication lag: %u records (about %u bytes) not acknowledged by stream %s, over "
              "the limit of %u bytes%s",
              status_.lag_records, status_.lag_bytes, options_.stream,
              options_.max_unreplicated_bytes,
              status_.last_error.ok() ? std::string()
                                      : absl::StrCat("; last error: ", status_.last_error.message())));
        }
        break;
      case ReplicationOutagePolicy::kDegrade: {
        const bool degraded = outage_since_ != absl::InfiniteFuture() &&
                              absl::Now() - outage_since_ >= options_.degrade_after;
        // Back to waiting for the stream once it acknowledges again.
        const bool next = status_.degraded ? !status_.connected : degraded;
        degrade_changed = next != status_.degraded;
        status_.degraded = next;
        break;
      }
    }
    refuse_changed = refusing != status_.refusing_appends;
    status_.refusing_appends = refusing;
    now = status_;
  }
  if (refuse_changed || degrade_changed) {
    MutexLock r(&report_mu_);
    if (detached_) return;
    if (refuse_changed) context_.refuse_appends(refuse);
    if (degrade_changed) context_.degrade(now.degraded);
  }
  if (options_.on_state &&
      (now.connected != told_.connected || now.degraded != told_.degraded ||
       now.refusing_appends != told_.refusing_appends || now.failed != told_.failed)) {
    told_ = now;
    options_.on_state(now);
  }
}

void JetStreamReplicator::Impl::Report(uint64_t lsn) {
  MutexLock r(&report_mu_);
  if (detached_ || failed_reported_ || lsn <= reported_) return;
  reported_ = lsn;
  context_.acknowledged(lsn);
}

void JetStreamReplicator::Impl::Fail(const absl::Status& why) {
  {
    MutexLock l(&mu_);
    status_.failed = true;
    status_.connected = false;
    status_.last_error = why;
    cv_.SignalAll();
  }
  {
    MutexLock r(&report_mu_);
    if (detached_ || failed_reported_) return;
    failed_reported_ = true;
    context_.failed(why);
  }
  // Fail runs on the ship thread, as Evaluate does.
  if (options_.on_state) {
    told_ = state();
    options_.on_state(told_);
  }
}

absl::Status JetStreamReplicator::Impl::Stop(uint64_t last_lsn) {
  absl::Status result;
  {
    MutexLock l(&mu_);
    const absl::Time deadline = absl::Now() + options_.stop_timeout;
    while (status_.replicated_lsn < last_lsn && !status_.failed) {
      if (cv_.WaitWithDeadline(&mu_, deadline)) break;
    }
    if (status_.failed) {
      result = status_.last_error;
    } else if (status_.replicated_lsn < last_lsn) {
      result = absl::DeadlineExceededError(absl::StrFormat(
          "stream %s did not acknowledge LSNs %u..%u within %s%s", options_.stream,
          status_.replicated_lsn + 1, last_lsn, absl::FormatDuration(options_.stop_timeout),
          status_.last_error.ok() ? std::string()
                                  : absl::StrCat(" (last error: ", status_.last_error.message(),
                                                 ")")));
    }
    stop_ = true;
    status_.running = false;
    cv_.SignalAll();
  }
  if (thread_.joinable()) thread_.join();
  MutexLock r(&report_mu_);
  detached_ = true;
  return result;
}

JetStreamReplicator::JetStreamReplicator(std::shared_ptr<JetStream> jet_stream,
                                         JetStreamReplicatorOptions options)
    : impl_(std::make_shared<Impl>(std::move(jet_stream), std::move(options))) {}

JetStreamReplicator::~JetStreamReplicator() { impl_->Join(); }

absl::Status JetStreamReplicator::Start(ReplicationContext context) {
  return impl_->Start(std::move(context));
}

absl::Status JetStreamReplicator::Stop(uint64_t last_lsn) { return impl_->Stop(last_lsn); }

ReplicationStatus JetStreamReplicator::state() const { return impl_->state(); }

}  // namespace engram
