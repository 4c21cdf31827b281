#include "engram/replication/stream_follower.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "engram/journal/reader.h"
#include "replication/internal/replicated_message.h"
#include "replication/internal/stream_search.h"

namespace engram {

namespace {

std::string Where(const std::string& stream, uint64_t sequence) {
  return absl::StrFormat("stream %s sequence %u", stream, sequence);
}

}  // namespace

namespace {

// The copy's record at `lsn` equals the stream's.
absl::StatusOr<bool> SameRecord(JetStream& js, const std::string& stream, const std::string& dir,
                                uint64_t lsn) {
  absl::StatusOr<JetStreamMessage> m = internal::FindMessageHolding(js, stream, lsn);
  if (absl::IsNotFound(m.status())) return false;
  if (!m.ok()) return m.status();
  absl::StatusOr<internal::ReplicatedRecords> records =
      internal::ParseReplicatedRecords(m->data, Where(stream, m->sequence));
  if (!records.ok()) return records.status();
  absl::StatusOr<std::unique_ptr<Reader>> reader = Reader::Open(dir, lsn);
  if (!reader.ok()) return reader.status();
  RecordView mine;
  absl::StatusOr<bool> got = (*reader)->Next(&mine);
  if (!got.ok()) return got.status();
  return *got && mine.bytes == records->records[lsn - records->first_lsn].bytes;
}

// Rewrites the journal in `dir` to its records up to `keep` (same id, same
// bytes), moving the rest, as stored, into `diverged`. The new journal is
// built beside it and swapped in by two renames; returns the records cut.
absl::StatusOr<uint64_t> CutAfter(const std::string& dir, uint64_t keep, uint64_t journal_id,
                                  JournalOptions options, const std::string& diverged_name) {
  const std::string fresh = dir + ".cut-tmp", old = dir + ".cut-old";
  std::error_code ec;
  std::filesystem::remove_all(fresh, ec);
  std::filesystem::remove_all(old, ec);
  options.journal_id = journal_id;
  options.create_if_missing = true;
  absl::StatusOr<std::unique_ptr<Journal>> out = Journal::Open(fresh, options);
  if (!out.ok()) return out.status();
  absl::StatusOr<std::unique_ptr<Reader>> reader = Reader::Open(dir, 1);
  if (!reader.ok()) return reader.status();
  std::string cut;
  uint64_t cut_records = 0;
  // The batch being gathered, its bytes copied out of the reader's mapping
  // (a deque: its strings never move, so the views into them stay valid).
  std::deque<std::string> held;
  std::vector<RecordView> batch;
  auto flush = [&]() -> absl::Status {
    if (batch.empty()) return absl::OkStatus();
    absl::StatusOr<uint64_t> a = (*out)->AppendCopy(batch);
    batch.clear();
    held.clear();
    return a.status();
  };
  for (;;) {
    RecordView v;
    absl::StatusOr<bool> got = (*reader)->Next(&v);
    if (!got.ok()) return got.status();
    if (!*got) break;
    if (v.lsn > keep) {
      cut.append(v.bytes.data(), v.bytes.size());
      ++cut_records;
      continue;
    }
    if (v.batch_count != 0) {
      if (absl::Status s = flush(); !s.ok()) return s;
    }
    const std::string& bytes = held.emplace_back(v.bytes);
    v.bytes = bytes;
    v.payload = absl::string_view(bytes).substr(bytes.size() - v.payload.size());
    batch.push_back(v);
  }
  if (absl::Status s = flush(); !s.ok()) return s;
  if (absl::Status s = (*out)->Close(); !s.ok()) return s;
  {
    std::FILE* f = std::fopen((fresh + "/" + diverged_name).c_str(), "wb");
    if (f == nullptr) return absl::InternalError("cannot create " + fresh + "/" + diverged_name);
    const bool ok = std::fwrite(cut.data(), 1, cut.size(), f) == cut.size() &&
                    std::fflush(f) == 0 && fsync(fileno(f)) == 0;
    std::fclose(f);
    if (!ok) return absl::InternalError("cannot write " + fresh + "/" + diverged_name);
  }
  std::filesystem::rename(dir, old, ec);
  if (ec) return absl::InternalError(absl::StrCat("rename ", dir, ": ", ec.message()));
  std::filesystem::rename(fresh, dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("rename ", fresh, ": ", ec.message()));
  std::filesystem::remove_all(old, ec);
  return cut_records;
}

}  // namespace

StreamFollower::StreamFollower(std::shared_ptr<JetStream> js, Options options)
    : js_(std::move(js)), options_(std::move(options)) {}

StreamFollower::~StreamFollower() {
  if (journal_ != nullptr) journal_->Close().IgnoreError();
}

absl::StatusOr<std::unique_ptr<StreamFollower>> StreamFollower::Open(
    std::shared_ptr<JetStream> js, const std::string& dir, Options options) {
  std::unique_ptr<StreamFollower> f(new StreamFollower(std::move(js), std::move(options)));
  const std::string& stream = f->options_.stream;
  JournalOptions jo = f->options_.journal;
  jo.record_epochs = false;  // the copy holds the leader's epoch records
  jo.replicator = nullptr;
  if (jo.durability == Durability::kReplicated) jo.durability = Durability::kSync;
  // A directory without segments (missing or empty) is a new copy.
  absl::Status is_journal = Reader::Open(dir, 0).status();
  if (!is_journal.ok() && !absl::IsNotFound(is_journal)) return is_journal;
  if (is_journal.ok() && f->options_.cut_divergent_tail) {
    // Find the last record the copy shares with the stream (a binary
    // search: the copy and the stream agree up to some LSN, and differ
    // after it), and cut after it.
    uint64_t last = 0, journal_id = 0, epoch = 0;
    {
      absl::StatusOr<std::unique_ptr<Journal>> j = Journal::Open(dir, jo);
      if (!j.ok()) return j.status();
      last = (*j)->last_lsn();
      journal_id = (*j)->journal_id();
      epoch = (*j)->recovery().last_epoch.has_value() ? (*j)->recovery().last_epoch->epoch : 0;
      if (absl::Status s = (*j)->Close(); !s.ok()) return s;
    }
    absl::StatusOr<bool> same_last = last == 0 ? true : SameRecord(*f->js_, stream, dir, last);
    if (!same_last.ok()) return same_last.status();
    if (!*same_last) {
      uint64_t lo = 0, hi = last;  // invariant: lo shared (0: nothing), hi not
      while (hi - lo > 1) {
        const uint64_t mid = lo + (hi - lo) / 2;
        absl::StatusOr<bool> same = SameRecord(*f->js_, stream, dir, mid);
        if (!same.ok()) return same.status();
        (*same ? lo : hi) = mid;
      }
      const std::string name = absl::StrCat("diverged-", epoch);
      absl::StatusOr<uint64_t> cut = CutAfter(dir, lo, journal_id, jo, name);
      if (!cut.ok()) {
        return absl::Status(cut.status().code(),
                            absl::StrCat(dir, ": cutting the divergent tail after LSN ", lo, ": ",
                                         cut.status().message()));
      }
      f->divergent_records_ = *cut;
      f->divergent_file_ = dir + "/" + name;
    }
  }
  if (is_journal.ok()) {
    absl::StatusOr<std::unique_ptr<Journal>> existing = Journal::Open(dir, jo);
    if (!existing.ok()) return existing.status();
    f->journal_ = *std::move(existing);
    f->journal_id_ = f->journal_->journal_id();
    const uint64_t last = f->journal_->last_lsn();
    f->last_lsn_ = last;
    if (last == 0) return f;  // created, never written: copy from the start
    // Where the copy ends in the stream, and that it is the stream's.
    absl::StatusOr<JetStreamMessage> m = internal::FindMessageHolding(*f->js_, stream, last);
    if (absl::IsNotFound(m.status())) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "%s ends at LSN %u, which stream %s does not hold: it is not a copy of this stream",
          dir, last, stream));
    }
    if (!m.ok()) return m.status();
    absl::StatusOr<internal::ReplicatedRecords> records =
        internal::ParseReplicatedRecords(m->data, Where(stream, m->sequence));
    if (!records.ok()) return records.status();
    absl::StatusOr<internal::ReplicatedMessageId> id = internal::ParseMessageId(m->msg_id);
    if (!id.ok()) return id.status();
    if (id->journal_id != f->journal_id_) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "%s is a copy of journal %016x, but %s holds journal %016x", dir, f->journal_id_,
          Where(stream, m->sequence), id->journal_id));
    }
    absl::StatusOr<std::unique_ptr<Reader>> reader = Reader::Open(dir, last);
    if (!reader.ok()) return reader.status();
    RecordView mine;
    absl::StatusOr<bool> got = (*reader)->Next(&mine);
    if (!got.ok()) return got.status();
    if (!*got || mine.bytes != records->records[last - records->first_lsn].bytes) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "%s: LSN %u differs from the stream's (%s): the copy diverged", dir, last,
          Where(stream, m->sequence)));
    }
    // The rest of that message, if the copy stopped inside it.
    if (absl::Status s = f->Apply(*m, /*resume=*/true); !s.ok()) return s;
    return f;
  }
  // A new copy: its id is the stream's, and it starts at LSN 1.
  absl::StatusOr<JetStreamInfo> info = f->js_->StreamInfo(stream);
  if (!info.ok()) return info.status();
  if (info->messages == 0) {
    return absl::NotFoundError(absl::StrFormat("stream %s holds no message yet", stream));
  }
  absl::StatusOr<JetStreamMessage> first = f->js_->GetMessage(stream, info->first_sequence);
  if (!first.ok()) return first.status();
  absl::StatusOr<internal::ReplicatedMessageId> id = internal::ParseMessageId(first->msg_id);
  if (!id.ok()) {
    return absl::DataLossError(
        absl::StrCat(Where(stream, first->sequence), ": ", id.status().message()));
  }
  if (id->first_lsn != 1) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "stream %s starts at LSN %u (sequence %u), not LSN 1: a copy cannot be made from it",
        stream, id->first_lsn, first->sequence));
  }
  jo.create_if_missing = true;
  jo.journal_id = id->journal_id;
  absl::StatusOr<std::unique_ptr<Journal>> created = Journal::Open(dir, jo);
  if (!created.ok()) return created.status();
  f->journal_ = *std::move(created);
  f->journal_id_ = id->journal_id;
  if (f->journal_->last_lsn() != 0) {
    return absl::FailedPreconditionError(
        absl::StrFormat("%s appeared while the copy was being made", dir));
  }
  if (absl::Status s = f->Apply(*first); !s.ok()) return s;
  return f;
}

absl::Status StreamFollower::Apply(const JetStreamMessage& m, bool resume) {
  const std::string where = Where(options_.stream, m.sequence);
  absl::StatusOr<internal::ReplicatedMessageId> id = internal::ParseMessageId(m.msg_id);
  if (!id.ok()) return absl::DataLossError(absl::StrCat(where, ": ", id.status().message()));
  if (id->journal_id != journal_id_) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "%s holds journal %016x's records, not %016x's", where, id->journal_id, journal_id_));
  }
  if (id->epoch < last_epoch_) {
    return absl::DataLossError(absl::StrFormat(
        "%s is of epoch %u, after epoch %u: epochs must not decrease", where, id->epoch,
        last_epoch_));
  }
  absl::StatusOr<internal::ReplicatedRecords> records =
      internal::ParseReplicatedRecords(m.data, where);
  if (!records.ok()) return records.status();
  if (records->first_lsn != id->first_lsn) {
    return absl::DataLossError(absl::StrFormat("%s: its id says LSN %u, its first record is %u",
                                               where, id->first_lsn, records->first_lsn));
  }
  const uint64_t last = journal_->last_lsn();
  if (records->first_lsn > last + 1) {
    return absl::DataLossError(absl::StrFormat(
        "%s starts at LSN %u, but the copy ends at LSN %u: LSNs %u..%u are missing", where,
        records->first_lsn, last, last + 1, records->first_lsn - 1));
  }
  if (records->last_lsn <= last && !resume) {
    return absl::DataLossError(absl::StrFormat(
        "%s holds LSNs %u..%u, which the copy already has up to LSN %u: the stream holds "
        "them twice",
        where, records->first_lsn, records->last_lsn, last));
  }
  if (records->first_lsn <= last && !resume) {
    return absl::DataLossError(absl::StrFormat(
        "%s starts at LSN %u, inside the previous message (the copy ends at LSN %u)", where,
        records->first_lsn, last));
  }
  if (records->last_lsn > last) {
    absl::Span<const RecordView> rest(records->records);
    rest.remove_prefix(last + 1 - records->first_lsn);
    absl::StatusOr<uint64_t> appended = journal_->AppendCopy(rest);
    if (!appended.ok()) {
      return absl::Status(appended.status().code(),
                          absl::StrCat(where, ": ", appended.status().message()));
    }
  }
  last_lsn_ = journal_->last_lsn();
  last_sequence_ = m.sequence;
  last_epoch_ = std::max(last_epoch_, id->epoch);
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> StreamFollower::FollowSome(absl::Duration wait) {
  absl::StatusOr<std::vector<JetStreamMessage>> got =
      js_->Fetch(options_.stream, last_sequence_ + 1, options_.fetch_batch, wait);
  if (!got.ok()) return got.status();
  for (const JetStreamMessage& m : *got) {
    if (absl::Status s = Apply(m); !s.ok()) return s;
  }
  return got->size();
}

absl::Status StreamFollower::CatchUpTo(
    uint64_t sequence, absl::Duration timeout,
    absl::AnyInvocable<void(uint64_t lsn, uint64_t sequence)> progress) {
  const absl::Time deadline = absl::Now() + timeout;
  while (last_sequence_ < sequence) {
    const absl::Time now = absl::Now();
    if (now >= deadline) {
      return absl::DeadlineExceededError(absl::StrFormat(
          "stream %s: copied up to sequence %u (LSN %u) of %u within %s", options_.stream,
          last_sequence_, last_lsn(), sequence, absl::FormatDuration(timeout)));
    }
    absl::StatusOr<uint64_t> n = FollowSome(std::min(deadline - now, absl::Seconds(1)));
    if (!n.ok()) return n.status();
    if (progress && *n > 0) progress(last_lsn(), last_sequence_);
  }
  return journal_->Sync();
}

absl::Status StreamFollower::Close() {
  if (journal_ == nullptr) return absl::OkStatus();
  absl::Status s = journal_->Close();
  journal_.reset();
  return s;
}

}  // namespace engram
