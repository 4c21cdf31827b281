// Replication benchmarks, each beside its peer measured in the same run, on
// nats-server 2.9.10 started here on loopback (one server for replicas 1, a
// cluster of three for replicas 3):
//
//  * throughput: a journal at Durability::kReplicated appending records as
//    fast as one thread can, until the last is durable (synced here and
//    acknowledged by the stream), against raw js_PublishAsync of messages of
//    the same size with the same in-flight bound and the same options (a
//    Nats-Msg-Id and ExpectLastSeq on each, MaxWait set). Goal: >= 0.8x the
//    raw MB/s.
//  * append-to-release latency at kReplicated (Append, then WaitDurable),
//    p50/p99/p99.9, beside its limit: one fdatasync plus one synchronous
//    JetStream publish round trip, measured here.
#include <nats/nats.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "bench/bench_util.h"
#include "engram/journal/journal.h"
#include "engram/replication/jet_stream_replicator.h"
#include "engram/replication/nats_jet_stream.h"
#include "tests/replication/nats_server.h"
#include "tests/temp_dir.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Config {
  size_t message_bytes = 64 << 10;
  size_t in_flight = 256;
  size_t record_payload = 120;
  double seconds = 2.0;        // length of each throughput run
  int latency_samples = 2000;
  bool r3 = true;
};

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "replication_bench: %s\n", what.c_str());
  std::exit(1);
}

void CheckNats(natsStatus s, const char* what) {
  if (s != NATS_OK) Die(absl::StrCat(what, ": ", natsStatus_GetText(s)));
}

// A fresh stream of `replicas` on subject `subject`.
void MakeStream(engram::JetStream& js, const std::string& name, const std::string& subject,
                int replicas) {
  engram::JetStreamConfig c;
  c.name = name;
  c.subjects = {subject};
  c.replicas = replicas;
  if (absl::Status s = js.EnsureStream(c); !s.ok()) Die(s.ToString());
}

// engram's JetStream client on `url` with the benchmark's in-flight bound.
std::unique_ptr<engram::NatsJetStream> ConnectOrDie(const std::string& url, const Config& cfg) {
  engram::NatsConnectOptions n;
  n.url = url;
  n.max_pending = static_cast<int>(cfg.in_flight);
  auto js = engram::NatsJetStream::Connect(n);
  if (!js.ok()) Die(js.status().ToString());
  return *std::move(js);
}

struct Rate {
  double messages_per_s = 0;
  double mb_per_s = 0;
  double records_per_s = 0;
};

// The peer: raw js_PublishAsync of `message_bytes` messages for about
// `seconds`, MaxPending = in_flight, MsgId + ExpectLastSeq + MaxWait on each.
Rate RawPublish(const std::string& url, const std::string& subject,
                const Config& cfg) {
  natsConnection* nc = nullptr;
  natsOptions* opts = nullptr;
  CheckNats(natsOptions_Create(&opts), "options");
  // A cluster's URLs, comma-separated, as a server list.
  std::vector<std::string> urls = absl::StrSplit(url, ',');
  std::vector<const char*> servers;
  for (const std::string& u : urls) servers.push_back(u.c_str());
  CheckNats(natsOptions_SetServers(opts, servers.data(), static_cast<int>(servers.size())),
            "servers");
  CheckNats(natsConnection_Connect(&nc, opts), "connect");
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.PublishAsync.MaxPending = static_cast<int64_t>(cfg.in_flight);
  jsCtx* js = nullptr;
  CheckNats(natsConnection_JetStream(&js, nc, &jo), "jetstream");
  const std::string body(cfg.message_bytes, 'r');
  uint64_t n = 0;
  const auto start = Clock::now();
  while (engram::bench::SecondsSince(start) < cfg.seconds) {
    for (int k = 0; k < 64; ++k, ++n) {
      jsPubOptions po;
      jsPubOptions_Init(&po);
      const std::string id = absl::StrCat("raw.", n);
      po.MsgId = id.c_str();
      po.ExpectLastSeq = n;  // 0 (the first) means unset in libnats
      po.MaxWait = 5000;
      CheckNats(js_PublishAsync(js, subject.c_str(), body.data(), static_cast<int>(body.size()),
                                &po),
                "js_PublishAsync");
    }
  }
  jsPubOptions done;
  jsPubOptions_Init(&done);
  done.MaxWait = 30000;
  CheckNats(js_PublishAsyncComplete(js, &done), "js_PublishAsyncComplete");
  const double secs = engram::bench::SecondsSince(start);
  jsCtx_Destroy(js);
  natsConnection_Destroy(nc);
  natsOptions_Destroy(opts);
  Rate r;
  r.messages_per_s = n / secs;
  r.mb_per_s = n * cfg.message_bytes / secs / 1e6;
  return r;
}

std::unique_ptr<engram::Journal> OpenReplicated(const std::string& dir, const std::string& url,
                                                const std::string& stream,
                                                const std::string& subject, const Config& cfg,
                                                int replicas) {
  std::unique_ptr<engram::NatsJetStream> js = ConnectOrDie(url, cfg);
  MakeStream(*js, stream, subject, replicas);
  engram::JetStreamReplicatorOptions r;
  r.stream = stream;
  r.subject = subject;
  r.max_in_flight = cfg.in_flight;
  r.max_message_bytes = cfg.message_bytes;
  engram::JournalOptions o;
  o.durability = engram::Durability::kReplicated;
  o.record_epochs = true;
  o.replicator = std::make_shared<engram::JetStreamReplicator>(
      std::shared_ptr<engram::JetStream>(std::move(js)), r);
  auto j = engram::Journal::Open(dir, o);
  if (!j.ok()) Die(j.status().ToString());
  return *std::move(j);
}

// One thread appends records (batches of 32) to `j` for about `seconds`,
// then waits until the last is durable at the journal's level, and closes
// it. Returns records/s and MB/s of record bytes.
Rate AppendUntilDurable(engram::Journal& j, const Config& cfg) {
  const std::string payload(cfg.record_payload, 'e');
  std::vector<engram::RecordInput> batch(32);
  for (auto& r : batch) {
    r.stream_id = 1;
    r.type_id = 1;
    r.payload = payload;
  }
  uint64_t last = 0, records = 0;
  const auto start = Clock::now();
  while (engram::bench::SecondsSince(start) < cfg.seconds) {
    auto lsn = j.AppendBatch(batch);
    if (!lsn.ok()) Die(lsn.status().ToString());
    last = *lsn + batch.size() - 1;
    records += batch.size();
    // Keep the writer within reach of the durable LSN: a backlog of
    // seconds would only measure the queue.
    if (records % (32 * 1024) == 0) {
      if (absl::Status s = j.WaitDurable(last - std::min<uint64_t>(last, 200000),
                                         absl::Seconds(60));
          !s.ok()) {
        Die(s.ToString());
      }
    }
  }
  if (absl::Status s = j.WaitDurable(last, absl::Seconds(120)); !s.ok()) Die(s.ToString());
  const double secs = engram::bench::SecondsSince(start);
  if (absl::Status s = j.Close(); !s.ok()) Die(s.ToString());
  const double record_bytes = 56.0 + cfg.record_payload;
  Rate r;
  r.records_per_s = records / secs;
  r.mb_per_s = records * record_bytes / secs / 1e6;
  r.messages_per_s = r.mb_per_s * 1e6 / cfg.message_bytes;
  return r;
}

// engram at kReplicated.
Rate Replicated(const std::string& dir, const std::string& url, const std::string& stream,
                const std::string& subject, const Config& cfg, int replicas) {
  auto j = OpenReplicated(dir, url, stream, subject, cfg, replicas);
  return AppendUntilDurable(*j, cfg);
}

// The same appender at kSync alone (no replication): the local bound the
// replicated figure shares the disk and the cores with.
double LocalSyncMbPerS(const std::string& dir, const Config& cfg) {
  engram::JournalOptions o;
  o.durability = engram::Durability::kSync;
  auto j = engram::Journal::Open(dir, o);
  if (!j.ok()) Die(j.status().ToString());
  return AppendUntilDurable(**j, cfg).mb_per_s;
}

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))];
}

// Samples are interleaved (one of each per round) so that all three see the
// same machine: engram at kReplicated, the same journal code at kSync alone,
// and one synchronous js_Publish. The limit of this design is the second
// plus the third: a local group commit, then one acknowledged publish.
void Latency(const std::string& dir, const std::string& url, const Config& cfg) {
  std::filesystem::create_directories(dir);
  auto j = OpenReplicated(dir + "/replicated", url, "LAT", "bench.lat", cfg, 1);
  engram::JournalOptions so;
  so.durability = engram::Durability::kSync;
  auto local = engram::Journal::Open(dir + "/sync", so);
  if (!local.ok()) Die(local.status().ToString());
  {
    MakeStream(*ConnectOrDie(url, cfg), "LATRAW", "bench.latraw", 1);
  }
  natsConnection* nc = nullptr;
  CheckNats(natsConnection_ConnectTo(&nc, url.c_str()), "connect");
  jsCtx* js = nullptr;
  CheckNats(natsConnection_JetStream(&js, nc, nullptr), "jetstream");
  const std::string payload(cfg.record_payload, 'l');
  engram::RecordInput r;
  r.stream_id = 1;
  r.type_id = 1;
  r.payload = payload;
  std::vector<double> us, sync_us, pub_us;
  auto durable = [&](engram::Journal& journal, std::vector<double>* out) {
    const auto t = Clock::now();
    auto lsn = journal.Append(r);
    if (!lsn.ok()) Die(lsn.status().ToString());
    if (absl::Status s = journal.WaitDurable(*lsn, absl::Seconds(30)); !s.ok()) {
      Die(s.ToString());
    }
    out->push_back(engram::bench::SecondsSince(t) * 1e6);
  };
  for (int i = 0; i < cfg.latency_samples; ++i) {
    durable(*j, &us);
    durable(**local, &sync_us);
    jsPubAck* ack = nullptr;
    const auto t = Clock::now();
    CheckNats(js_Publish(&ack, js, "bench.latraw", payload.data(),
                         static_cast<int>(payload.size()), nullptr, nullptr),
              "js_Publish");
    pub_us.push_back(engram::bench::SecondsSince(t) * 1e6);
    jsPubAck_Destroy(ack);
  }
  jsCtx_Destroy(js);
  natsConnection_Destroy(nc);
  if (absl::Status s = j->Close(); !s.ok()) Die(s.ToString());
  (*local)->Close().IgnoreError();
  const double limit50 = Percentile(sync_us, 0.5) + Percentile(pub_us, 0.5);
  const double limit99 = Percentile(sync_us, 0.99) + Percentile(pub_us, 0.99);
  std::printf(
      "append-to-release at replicated (R1): p50 %.0f us, p99 %.0f us, p99.9 %.0f us; limit "
      "(kSync append-to-durable + sync js_Publish, interleaved) p50 %.0f us, p99 %.0f us; "
      "ratio p50 %.2f\n",
      Percentile(us, 0.5), Percentile(us, 0.99), Percentile(us, 0.999), limit50, limit99,
      Percentile(us, 0.5) / limit50);
}

void Throughput(const std::string& url, int replicas, const engram::testing::TempDir& tmp,
                const Config& cfg) {
  const std::string raw_stream = absl::StrCat("RAW", replicas);
  const std::string raw_subject = absl::StrCat("bench.raw", replicas);
  MakeStream(*ConnectOrDie(url, cfg), raw_stream, raw_subject, replicas);
  const Rate raw = RawPublish(url, raw_subject, cfg);
  const Rate eng = Replicated(tmp.Sub(absl::StrCat("journal", replicas)), url,
                              absl::StrCat("ENG", replicas), absl::StrCat("bench.eng", replicas),
                              cfg, replicas);
  const double local = LocalSyncMbPerS(tmp.Sub(absl::StrCat("local", replicas)), cfg);
  std::printf(
      "replicated R%d, %zu KiB messages, %zu in flight: engram %.1f MB/s (%.0f k records/s of "
      "%zu B), raw js_PublishAsync %.1f MB/s (%.0f msg/s); ratio %.2f (the same appender at "
      "kSync alone: %.1f MB/s)\n",
      replicas, cfg.message_bytes >> 10, cfg.in_flight, eng.mb_per_s, eng.records_per_s / 1e3,
      cfg.record_payload + 56, raw.mb_per_s, raw.messages_per_s, eng.mb_per_s / raw.mb_per_s,
      local);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  Config cfg;
  CLI::App app{"Replication benchmarks against raw JetStream publishing (nats-server 2.9.10 "
               "started on loopback)."};
  app.add_option("--message-bytes", cfg.message_bytes, "replication message size");
  app.add_option("--in-flight", cfg.in_flight, "unacknowledged messages at most");
  app.add_option("--seconds", cfg.seconds, "length of each throughput run");
  app.add_option("--latency-samples", cfg.latency_samples, "append-to-release samples");
  bool no_r3 = false;
  app.add_flag("--no-r3", no_r3, "skip the 3-server cluster");
  CLI11_PARSE(app, argc, argv);
  cfg.r3 = !no_r3;
  engram::testing::TempDir tmp;
  {
    auto server = engram::testing::NatsServer::Start();
    if (!server.ok()) Die(server.status().ToString());
    Throughput((*server)->url(), 1, tmp, cfg);
    Latency(tmp.Sub("latency"), (*server)->url(), cfg);
  }
  if (cfg.r3) {
    auto cluster = engram::testing::NatsCluster::Start(3);
    if (!cluster.ok()) Die(cluster.status().ToString());
    Throughput((*cluster)->url(), 3, tmp, cfg);
  }
  return 0;
}
