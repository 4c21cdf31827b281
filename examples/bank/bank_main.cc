// The bank example's command line (a contract that tests outside the project
// use):
//
//   bank run --journal DIR --accounts N --transfers M [--threads T]
//            [--durability process|sync|replicated --nats URL [--stream NAME]
//             [--replicas 1|3]] [--seed S] [--segment-size BYTES]
//     Opens (recovering) the journal, creates N accounts of 1000 if new,
//     finishes transfers left unfinished by a crash, performs M random
//     transfers concurrently, and prints `acked K` (transfers acknowledged
//     at the chosen durability) at least every 1,000 transfers and at the
//     end, flushed at once. The accounts and their opening deposits are
//     journaled as one batch: a run killed at any instant leaves all of
//     them or none.
//     --segment-size sets the journal's segment file size for segments
//     created from now on (bytes, or with a K or M suffix: 256K; 4K to 1G;
//     default 64M): small segments make a run cross many segment rolls.
//     The first transfer that fails (a journal error: a failed fsync, a full
//     disk) is printed and stops the run with exit 1; no `acked` line after
//     it counts a transfer started after it.
//     --durability replicated: the journal is also replicated to the
//     JetStream stream NAME (default ENGRAM_BANK, created if missing, on
//     subject engram.NAME) of the NATS server(s) at URL, and `acked K` counts
//     transfers the stream acknowledged.
//
//   bank check --journal DIR
//     Recovers, completes or compensates every unfinished transfer, and
//     prints `accounts=N total=T transfers=K`; exits 0 only if T == N*1000.
//     Exit 3, with
//     "nothing was written", when DIR does not exist or its journal holds
//     no account (a `bank run` killed before it wrote one); exit 1 on
//     errors (a journal that cannot be opened or read, money not conserved).
//
//   bank standby --journal DIR --accounts N --transfers M [--threads T]
//                [--durability process|sync] [--seed S] [--segment-size BYTES]
//     A hot standby of a `bank run` writing DIR on this host: follows the
//     journal, printing `applied LSN L` as it goes (state durable at the
//     journal's level only), and `leader stale: ...` if the leader holds the
//     lock but stops beating (a hung process: it is not taken over). When
//     the leader dies (or exits) it takes over: prints `promoted epoch E at
//     LSN L in T ms hash=H` (H: the image hash as of L, as `bank hash --at
//     L` prints it), then does what `bank run` does with the same options.
//     Started with no writer on DIR it is the writer at once.
//
//   bank replica --nats URL [--stream NAME] --journal DIR2 [--until-caught-up]
//     A remote follower of a `--durability replicated` bank: copies the
//     stream's records, checked, into its own journal DIR2 (the same
//     journal id, LSNs and bytes), printing `applied LSN L` at least once a
//     second. With --until-caught-up it exits 0 once DIR2 holds every
//     message the stream had when it started (`caught up at LSN L ...`);
//     `bank check --journal DIR2` then holds the bank contract even if the
//     leader's own journal is gone. A DIR2 that holds records the stream
//     does not (the journal of an old leader another node took over from)
//     is cut back to the last record it shares with the stream; the cut
//     records are kept in DIR2/diverged-<epoch> and reported
//     (`cut N divergent records after LSN L into FILE`).
//   bank replica ... --take-over [--transfers N] [--threads T] [--seed S]
//     Catches up, then becomes the writer of DIR2 at durability replicated
//     on the same stream: its epoch record is published with ExpectLastSeq
//     = the last sequence copied, and only once the stream took it does it
//     print `promoted epoch E at LSN L in T ms` and go on as `bank run` (finishing
//     the transfers in flight, then N new ones, `acked K` as `bank run`
//     prints it).
//     Exit 1 (`take-over lost`) if another writer got there first.
//
// Replay debugging (read-only: works beside a running `bank run`):
//   bank replay --journal DIR [--to LSN] [--step N] [--break-on TYPE]
//     Rebuilds the image as of LSN (default: the end) and prints its
//     accounts' total and image hash; then applies N more records one at a
//     time, or runs to the next event of TYPE (e.g. bank.Refunded),
//     printing each record applied.
//   bank hash --journal DIR --at LSN [--at LSN ...]
//     Prints the image hash as of each LSN.
//   bank journal verify|dump|stats|tail DIR ...
//     The `engram journal` command line, with the bank's event types: dump
//     and tail also print each event's fields.
//
// `bank --help` and `bank <command> --help` describe every option (CLI11).
// run, check, replay and hash also take --threads T; check also takes
// --durability and --segment-size (for what it writes while completing
// transfers). A bad argument prints one line naming the flag and the value
// and exits 2.
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>

#include "engram/tools/cli_flags.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "engram/actors/actor_system.h"
#include "bank/bank_model.h"
#include "engram/image/memory_image.h"
#include "engram/image/standby.h"
#include "engram/replication/jet_stream_replicator.h"
#include "engram/replication/nats_jet_stream.h"
#include "engram/replication/stream_follower.h"
#include "engram/tools/journal_command.h"

namespace {

struct Args {
  std::string command;
  std::string journal;
  int64_t accounts = 0;
  int64_t transfers = 0;
  int threads = 0;
  std::string durability_name = "process";
  engram::Durability durability = engram::Durability::kProcess;
  uint64_t seed = 1;
  uint64_t segment_size = 0;  // 0: the journal's default
  // --durability replicated: the JetStream the journal is replicated to.
  std::string nats_url;
  std::string stream = "ENGRAM_BANK";
  int replicas = 1;
  std::string nats_creds;
  std::string nats_ca;
  bool until_caught_up = false;
  bool take_over = false;
  uint64_t to_lsn = 0;
  int64_t step = 0;
  std::string break_on;
  std::vector<uint64_t> at;
};

using engram::cli::kExitUsage;

// --segment-size: BYTES, or a number with a K (KiB) or M (MiB) suffix,
// 4K..1G; rewritten to the number of bytes.
CLI::Validator SegmentSize() {
  return CLI::Validator(
      [](std::string& s) -> std::string {
        std::string digits = s;
        uint64_t unit = 1;
        if (!digits.empty() && (digits.back() == 'K' || digits.back() == 'k')) {
          unit = uint64_t{1} << 10;
          digits.pop_back();
        } else if (!digits.empty() && (digits.back() == 'M' || digits.back() == 'm')) {
          unit = uint64_t{1} << 20;
          digits.pop_back();
        }
        uint64_t v = 0;
        constexpr uint64_t kMin = uint64_t{4} << 10, kMax = uint64_t{1} << 30;
        if (!absl::SimpleAtoi(digits, &v) || v > kMax / unit || v * unit < kMin) {
          return absl::StrCat("'", s,
                              "' is not a size from 4096 (4K) to 1073741824 (1024M) bytes");
        }
        s = std::to_string(v * unit);
        return "";
      },
      "");
}

// The command line; `bank journal ...` is handed to engram_tools.
struct CommandLine {
  CLI::App app{"The bank example: accounts and transfers as persistent actors of a memory "
               "image.\nExit codes: 0 ok, 1 error (or money not conserved), 2 bad arguments, "
               "3 (check) nothing was written.",
               "bank"};
  CLI::App* journal = nullptr;
};

void Define(CommandLine* cl, Args* a) {
  CLI::App& app = cl->app;
  app.require_subcommand(0, 1);
  auto common = [&](CLI::App* c) {
    c->add_option("--journal", a->journal, "the journal directory")
        ->type_name("DIR")
        ->required();
    c->add_option("--threads", a->threads, "worker threads, >= 1 (default: one per core)")
        ->type_name("T")
        ->check(engram::cli::AtLeast(1));
  };
  auto durability = [&](CLI::App* c) {
    c->add_option("--durability", a->durability_name,
                  "when a transfer is acknowledged: process (in the page cache), sync "
                  "(on disk) or replicated (on disk and in a NATS JetStream stream: "
                  "--nats); default process")
        ->type_name("LEVEL")
        ->check(CLI::IsMember({"process", "sync", "replicated"}));
    c->add_option("--nats", a->nats_url,
                  "replicated: the NATS server(s), nats://HOST:PORT[,nats://...]")
        ->type_name("URL");
    c->add_option("--stream", a->stream,
                  "replicated: the JetStream stream (created if missing; default ENGRAM_BANK)")
        ->type_name("NAME");
    c->add_option("--replicas", a->replicas,
                  "replicated: the stream's replicas when it is created, 1 or 3 (default 1)")
        ->type_name("R")
        ->check(CLI::IsMember({1, 3}));
    c->add_option("--nats-creds", a->nats_creds, "replicated: a NATS .creds file")
        ->type_name("FILE");
    c->add_option("--nats-ca", a->nats_ca,
                  "replicated: the CA certificate of the server (TLS)")
        ->type_name("FILE");
  };
  auto segment_size = [&](CLI::App* c) {
    c->add_option("--segment-size", a->segment_size,
                  "size of journal segments created from now on: bytes, or with a K or M "
                  "suffix (256K); 4K..1G; default 64M")
        ->type_name("BYTES")
        ->transform(SegmentSize());
  };
  CLI::App* run = app.add_subcommand(
      "run",
      "Recover, create N accounts of 1000 if new, finish interrupted transfers, perform M "
      "random transfers; print `acked K` at least every 1,000 transfers and at the end.");
  // run's options; standby takes the same ones for what it does once promoted.
  auto run_options = [&](CLI::App* c, const char* transfers_help) {
    common(c);
    c->add_option("--accounts", a->accounts, "accounts to create when the journal is new, >= 2")
        ->type_name("N")
        ->required()
        ->check(engram::cli::AtLeast(2));
    c->add_option("--transfers", a->transfers, transfers_help)
        ->type_name("M")
        ->check(engram::cli::AtLeast(0));
    durability(c);
    c->add_option("--seed", a->seed, "random seed, >= 0 (default 1)")
        ->type_name("S")
        ->check(engram::cli::AtLeast(0));
    segment_size(c);
  };
  run_options(run, "transfers to perform, >= 0 (default 0)");
  CLI::App* check = app.add_subcommand(
      "check",
      "Recover, complete or compensate every unfinished transfer, print `accounts=N total=T "
      "transfers=K`; exit 0 only if T == N*1000, 3 if nothing was written.");
  common(check);
  durability(check);
  segment_size(check);
  CLI::App* replay = app.add_subcommand(
      "replay",
      "Read-only: rebuild the image as of an LSN and print its total and hash; then step or "
      "run to an event type.");
  common(replay);
  replay->add_option("--to", a->to_lsn, "rebuild as of this LSN, >= 1 (default: the end)")
      ->type_name("LSN")
      ->check(engram::cli::AtLeast(1));
  replay->add_option("--step", a->step, "then apply N more records one at a time, >= 1")
      ->type_name("N")
      ->check(engram::cli::AtLeast(1));
  replay->add_option("--break-on", a->break_on,
                     "then run to the next event of TYPE (e.g. bank.Refunded)")
      ->type_name("TYPE");
  CLI::App* hash = app.add_subcommand("hash", "Read-only: print the image hash as of each LSN.");
  common(hash);
  hash->add_option("--at", a->at, "an LSN, >= 1; repeat for more")
      ->type_name("LSN")
      ->required()
      ->allow_extra_args(false)
      ->check(engram::cli::AtLeast(1));
  CLI::App* standby = app.add_subcommand(
      "standby",
      "Follow a `bank run` writing the journal on this host, print `applied LSN L`; when it "
      "dies take over (`promoted epoch E at LSN L in T ms hash=H`) and then act as `run`.");
  run_options(standby, "transfers to perform once promoted, >= 0 (default 0)");
  CLI::App* replica = app.add_subcommand(
      "replica",
      "Copy the JetStream stream of a `--durability replicated` bank into a local journal, "
      "printing `applied LSN L`; with --until-caught-up stop once it holds every message the "
      "stream had at the start.");
  replica->add_option("--journal", a->journal, "the local copy's directory (created if missing)")
      ->type_name("DIR")
      ->required();
  replica->add_option("--nats", a->nats_url, "the NATS server(s), nats://HOST:PORT[,...]")
      ->type_name("URL")
      ->required();
  replica->add_option("--stream", a->stream, "the JetStream stream (default ENGRAM_BANK)")
      ->type_name("NAME");
  replica->add_option("--nats-creds", a->nats_creds, "a NATS .creds file")->type_name("FILE");
  replica->add_option("--nats-ca", a->nats_ca, "the CA certificate of the server (TLS)")
      ->type_name("FILE");
  replica->add_flag("--until-caught-up", a->until_caught_up,
                    "exit 0 once the copy holds every message the stream had at the start");
  replica->add_flag("--take-over", a->take_over,
                    "once caught up, become the leader by epoch (replicated durability on the "
                    "copy) and go on as `run`: finish the transfers in flight, then --transfers");
  replica->add_option("--transfers", a->transfers, "with --take-over: transfers to perform")
      ->type_name("M")
      ->check(engram::cli::AtLeast(0));
  replica->add_option("--threads", a->threads, "with --take-over: worker threads, >= 1")
      ->type_name("T")
      ->check(engram::cli::AtLeast(1));
  replica->add_option("--seed", a->seed, "with --take-over: random seed")->type_name("S");
  for (CLI::App* c : {run, check, replay, hash, standby, replica}) {
    c->callback([a, c] { a->command = c->get_name(); });
  }
  // Everything after `journal` goes to the engram journal commands, --help
  // included.
  cl->journal = app.add_subcommand("journal",
                                   "The engram journal command line with the bank's event "
                                   "types: verify|dump|stats|tail DIR ... (see 'bank journal "
                                   "--help').")
                    ->prefix_command();
  cl->journal->set_help_flag();
}

// Parses argv into *a; returns an exit code when the program should stop
// (help printed: 0; bad arguments: 2), else -1.
int Parse(int argc, char** argv, CommandLine* cl, Args* a) {
  Define(cl, a);
  if (argc >= 2 && argv[1][0] != '-') {
    const std::string c = argv[1];
    if (c != "run" && c != "check" && c != "replay" && c != "hash" && c != "standby" &&
        c != "replica" &&
        c != "journal") {
      std::fprintf(stderr, "bank: unknown command '%s' (try: bank --help)\n", c.c_str());
      return kExitUsage;
    }
  }
  if (const std::optional<int> code = engram::cli::Parse(cl->app, argc, argv, "bank")) {
    return *code;
  }
  if (cl->journal->parsed()) {
    a->command = "journal";
    return -1;
  }
  if (a->command.empty()) {
    std::fprintf(stderr,
                 "bank: missing command (run, check, replay, hash, standby or journal; try: "
                 "bank --help)\n");
    return kExitUsage;
  }
  a->durability = a->durability_name == "sync"         ? engram::Durability::kSync
                  : a->durability_name == "replicated" ? engram::Durability::kReplicated
                                                       : engram::Durability::kProcess;
  if (a->command != "replica" &&
      (a->durability == engram::Durability::kReplicated) != !a->nats_url.empty()) {
    std::fprintf(stderr, "bank: %s\n",
                 a->nats_url.empty() ? "--durability replicated needs --nats URL"
                                     : "--nats is only for --durability replicated");
    return kExitUsage;
  }
  return -1;
}

// Connects to --nats with the security options.
absl::StatusOr<std::unique_ptr<engram::NatsJetStream>> ConnectNats(const Args& args) {
  engram::NatsConnectOptions nats;
  nats.url = args.nats_url;
  nats.creds_file = args.nats_creds;
  nats.tls_ca_file = args.nats_ca;
  nats.name = absl::StrCat("bank ", args.command, " pid ", getpid());
  return engram::NatsJetStream::Connect(nats);
}

// --durability replicated: connects to --nats, creates --stream if it does
// not exist, and returns the replicator for the journal.
absl::StatusOr<std::shared_ptr<engram::Replicator>> ConnectReplicator(const Args& args) {
  absl::StatusOr<std::unique_ptr<engram::NatsJetStream>> js = ConnectNats(args);
  if (!js.ok()) return js.status();
  engram::JetStreamConfig config;
  config.name = args.stream;
  const std::string subject = absl::StrCat("engram.", args.stream);
  config.subjects = {subject};
  config.replicas = args.replicas;
  // An existing stream is used as it is (its replicas may differ from
  // --replicas, which only applies when creating it).
  absl::StatusOr<engram::JetStreamInfo> info = (*js)->StreamInfo(args.stream);
  if (absl::IsNotFound(info.status())) {
    if (absl::Status s = (*js)->EnsureStream(config); !s.ok()) return s;
  } else if (!info.ok()) {
    return info.status();
  }
  engram::JetStreamReplicatorOptions options;
  options.stream = args.stream;
  options.subject = subject;
  return std::shared_ptr<engram::Replicator>(std::make_shared<engram::JetStreamReplicator>(
      std::shared_ptr<engram::JetStream>(*std::move(js)), options));
}

// The image's options for `a`: its durability (with a replicator connected
// to --nats at kReplicated), segment size and progress output.
absl::StatusOr<engram::MemoryImage::Options> MakeImageOptions(const Args& a) {
  engram::MemoryImage::Options o;
  o.journal.durability = a.durability;
  o.journal.create_if_missing = a.command == "run";
  if (a.segment_size != 0) o.journal.segment_size = a.segment_size;
  if (a.durability == engram::Durability::kReplicated) {
    absl::StatusOr<std::shared_ptr<engram::Replicator>> replicator = ConnectReplicator(a);
    if (!replicator.ok()) return replicator.status();
    o.journal.replicator = *std::move(replicator);
  }
  o.progress = [](uint64_t events, uint64_t lsn) {
    std::fprintf(stderr, "bank: replayed %llu events (LSN %llu)\n",
                 static_cast<unsigned long long>(events), static_cast<unsigned long long>(lsn));
  };
  return o;
}

double Since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// Re-sends the pending step of every unfinished transfer and waits until
// all are finished. Returns the number of transfers that were started.
int64_t FinishTransfers(engram::ActorSystem& system, engram::MemoryImage& image) {
  std::vector<engram::ActorRef> pending;
  for (uint64_t id : image.StreamIds("transfer")) {
    engram::ActorRef r = image.Find(id).value();
    r.Send(bank::Resume{});
    pending.push_back(r);
  }
  int64_t started = 0;
  while (!pending.empty()) {
    // Ask every pending transfer at once, then keep the unfinished ones.
    std::vector<engram::AskFuture<bank::Phase>> phases;
    phases.reserve(pending.size());
    for (const engram::ActorRef& r : pending) {
      phases.push_back(system.AskAsync<bank::Phase>(r, bank::GetPhase{}, absl::Seconds(60)));
    }
    std::vector<engram::ActorRef> still;
    for (size_t i = 0; i < pending.size(); ++i) {
      absl::StatusOr<bank::Phase> p = phases[i].Get();
      if (!p.ok()) {
        std::fprintf(stderr, "bank: %s: %s\n", pending[i].name().c_str(),
                     p.status().ToString().c_str());
        std::exit(1);
      }
      if (*p == bank::Phase::kNew) continue;  // created, never started
      if (bank::Finished(*p)) {
        ++started;
      } else {
        still.push_back(pending[i]);
      }
    }
    pending.swap(still);
    if (!pending.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return started;
}

int Run(const Args& a, engram::ActorSystem& system, engram::MemoryImage& image) {
  std::vector<uint64_t> accounts = image.StreamIds("account");
  if (accounts.empty()) {
    // All accounts and their opening deposits in one journal batch: a crash
    // at any instant leaves either the whole bank or nothing.
    std::vector<uint64_t> ids;
    for (int64_t i = 1; i <= a.accounts; ++i) ids.push_back(static_cast<uint64_t>(i));
    absl::StatusOr<uint64_t> opened = image.SpawnAll<bank::Account>(
        ids, [](uint64_t) { return bank::AccountOpened{bank::kInitialBalance}; });
    if (!opened.ok()) {
      std::fprintf(stderr, "bank: open %lld accounts: %s\n", static_cast<long long>(a.accounts),
                   opened.status().ToString().c_str());
      return 1;
    }
    accounts = ids;
  } else if (static_cast<int64_t>(accounts.size()) != a.accounts) {
    std::fprintf(stderr, "bank: the journal has %zu accounts; using them, not %lld\n",
                 accounts.size(), static_cast<long long>(a.accounts));
  }
  // Finish what a crash left in flight before adding more.
  FinishTransfers(system, image);
  const std::vector<uint64_t> existing = image.StreamIds("transfer");
  uint64_t next_id = existing.empty() ? bank::kFirstTransferId : existing.back() + 1;

  std::mt19937_64 rng(a.seed ^ next_id);
  std::uniform_int_distribution<size_t> pick(0, accounts.size() - 1);
  std::uniform_int_distribution<int64_t> amount(1, 100);
  constexpr size_t kWindow = 512;  // transfers in flight
  std::deque<engram::AskFuture<engram::Done>> inflight;
  int64_t acked = 0, rejected = 0;
  const auto start = std::chrono::steady_clock::now();
  // Transfers are acknowledged in the order they were started. The first
  // failure (a transfer never fails for business reasons here, so this is a
  // journal error such as a failed fsync, or a timeout) stops the run: no
  // transfer started after it is acknowledged, so every `acked K` means
  // the first K transfers all succeeded.
  bool failed = false;
  auto settle_one = [&] {
    absl::StatusOr<engram::Done> r = inflight.front().Get();
    inflight.pop_front();
    if (failed) return;
    if (!r.ok()) {
      ++rejected;
      failed = true;
      std::fprintf(stderr, "bank: transfer %lld failed, stopping: %s\n",
                   static_cast<long long>(acked + rejected), r.status().ToString().c_str());
      return;
    }
    if (++acked % 1000 == 0) {
      std::printf("acked %lld\n", static_cast<long long>(acked));
      std::fflush(stdout);
    }
  };
  for (int64_t i = 0; i < a.transfers && !failed; ++i) {
    const uint64_t from = accounts[pick(rng)];
    uint64_t to = accounts[pick(rng)];
    if (to == from) to = accounts[(pick(rng) + 1) % accounts.size()];
    if (to == from) to = from == accounts[0] ? accounts[1] : accounts[0];
    absl::StatusOr<engram::ActorRef> t = image.Spawn<bank::Transfer>(next_id++);
    if (!t.ok()) {
      std::fprintf(stderr, "bank: transfer %llu: %s\n",
                   static_cast<unsigned long long>(next_id - 1), t.status().ToString().c_str());
      failed = true;
      break;
    }
    inflight.push_back(system.AskAsync<engram::Done>(
        *t, bank::Start{from, to, amount(rng)}, absl::Seconds(60)));
    if (inflight.size() >= kWindow) settle_one();
  }
  while (!inflight.empty()) settle_one();
  const double seconds = Since(start);
  std::printf("acked %lld\n", static_cast<long long>(acked));
  std::fflush(stdout);
  std::fprintf(stderr, "bank: %lld transfers acknowledged in %.3f s (%.0f/s)%s\n",
               static_cast<long long>(acked), seconds, seconds > 0 ? acked / seconds : 0.0,
               failed ? ", then stopped by a failure" : "");
  return failed ? 1 : 0;
}

// `bank check`'s exit code when nothing was written (see the header).
constexpr int kNothingWritten = 3;

int Check(const Args& a, engram::ActorSystem& system, engram::MemoryImage& image) {
  const std::vector<uint64_t> accounts = image.StreamIds("account");
  if (accounts.empty()) {
    std::fprintf(stderr, "bank: nothing was written: the journal in %s holds no account\n",
                 a.journal.c_str());
    return kNothingWritten;
  }
  const int64_t transfers = FinishTransfers(system, image);
  int64_t total = 0;
  for (uint64_t id : accounts) {
    absl::StatusOr<int64_t> b =
        system.Ask<int64_t>(image.Find(id).value(), bank::GetBalance{}, absl::Seconds(60));
    if (!b.ok()) {
      std::fprintf(stderr, "bank: account %llu: %s\n", static_cast<unsigned long long>(id),
                   b.status().ToString().c_str());
      return 1;
    }
    total += *b;
  }
  std::printf("accounts=%zu total=%lld transfers=%lld\n", accounts.size(),
              static_cast<long long>(total), static_cast<long long>(transfers));
  std::fflush(stdout);
  const int64_t want = static_cast<int64_t>(accounts.size()) * bank::kInitialBalance;
  if (total != want) {
    std::fprintf(stderr, "bank: money is not conserved: total %lld, expected %lld\n",
                 static_cast<long long>(total), static_cast<long long>(want));
    return 1;
  }
  return 0;
}

void PrintStep(const engram::MemoryImage::ReplayStep& s) {
  std::printf("LSN %llu stream %llu v%llu %s\n", static_cast<unsigned long long>(s.lsn),
              static_cast<unsigned long long>(s.stream_id),
              static_cast<unsigned long long>(s.stream_version),
              s.created_kind.empty() ? s.type_name.c_str()
                                     : ("created " + s.created_kind).c_str());
}

// Opens a read-only image as of `to_lsn` (0: the end).
std::unique_ptr<engram::MemoryImage> OpenAt(engram::ActorSystem& system,
                                            const engram::EventRegistry& registry,
                                            const std::string& dir, uint64_t to_lsn) {
  auto image = std::make_unique<engram::MemoryImage>(system, registry);
  bank::RegisterKinds(*image);
  engram::MemoryImage::Options o;
  o.read_only = true;
  o.replay_to_lsn = to_lsn;
  if (absl::Status s = image->Open(dir, o); !s.ok()) {
    std::fprintf(stderr, "bank: cannot replay %s: %s\n", dir.c_str(), s.ToString().c_str());
    std::exit(1);
  }
  return image;
}

int64_t TotalBalance(engram::ActorSystem& system, engram::MemoryImage& image) {
  int64_t total = 0;
  for (uint64_t id : image.StreamIds("account")) {
    total += system.Ask<int64_t>(image.Find(id).value(), bank::GetBalance{}, absl::Seconds(60))
                 .value_or(0);
  }
  return total;
}

int Replay(const Args& a, engram::ActorSystem& system, const engram::EventRegistry& registry) {
  auto image = OpenAt(system, registry, a.journal, a.to_lsn);
  auto report = [&] {
    std::printf("as of LSN %llu: accounts=%zu transfers=%zu total=%lld hash=%016llx\n",
                static_cast<unsigned long long>(image->recovery().last_lsn),
                image->StreamIds("account").size(), image->StreamIds("transfer").size(),
                static_cast<long long>(TotalBalance(system, *image)),
                static_cast<unsigned long long>(image->ImageHash().value_or(0)));
  };
  report();
  engram::MemoryImage::ReplayStep step;
  for (int64_t i = 0; i < a.step; ++i) {
    absl::StatusOr<bool> more = image->Step(&step);
    if (!more.ok()) {
      std::fprintf(stderr, "bank: %s\n", more.status().ToString().c_str());
      return 1;
    }
    if (!*more) {
      std::printf("end of journal\n");
      break;
    }
    PrintStep(step);
  }
  if (!a.break_on.empty()) {
    absl::StatusOr<bool> hit = image->RunUntil(
        [&](const engram::MemoryImage::ReplayStep& s) { return s.type_name == a.break_on; },
        &step);
    if (!hit.ok()) {
      std::fprintf(stderr, "bank: %s\n", hit.status().ToString().c_str());
      return 1;
    }
    if (*hit) {
      std::printf("break: ");
      PrintStep(step);
    } else {
      std::printf("end of journal: no %s\n", a.break_on.c_str());
    }
  }
  if (a.step > 0 || !a.break_on.empty()) report();
  return 0;
}

int Hash(const Args& a, engram::ActorSystem& system, const engram::EventRegistry& registry) {
  for (uint64_t lsn : a.at) {
    auto image = OpenAt(system, registry, a.journal, lsn);
    std::printf("LSN %llu: hash=%016llx\n", static_cast<unsigned long long>(lsn),
                static_cast<unsigned long long>(image->ImageHash().value_or(0)));
  }
  return 0;
}

// `bank standby`: follows, takes over, then runs.
int StandbyCommand(const Args& a, engram::ActorSystem& system, engram::MemoryImage& image,
                   const engram::MemoryImage::Options& image_options) {
  engram::Standby standby(image);
  engram::Standby::Options options;
  options.image = image_options;
  options.image.journal.create_if_missing = true;
  options.on_stale_leader = [](const engram::WriterState& w) {
    std::printf("leader stale: pid %u holds the lock, heartbeat %lld ms old; not taking over\n",
                w.pid, static_cast<long long>(absl::ToInt64Milliseconds(w.heartbeat_age)));
    std::fflush(stdout);
  };
  if (absl::Status s = standby.Start(a.journal, options); !s.ok()) {
    std::fprintf(stderr, "bank: standby of %s: %s\n", a.journal.c_str(), s.ToString().c_str());
    return 1;
  }
  uint64_t printed = UINT64_MAX;
  for (;;) {
    const absl::Status promoted = standby.AwaitPromoted(absl::Milliseconds(100));
    if (promoted.ok()) break;
    if (promoted.code() != absl::StatusCode::kDeadlineExceeded) {
      std::fprintf(stderr, "bank: %s\n", promoted.ToString().c_str());
      return 1;
    }
    if (const uint64_t applied = standby.applied_lsn(); applied != printed) {
      std::printf("applied LSN %llu\n", static_cast<unsigned long long>(applied));
      std::fflush(stdout);
      printed = applied;
    }
  }
  standby.Stop();
  const engram::Standby::Promotion p = standby.state().promotion;
  absl::StatusOr<uint64_t> hash = image.ImageHash();
  if (!hash.ok()) {
    std::fprintf(stderr, "bank: image hash: %s\n", hash.status().ToString().c_str());
    return 1;
  }
  std::printf("promoted epoch %llu at LSN %llu in %.3f ms hash=%016llx\n",
              static_cast<unsigned long long>(p.epoch),
              static_cast<unsigned long long>(p.last_lsn),
              absl::ToDoubleMilliseconds(p.takeover), static_cast<unsigned long long>(*hash));
  std::fprintf(stderr,
               "bank: takeover %.3f ms: the journal's recovery %.3f ms, then replaying LSN "
               "%llu..%llu that the standby had not applied yet\n",
               absl::ToDoubleMilliseconds(p.takeover), absl::ToDoubleMilliseconds(p.recovery),
               static_cast<unsigned long long>(p.applied_lsn + 1),
               static_cast<unsigned long long>(p.last_lsn));
  std::fflush(stdout);
  return Run(a, system, image);
}

}  // namespace

// bank replica: copies the stream into --journal. `on_open` (may be empty)
// runs once the copy is open, holding its writer lock (TakeOverCommand
// starts a Standby on the copy there). With --take-over, returns -1 once
// caught up and the copy closed: the caller goes on as the copy's writer.
int ReplicaCommand(const Args& a, const std::function<absl::Status()>& on_open = {}) {
  absl::StatusOr<std::unique_ptr<engram::NatsJetStream>> connected = ConnectNats(a);
  if (!connected.ok()) {
    std::fprintf(stderr, "bank: %s\n", connected.status().ToString().c_str());
    return 1;
  }
  std::shared_ptr<engram::JetStream> js(*std::move(connected));
  absl::StatusOr<engram::JetStreamInfo> info = js->StreamInfo(a.stream);
  if (absl::IsNotFound(info.status()) && a.until_caught_up && !a.take_over) {
    // No leader ever created it: there is nothing to copy.
    std::printf("caught up: stream %s does not exist\n", a.stream.c_str());
    return 0;
  }
  if (!info.ok()) {
    std::fprintf(stderr, "bank: stream %s: %s\n", a.stream.c_str(),
                 info.status().ToString().c_str());
    return 1;
  }
  const uint64_t target = info->last_sequence;
  engram::StreamFollower::Options options;
  options.stream = a.stream;
  // An old leader's journal that another node took over from: cut back to
  // what it shares with the stream, then follow.
  options.cut_divergent_tail = true;
  std::unique_ptr<engram::StreamFollower> follower;
  // An empty stream: nothing to copy yet (a leader killed before its first
  // message); wait for one unless only what is there now was asked for.
  for (;;) {
    absl::StatusOr<std::unique_ptr<engram::StreamFollower>> f =
        engram::StreamFollower::Open(js, a.journal, options);
    if (f.ok()) {
      follower = *std::move(f);
      if (follower->divergent_records() > 0) {
        std::printf("cut %llu divergent records after LSN %llu into %s\n",
                    static_cast<unsigned long long>(follower->divergent_records()),
                    static_cast<unsigned long long>(follower->last_lsn()),
                    follower->divergent_file().c_str());
      }
      if (on_open) {
        if (absl::Status s = on_open(); !s.ok()) {
          std::fprintf(stderr, "bank: following %s: %s\n", a.journal.c_str(),
                       s.ToString().c_str());
          return 1;
        }
      }
      break;
    }
    if (!absl::IsNotFound(f.status()) || a.until_caught_up || a.take_over) {
      if (absl::IsNotFound(f.status()) && info->messages == 0 && a.take_over) {
        std::fprintf(stderr, "bank: stream %s is empty: nothing to take over\n",
                     a.stream.c_str());
        return 1;
      }
      if (absl::IsNotFound(f.status()) && info->messages == 0) {
        std::printf("caught up: stream %s is empty\n", a.stream.c_str());
        return 0;
      }
      std::fprintf(stderr, "bank: %s\n", f.status().ToString().c_str());
      return 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  auto last_print = std::chrono::steady_clock::now() - std::chrono::seconds(1);
  auto print = [&](bool force) {
    const auto now = std::chrono::steady_clock::now();
    if (!force && now - last_print < std::chrono::seconds(1)) return;
    last_print = now;
    std::printf("applied LSN %llu\n", static_cast<unsigned long long>(follower->last_lsn()));
    std::fflush(stdout);
  };
  if (a.until_caught_up || a.take_over) {
    absl::Status s = follower->CatchUpTo(target, absl::Minutes(10),
                                         [&](uint64_t, uint64_t) { print(false); });
    if (s.ok()) s = follower->Close();
    if (!s.ok()) {
      std::fprintf(stderr, "bank: %s\n", s.ToString().c_str());
      return 1;
    }
    std::printf("caught up at LSN %llu (stream %s sequence %llu, epoch %llu)\n",
                static_cast<unsigned long long>(follower->last_lsn()), a.stream.c_str(),
                static_cast<unsigned long long>(follower->last_sequence()),
                static_cast<unsigned long long>(follower->last_epoch()));
    std::fflush(stdout);
    return a.take_over ? -1 : 0;
  }
  for (;;) {
    absl::StatusOr<uint64_t> n = follower->FollowSome(absl::Seconds(1));
    if (!n.ok()) {
      std::fprintf(stderr, "bank: %s\n", n.status().ToString().c_str());
      return 1;
    }
    print(false);
  }
}

// `bank replica` without --until-caught-up: the copy is followed by a
// Standby, so this process holds a live image of the leader's state (as the
// same-host standby does). With --take-over, once the copy is caught up and
// closed, the Standby takes its lock and becomes the writer: its journal's
// epoch record, published with ExpectLastSeq = the last sequence copied, is
// the compare-and-set. The image is already up to date, so the takeover
// replays nothing. If the stream moved on meanwhile (the last messages of
// the leader it replaces arrived late), it starts again from the copy.
int FollowWithImage(Args a) {
  a.durability = engram::Durability::kReplicated;
  for (int attempt = 1;; ++attempt) {
    engram::ActorSystemOptions system_options;
    system_options.scheduler.threads = a.threads;
    engram::ActorSystem system(system_options);
    engram::EventRegistry registry;
    if (absl::Status s = bank::RegisterEvents(registry); !s.ok()) {
      std::fprintf(stderr, "bank: %s\n", s.ToString().c_str());
      return 1;
    }
    engram::MemoryImage image(system, registry);
    bank::RegisterKinds(image);
    absl::StatusOr<engram::MemoryImage::Options> image_options = MakeImageOptions(a);
    if (!image_options.ok()) {
      std::fprintf(stderr, "bank: %s\n", image_options.status().ToString().c_str());
      return 1;
    }
    engram::Standby standby(image);
    engram::Standby::Options options;
    options.image = *std::move(image_options);
    options.take_over = a.take_over;
    const int code = ReplicaCommand(a, [&] { return standby.Start(a.journal, options); });
    if (code >= 0) return code;
    const auto caught_up = std::chrono::steady_clock::now();
    const absl::Status promoted = standby.AwaitPromoted(absl::Minutes(1));
    if (absl::IsAborted(promoted) && attempt < 20) {
      std::fprintf(stderr, "bank: the stream moved on while taking over (%s); catching up again\n",
                   std::string(promoted.message()).c_str());
      continue;
    }
    if (!promoted.ok()) {
      std::fprintf(stderr, "bank: cannot take over %s: %s\n", a.journal.c_str(),
                   promoted.ToString().c_str());
      return 1;
    }
    standby.Stop();
    // The epoch record must be in the stream before this node acts as the
    // leader: that acknowledgement is the compare-and-set that won.
    engram::Journal* journal = image.journal();
    const uint64_t epoch_lsn = journal->epoch_record().base_lsn;
    if (absl::Status s = journal->WaitDurable(epoch_lsn, absl::Seconds(60)); !s.ok()) {
      std::fprintf(stderr, "bank: take-over lost: %s\n", s.ToString().c_str());
      return 1;
    }
    // T: from the copy caught up to the stream holding this epoch record
    // (the lock, recovery, the stream's tail checked, the epoch published).
    const engram::Standby::Promotion p = standby.state().promotion;
    std::printf("promoted epoch %llu at LSN %llu in %.0f ms\n",
                static_cast<unsigned long long>(journal->epoch()),
                static_cast<unsigned long long>(epoch_lsn), Since(caught_up) * 1e3);
    std::fprintf(stderr,
                 "bank: takeover: the journal's recovery %.3f ms, then replaying LSN %llu..%llu "
                 "that the image had not applied yet\n",
                 absl::ToDoubleMilliseconds(p.recovery),
                 static_cast<unsigned long long>(p.applied_lsn + 1),
                 static_cast<unsigned long long>(p.last_lsn));
    std::fflush(stdout);
    return Run(a, system, image);
  }
}

int main(int argc, char** argv) {
  Args args;
  CommandLine command_line;
  if (const int code = Parse(argc, argv, &command_line, &args); code >= 0) return code;
  if (args.command == "journal") {
    static engram::EventRegistry registry;
    if (absl::Status s = bank::RegisterEvents(registry); !s.ok()) {
      std::fprintf(stderr, "bank: %s\n", s.ToString().c_str());
      return 1;
    }
    return engram::tools::RunJournalCommand(
        command_line.journal->remaining(),
        [](const engram::RecordView& v) -> std::string {
          absl::StatusOr<std::string> text =
              registry.Describe(v.type_id, v.schema_version, v.payload, v.lsn);
          return text.ok() ? *text : "(undecodable: " + std::string(text.status().message()) + ")";
        },
        "bank");
  }
  if (args.command == "replica") {
    if (args.until_caught_up && !args.take_over) return ReplicaCommand(args);
    return FollowWithImage(args);
  }
  engram::ActorSystemOptions options;
  options.scheduler.threads = args.threads;
  engram::ActorSystem system(options);
  engram::EventRegistry registry;
  if (absl::Status s = bank::RegisterEvents(registry); !s.ok()) {
    std::fprintf(stderr, "bank: %s\n", s.ToString().c_str());
    return 1;
  }
  if (args.command == "replay") return Replay(args, system, registry);
  if (args.command == "hash") return Hash(args, system, registry);
  engram::MemoryImage image(system, registry);
  bank::RegisterKinds(image);
  absl::StatusOr<engram::MemoryImage::Options> made = MakeImageOptions(args);
  if (!made.ok()) {
    std::fprintf(stderr, "bank: %s\n", made.status().ToString().c_str());
    return 1;
  }
  engram::MemoryImage::Options image_options = *std::move(made);
  if (args.command == "check" && access(args.journal.c_str(), F_OK) != 0 && errno == ENOENT) {
    std::fprintf(stderr, "bank: nothing was written: %s does not exist\n", args.journal.c_str());
    return kNothingWritten;
  }
  if (args.command == "standby") return StandbyCommand(args, system, image, image_options);
  const auto start = std::chrono::steady_clock::now();
  if (absl::Status s = image.Open(args.journal, image_options); !s.ok()) {
    std::fprintf(stderr, "bank: cannot open %s: %s\n", args.journal.c_str(),
                 s.ToString().c_str());
    return 1;
  }
  const auto& rec = image.recovery();
  std::fprintf(stderr, "bank: recovered %llu streams, %llu events in %.3f s%s%s\n",
               static_cast<unsigned long long>(rec.streams),
               static_cast<unsigned long long>(rec.events), Since(start),
               rec.journal.ToString().empty() ? "" : "; ", rec.journal.ToString().c_str());
  return args.command == "run" ? Run(args, system, image) : Check(args, system, image);
}
