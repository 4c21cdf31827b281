#include "engram/replication/fake_jet_stream.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engram/bus/topic.h"

namespace engram {

FakeJetStream::FakeJetStream() : delivery_([this] { DeliveryLoop(); }) {}

FakeJetStream::~FakeJetStream() {
  {
    MutexLock lock(&mu_);
    stop_ = true;
    hold_ = false;
    cv_.SignalAll();
  }
  delivery_.join();
}

FakeJetStream::Stream* FakeJetStream::Find(const std::string& name) {
  auto it = streams_.find(name);
  return it == streams_.end() ? nullptr : &it->second;
}

FakeJetStream::Stream* FakeJetStream::StreamFor(const std::string& subject) {
  for (auto& [name, stream] : streams_) {
    for (const std::string& pattern : stream.config.subjects) {
      if (PatternMatches(pattern, subject)) return &stream;
    }
  }
  return nullptr;
}

absl::Status FakeJetStream::EnsureStream(const JetStreamConfig& config) {
  MutexLock lock(&mu_);
  if (down_) return absl::UnavailableError("fake JetStream: server down");
  if (config.name.empty() || config.subjects.empty()) {
    return absl::InvalidArgumentError("fake JetStream: a stream needs a name and subjects");
  }
  if (Stream* existing = Find(config.name)) {
    if (existing->config.subjects != config.subjects ||
        existing->config.replicas != config.replicas) {
      return absl::FailedPreconditionError(absl::StrCat(
          "stream ", config.name, " exists with subjects [",
          absl::StrJoin(existing->config.subjects, ","), "] replicas ",
          existing->config.replicas, ", not subjects [", absl::StrJoin(config.subjects, ","),
          "] replicas ", config.replicas));
    }
    return absl::OkStatus();
  }
  streams_[config.name].config = config;
  return absl::OkStatus();
}

absl::StatusOr<JetStreamInfo> FakeJetStream::StreamInfo(const std::string& name) {
  MutexLock lock(&mu_);
  if (down_) return absl::UnavailableError("fake JetStream: server down");
  Stream* stream = Find(name);
  if (stream == nullptr) return absl::NotFoundError(absl::StrCat("stream not found: ", name));
  JetStreamInfo info;
  info.last_sequence = stream->last_sequence;
  info.messages = stream->messages.size();
  info.first_sequence =
      stream->messages.empty() ? stream->last_sequence + 1 : stream->messages.begin()->first;
  for (const auto& [seq, m] : stream->messages) info.bytes += m.data.size();
  info.replicas = stream->config.replicas;
  return info;
}

absl::StatusOr<JetStreamAck> FakeJetStream::Store(JetStreamPublish& publish) {
  if (down_) return absl::UnavailableError("fake JetStream: no responders (server down)");
  Stream* stream = StreamFor(publish.subject);
  if (stream == nullptr) {
    return absl::UnavailableError(
        absl::StrCat("fake JetStream: no responders for subject ", publish.subject));
  }
  // 2.9.10 checks the id before the expectation.
  if (!publish.msg_id.empty()) {
    auto it = stream->ids.find(publish.msg_id);
    if (it != stream->ids.end()) return JetStreamAck{it->second, true};
  }
  if (publish.expected_last_sequence.has_value() &&
      *publish.expected_last_sequence != stream->last_sequence) {
    return absl::AbortedError(absl::StrCat("wrong last sequence: ", stream->last_sequence,
                                           " (err_code=10071)"));
  }
  const uint64_t seq = ++stream->last_sequence;
  JetStreamMessage& m = stream->messages[seq];
  m.sequence = seq;
  m.subject = std::move(publish.subject);
  m.msg_id = publish.msg_id;
  m.data = std::move(publish.data);
  if (!publish.msg_id.empty()) stream->ids[publish.msg_id] = seq;
  ++stored_;
  cv_.SignalAll();
  return JetStreamAck{seq, false};
}

void FakeJetStream::PublishAsync(JetStreamPublish publish, JetStreamPublishDone done) {
  MutexLock lock(&mu_);
  absl::StatusOr<JetStreamAck> result = Store(publish);
  if (result.ok() && lose_acks_ > 0) {
    --lose_acks_;
    result = absl::DeadlineExceededError("fake JetStream: acknowledgement lost (timeout)");
  }
  ++published_;
  completions_.push_back(Completion{std::move(done), std::move(result)});
  cv_.SignalAll();
}

void FakeJetStream::DeliveryLoop() {
  MutexLock lock(&mu_);
  while (true) {
    while (!stop_ && (completions_.empty() || hold_)) cv_.Wait(&mu_);
    if (completions_.empty()) return;  // stop_, and nothing left to deliver
    Completion c = std::move(completions_.front());
    completions_.pop_front();
    mu_.Unlock();
    c.done(std::move(c.result));
    c.done = nullptr;  // destroy the callback's captures outside mu_
    mu_.Lock();
    ++delivered_;
    cv_.SignalAll();
  }
}

absl::Status FakeJetStream::WaitForPending(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  MutexLock lock(&mu_);
  const uint64_t target = published_;
  while (delivered_ < target) {
    if (cv_.WaitWithDeadline(&mu_, deadline)) {
      return absl::DeadlineExceededError(absl::StrCat(
          "fake JetStream: ", target - delivered_, " publishes still pending after ",
          absl::FormatDuration(timeout)));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<JetStreamMessage> FakeJetStream::GetMessage(const std::string& name,
                                                           uint64_t sequence) {
  MutexLock lock(&mu_);
  if (down_) return absl::UnavailableError("fake JetStream: server down");
  Stream* stream = Find(name);
  if (stream == nullptr) return absl::NotFoundError(absl::StrCat("stream not found: ", name));
  auto it = stream->messages.find(sequence);
  if (it == stream->messages.end()) {
    return absl::NotFoundError(absl::StrCat("stream ", name, ": no message at sequence ", sequence));
  }
  return it->second;
}

absl::StatusOr<std::optional<JetStreamMessage>> FakeJetStream::LastMessage(
    const std::string& name) {
  MutexLock lock(&mu_);
  if (down_) return absl::UnavailableError("fake JetStream: server down");
  Stream* stream = Find(name);
  if (stream == nullptr) return absl::NotFoundError(absl::StrCat("stream not found: ", name));
  if (stream->messages.empty()) return std::optional<JetStreamMessage>();
  return std::optional<JetStreamMessage>(stream->messages.rbegin()->second);
}

absl::StatusOr<std::vector<JetStreamMessage>> FakeJetStream::Fetch(const std::string& name,
                                                                   uint64_t from_sequence,
                                                                   size_t max_messages,
                                                                   absl::Duration wait) {
  const absl::Time deadline = absl::Now() + wait;
  MutexLock lock(&mu_);
  while (true) {
    if (down_) return absl::UnavailableError("fake JetStream: server down");
    Stream* stream = Find(name);
    if (stream == nullptr) return absl::NotFoundError(absl::StrCat("stream not found: ", name));
    std::vector<JetStreamMessage> out;
    for (auto it = stream->messages.lower_bound(from_sequence);
         it != stream->messages.end() && out.size() < max_messages; ++it) {
      out.push_back(it->second);
    }
    if (!out.empty()) return out;
    if (cv_.WaitWithDeadline(&mu_, deadline)) return out;
  }
}

void FakeJetStream::SetDown(bool down) {
  MutexLock lock(&mu_);
  down_ = down;
  cv_.SignalAll();
}

void FakeJetStream::LoseAcks(int n) {
  MutexLock lock(&mu_);
  lose_acks_ = n;
}

void FakeJetStream::HoldAcks(bool hold) {
  MutexLock lock(&mu_);
  hold_ = hold;
  cv_.SignalAll();
}

uint64_t FakeJetStream::AppendExternal(const std::string& name, JetStreamMessage message) {
  MutexLock lock(&mu_);
  Stream& stream = streams_[name];
  const uint64_t seq = ++stream.last_sequence;
  message.sequence = seq;
  if (!message.msg_id.empty()) stream.ids[message.msg_id] = seq;
  stream.messages[seq] = std::move(message);
  cv_.SignalAll();
  return seq;
}

uint64_t FakeJetStream::stored_count() const {
  MutexLock lock(&mu_);
  return stored_;
}

}  // namespace engram
