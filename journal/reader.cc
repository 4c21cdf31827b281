#include "engram/journal/reader.h"

#include <errno.h>
#include <unistd.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "journal/internal/format.h"
#include "journal/internal/journal_state_file.h"
#include "journal/internal/mapped_file.h"
#include "journal/internal/segment_scanner.h"
#include "engram/journal/journal_scan.h"

namespace engram {

using internal::RecordState;

namespace {

// A writer whose heartbeat is older than this is not trusted to publish:
// NextWait then also looks at the segments every kUntrustedSlice while it
// waits on the wake word. This backstops a state page nobody publishes to
// (its writer was killed and a writer that predates STATE took over); a
// live writer beating every 100 ms never gets here.
constexpr absl::Duration kStaleHeartbeat = absl::Seconds(1);
constexpr absl::Duration kUntrustedSlice = absl::Milliseconds(100);

}  // namespace

Reader::Reader(std::string dir) : dir_(std::move(dir)) {}
Reader::~Reader() = default;

absl::StatusOr<std::unique_ptr<Reader>> Reader::Open(const std::string& dir,
                                                     uint64_t from_lsn) {
  auto listed = ListSegments(dir);
  if (!listed.ok()) return listed.status();
  if (listed->empty()) {
    return absl::NotFoundError(absl::StrCat(
        dir, " is not a journal (no segment files named <LSN>.seg)"));
  }
  const uint64_t oldest = listed->front().first;
  if (from_lsn == 0) from_lsn = oldest;
  if (from_lsn < oldest) {
    return absl::OutOfRangeError(absl::StrFormat(
        "LSN %u is no longer in journal %s: the oldest segment starts at LSN %u",
        from_lsn, dir, oldest));
  }
  size_t i = 0;
  while (i + 1 < listed->size() && (*listed)[i + 1].first <= from_lsn) ++i;
  std::unique_ptr<Reader> r(new Reader(dir));
  auto opened = r->OpenSegment((*listed)[i].first, (*listed)[i].second);
  if (!opened.ok()) return opened.status();
  if (!*opened) {
    return absl::NotFoundError(absl::StrCat("segment ", (*listed)[i].second,
                                            " disappeared while opening"));
  }
  RecordView skip;
  while (r->next_lsn_ < from_lsn) {
    auto got = r->Next(&skip);
    if (!got.ok()) return got.status();
    if (!*got) break;  // caught up: wait at the end
  }
  return r;
}

absl::StatusOr<bool> Reader::OpenSegment(uint64_t first_lsn,
                                         const std::string& path) {
  auto f = internal::MappedFile::OpenReadOnly(path);
  if (!f.ok()) {
    if (f.status().code() == absl::StatusCode::kNotFound) return false;
    return f.status();
  }
  auto h = internal::ParseSegmentHeader((*f)->data(), (*f)->size(), path);
  if (!h.ok()) return h.status();
  if (h->first_lsn != first_lsn) {
    return absl::DataLossError(absl::StrFormat(
        "%s: header says first LSN %u, expected %u", path, h->first_lsn,
        first_lsn));
  }
  file_ = std::move(*f);
  segment_size_ = h->segment_size;
  offset_ = internal::kSegmentHeaderSize;
  next_lsn_ = first_lsn;
  batch_left_ = 0;
  return true;
}

absl::Status Reader::CheckNotDeleted() const {
  // Segments are created in LSN order, so if any segment after next_lsn_
  // exists, the one starting at next_lsn_ existed before it and is gone:
  // retention deleted it behind this reader. Otherwise the writer has just
  // not renamed it yet.
  auto listed = ListSegments(dir_);
  if (!listed.ok()) return listed.status();
  bool later = false;
  for (const auto& [first, path] : *listed) {
    if (first == next_lsn_) return absl::OkStatus();  // renamed meanwhile
    later |= first > next_lsn_;
  }
  if (!later) return absl::OkStatus();
  return absl::OutOfRangeError(absl::StrFormat(
      "LSN %u is no longer in journal %s: retention deleted it while this "
      "reader was behind; the oldest LSN still kept is %u",
      next_lsn_, dir_, listed->front().first));
}

absl::StatusOr<bool> Reader::Next(RecordView* out) {
  if (batch_left_ > 0) {
    // Checked together with its head.
    *out = internal::DecodeRecord(file_->data(), offset_);
    offset_ += internal::AlignRecord(out->payload.size() + internal::kRecordHeaderSize);
    ++next_lsn_;
    --batch_left_;
    return true;
  }
  for (;;) {
    internal::RecordCheck c = internal::CheckRecordAt(
        file_->data(), file_->size(), segment_size_, offset_, next_lsn_);
    switch (c.state) {
      case RecordState::kValid:
        *out = internal::DecodeRecord(file_->data(), offset_);
        offset_ += internal::AlignRecord(out->payload.size() +
                                         internal::kRecordHeaderSize);
        ++next_lsn_;
        batch_left_ = c.records - 1;
        return true;
      case RecordState::kEmpty:
        return false;
      case RecordState::kEndMarker:
      case RecordState::kFull: {
        const std::string path =
            absl::StrCat(dir_, "/", internal::SegmentFileName(next_lsn_));
        auto opened = OpenSegment(next_lsn_, path);
        if (!opened.ok()) return opened.status();
        if (!*opened) {
          absl::Status gone = CheckNotDeleted();
          if (!gone.ok()) return gone;
          return false;  // the writer has not renamed it yet
        }
        continue;
      }
      case RecordState::kBad:
        return absl::DataLossError(absl::StrFormat(
            "%s: bad record at byte offset %u (LSN %u): %s", file_->path(),
            offset_, next_lsn_, c.reason));
    }
  }
}

absl::Status Reader::EnsureState() {
  if (state_ != nullptr) return absl::OkStatus();
  auto opened = internal::JournalStateFile::OpenForReader(dir_);
  if (opened.ok()) {
    state_ = std::move(*opened);
    return absl::OkStatus();
  }
  if (opened.status().code() == absl::StatusCode::kNotFound) return absl::OkStatus();
  return opened.status();
}

absl::StatusOr<WriterState> Reader::writer_state() {
  if (absl::Status s = EnsureState(); !s.ok()) return s;
  WriterState w;
  if (state_ == nullptr) return w;
  w.present = true;
  w.journal_id = state_->journal_id();
  w.epoch = state_->epoch();
  w.committed_lsn = state_->committed_lsn();
  w.durable_lsn = state_->durable_lsn();
  w.replicated_lsn = state_->replicated_lsn();
  w.pid = state_->writer_pid();
  w.closed = state_->closed();
  w.heartbeat_age = state_->heartbeat_age();
  return w;
}

absl::StatusOr<bool> Reader::NextWait(RecordView* out, absl::Duration timeout) {
  return NextWait(out, timeout, ReadHorizon::kCommitted);
}

absl::StatusOr<bool> Reader::NextWait(RecordView* out, absl::Duration timeout,
                                      ReadHorizon horizon) {
  const absl::Time deadline = timeout == absl::InfiniteDuration()
                                  ? absl::InfiniteFuture()
                                  : absl::Now() + timeout;
  absl::Duration pause = absl::Microseconds(20);
  for (;;) {
    // An unusable STATE (torn by a power cut, a newer layout) only costs
    // the wake-ups: fall back to polling; writer_state() reports it.
    if (state_ == nullptr) EnsureState().IgnoreError();
    // A closed writer publishes nothing more; the next writer to open the
    // journal reopens the flag, but one that predates STATE would not, so
    // a closed page is polled like a missing one.
    if (state_ != nullptr && !state_->closed()) {
      // The wake word first, then the look at the horizon and the segments:
      // a record (or a horizon) published after this load bumps the word
      // after it, so the wait below returns at once or is woken (see
      // JournalStateFile::Wake).
      const uint32_t seen = state_->sequence();
      auto look = [&]() -> absl::StatusOr<bool> {
        uint64_t limit = UINT64_MAX;
        if (horizon == ReadHorizon::kDurable) limit = state_->durable_lsn();
        if (horizon == ReadHorizon::kReplicated) limit = state_->replicated_lsn();
        if (next_lsn_ > limit) return false;
        return Next(out);
      };
      auto got = look();
      if (!got.ok() || *got) return got;
      absl::Time until = deadline;
      if (state_->heartbeat_age() > kStaleHeartbeat) {
        until = std::min(deadline, absl::Now() + kUntrustedSlice);
      }
      if (!state_->WaitForChange(seen, until) && until == deadline) {
        return look();  // the deadline passed: one last look
      }
      continue;
    }
    // No writer publishes a horizon: what the segments hold is all there is.
    auto got = Next(out);
    if (!got.ok() || *got) return got;
    const absl::Time now = absl::Now();
    if (now >= deadline) return false;
    absl::SleepFor(std::min(pause, deadline - now));
    pause = std::min(pause * 2, absl::Milliseconds(5));
  }
}

}  // namespace engram
