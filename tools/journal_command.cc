#include "engram/tools/journal_command.h"

#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <iostream>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "engram/journal/epoch.h"
#include "engram/journal/journal_scan.h"
#include "engram/journal/reader.h"
#include "engram/tools/cli_flags.h"
#include "image/internal/catalog_entry.h"

namespace engram::tools {
static_assert(kExitUsage == cli::kExitUsage, "one exit code for a bad command line");

namespace {

// The program name in messages: "engram", or the embedding application's.
std::string g_program = "engram";

int Fail(const absl::Status& s) {
  std::fprintf(stderr, "%s: %s\n", g_program.c_str(), std::string(s.message()).c_str());
  return kExitFailure;
}

int Usage(const std::string& what) {
  std::fprintf(stderr, "%s: %s (try: %s journal --help)\n", g_program.c_str(), what.c_str(),
               g_program.c_str());
  return kExitUsage;
}

// Progress on stderr, only when stderr is a terminal.
class Progress {
 public:
  explicit Progress(const char* what) : what_(what), tty_(isatty(2) != 0) {}
  ~Progress() {
    if (tty_ && shown_) std::fprintf(stderr, "\r\033[K");
  }
  void Update(uint64_t done, uint64_t total) {
    if (!tty_ || total == 0) return;
    const absl::Time now = absl::Now();
    if (shown_ && now - last_ < absl::Milliseconds(100) && done != total) return;
    last_ = now;
    shown_ = true;
    std::fprintf(stderr, "\r%s: %3d%% (%" PRIu64 " / %" PRIu64 " MiB)", what_,
                 static_cast<int>(done * 100 / total), done >> 20, total >> 20);
    std::fflush(stderr);
  }

 private:
  const char* what_;
  const bool tty_;
  bool shown_ = false;
  absl::Time last_;
};

std::string FormatTime(int64_t ns) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", absl::FromUnixNanos(ns),
                          absl::UTCTimeZone());
}

constexpr size_t kPreviewBytes = 32;

// Up to 32 payload bytes: printable ASCII as is, others as \xNN.
std::string Preview(absl::string_view p) {
  std::string out;
  const size_t n = std::min(p.size(), kPreviewBytes);
  for (size_t i = 0; i < n; ++i) {
    const unsigned char c = static_cast<unsigned char>(p[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += static_cast<char>(c);
    } else {
      absl::StrAppendFormat(&out, "\\x%02x", c);
    }
  }
  if (p.size() > n) out += "...";
  return out;
}

// The same 32 bytes for a JSON string: each byte is the code point of the
// same value (Latin-1), so that dumping with ensure_ascii writes a byte
// that is not printable ASCII as \u00NN and a reader gets the bytes back.
std::string JsonPreview(absl::string_view p) {
  std::string out;
  const size_t n = std::min(p.size(), kPreviewBytes);
  for (size_t i = 0; i < n; ++i) {
    const unsigned char c = static_cast<unsigned char>(p[i]);
    if (c < 0x80) {
      out += static_cast<char>(c);
    } else {  // U+0080..U+00FF in UTF-8
      out += static_cast<char>(0xc0 | (c >> 6));
      out += static_cast<char>(0x80 | (c & 0x3f));
    }
  }
  if (p.size() > n) out += "...";
  return out;
}

// Type names learned from a memory image's records: stream 0 / type 0
// records catalog "<type id>=<name>"; other type 0 records create a stream
// whose kind is the payload.
class TypeNames {
 public:
  // A malformed entry teaches nothing: dump shows the record as it is.
  void Learn(const RecordView& v) {
    if (!internal::IsCatalogRecord(v.stream_id, v.type_id)) return;
    absl::StatusOr<internal::CatalogEntry> entry = internal::ParseCatalogEntry(v.payload);
    if (entry.ok()) names_[entry->type_id] = std::move(entry->name);
  }
  // "" when nothing is known.
  std::string NameOf(const RecordView& v) const {
    if (IsEpochRecord(v)) return "epoch";
    if (v.type_id == 0) {
      if (internal::IsCatalogRecord(v.stream_id, v.type_id)) return "type catalog";
      return names_.empty() ? std::string() : "stream created";
    }
    auto it = names_.find(v.type_id);
    return it == names_.end() ? std::string() : it->second;
  }
  std::string NameOf(uint32_t type_id) const {
    auto it = names_.find(type_id);
    return it == names_.end() ? std::string() : it->second;
  }

 private:
  std::map<uint32_t, std::string> names_;
};

// Set for the duration of RunJournalCommand(args, describe).
const RecordDescriber* g_describe = nullptr;

// An epoch record's fields as text: "epoch=2 previous=1 base_lsn=17
// node=host pid=42 start=2026-12-02T04:40:30.123456Z".
std::string EpochText(const EpochRecord& e) {
  return absl::StrFormat("epoch=%u previous=%u base_lsn=%u node=%s pid=%u start=%s", e.epoch,
                         e.previous_epoch, e.base_lsn, e.node, e.pid,
                         FormatTime(e.start_unix_ns));
}

void PrintRecord(const RecordView& v, bool json, const TypeNames& names) {
  const std::string name = names.NameOf(v);
  std::optional<absl::StatusOr<EpochRecord>> epoch;
  if (IsEpochRecord(v)) epoch = DecodeEpochRecord(v.payload);
  std::string text;
  if (epoch.has_value()) {
    text = epoch->ok() ? EpochText(**epoch)
                       : absl::StrCat("bad epoch record: ", epoch->status().message());
  } else if (g_describe != nullptr && *g_describe) {
    text = (*g_describe)(v);
  }
  if (json) {
    // One object per line; ordered_json keeps the field order below.
    nlohmann::ordered_json j;
    j["lsn"] = v.lsn;
    j["stream"] = v.stream_id;
    j["version"] = v.stream_version;
    j["type"] = v.type_id;
    if (!name.empty()) j["type_name"] = name;
    j["schema"] = static_cast<unsigned>(v.schema_version);
    j["flags"] = static_cast<unsigned>(v.flags);
    j["time_ns"] = v.timestamp_ns;
    j["time"] = FormatTime(v.timestamp_ns);
    j["size"] = v.payload.size();
    j["batch"] = v.batch_count;
    j["payload"] = JsonPreview(v.payload);
    if (epoch.has_value() && epoch->ok()) {
      const EpochRecord& e = **epoch;
      nlohmann::ordered_json je;
      je["epoch"] = e.epoch;
      je["previous"] = e.previous_epoch;
      je["base_lsn"] = e.base_lsn;
      je["journal_id"] = absl::StrFormat("%016x", e.journal_id);
      je["node"] = e.node;
      je["pid"] = e.pid;
      je["start_ns"] = e.start_unix_ns;
      je["start"] = FormatTime(e.start_unix_ns);
      j["epoch"] = je;
    }
    if (!text.empty()) j["text"] = text;
    // ensure_ascii: the Latin-1 preview as \u00NN; invalid UTF-8 in a name
    // or a description becomes U+FFFD instead of an exception.
    const std::string line =
        j.dump(-1, ' ', /*ensure_ascii=*/true, nlohmann::ordered_json::error_handler_t::replace);
    std::printf("%s\n", line.c_str());
  } else {
    std::printf("%" PRIu64 " stream=%" PRIu64 " version=%" PRIu64
                " type=%u%s schema=%u time=%s size=%zu payload=\"%s\"%s\n",
                v.lsn, v.stream_id, v.stream_version, v.type_id,
                name.empty() ? "" : absl::StrCat("(", name, ")").c_str(), v.schema_version,
                FormatTime(v.timestamp_ns).c_str(), v.payload.size(),
                Preview(v.payload).c_str(),
                text.empty() ? "" : absl::StrCat(" ", text).c_str());
  }
}

// Parsed `DIR [--from N] [--to N] [--json] [--idle-exit MS]`.
struct Args {
  std::string command;
  std::string dir;
  uint64_t from = 0;
  bool has_from = false;
  uint64_t to = std::numeric_limits<uint64_t>::max();
  bool json = false;
  int64_t idle_exit_ms = -1;
};

// A value that must be a decimal number >= 0 (an LSN, milliseconds).
const CLI::Validator& NonNegative() {
  static const CLI::Validator v(
      [](std::string& s) -> std::string {
        uint64_t n = 0;
        if (!s.empty() && s[0] != '+' && absl::SimpleAtoi(s, &n)) return "";
        return absl::StrCat("expects a non-negative number, got '", s, "'");
      },
      "", "NonNegative");
  return v;
}

// The `journal` command line; fills `*a` when parsed.
std::unique_ptr<CLI::App> MakeApp(Args* a) {
  auto app = std::make_unique<CLI::App>(
      "Inspect an engram journal directory (read-only: works beside a running writer).\n"
      "Exit codes: 0 ok, 1 damage or error, 2 bad arguments.",
      g_program + " journal");
  app->require_subcommand(0, 1);  // one command; a second name is an extra argument
  auto dir = [&](CLI::App* cmd) {
    cmd->add_option("DIR", a->dir, "the journal directory")->required();
  };
  auto from = [&](CLI::App* cmd, const char* what) {
    cmd->add_option("--from", a->from, what)
        ->type_name("LSN")
        ->check(NonNegative())
        ->each([a](const std::string&) { a->has_from = true; });
  };
  CLI::App* verify = app->add_subcommand(
      "verify",
      "Check every segment header and record checksum; exit 0 when clean (a torn tail is a "
      "warning).");
  dir(verify);
  CLI::App* dump = app->add_subcommand(
      "dump",
      "One line per record: LSN, stream, version, type, time, size, payload preview.");
  dir(dump);
  from(dump, "first LSN to print (default: the oldest)");
  dump->add_option("--to", a->to, "last LSN to print (default: the newest)")
      ->type_name("LSN")
      ->check(NonNegative());
  dump->add_flag("--json", a->json, "one JSON object per record");
  CLI::App* stats = app->add_subcommand(
      "stats", "Records, bytes, LSN range, segments, time range, counts per type.");
  dir(stats);
  CLI::App* tail = app->add_subcommand(
      "tail", "Follow a live journal like tail -f, from the last 10 records unless --from.");
  dir(tail);
  from(tail, "first LSN to print");
  tail->add_option("--idle-exit", a->idle_exit_ms,
                   "exit after MS milliseconds without a new record (default: never)")
      ->type_name("MS")
      ->check(NonNegative());
  for (CLI::App* cmd : {verify, dump, stats, tail}) {
    cmd->callback([a, cmd] { a->command = cmd->get_name(); });
  }
  return app;
}

int Verify(const Args& a) {
  Progress progress("verifying");
  auto rep = ScanJournal(
      a.dir, [](const RecordView&) {},
      [&](uint64_t d, uint64_t t) { progress.Update(d, t); });
  if (!rep.ok()) return Fail(rep.status());
  if (rep->corrupt) return Fail(rep->CorruptionStatus());
  if (rep->torn) {
    std::fprintf(stderr, "engram: warning: %s; recovery will cut it\n",
                 rep->TornDescription().c_str());
  }
  std::printf("ok: %" PRIu64 " records, LSN %" PRIu64 "..%" PRIu64 ", %zu segment(s)\n",
              rep->records, rep->first_lsn, rep->last_lsn, rep->segments.size());
  return kExitOk;
}

int Stats(const Args& a) {
  Progress progress("scanning");
  std::map<uint32_t, uint64_t> per_type;
  TypeNames names;
  std::vector<absl::StatusOr<EpochRecord>> epochs;
  int64_t min_time = std::numeric_limits<int64_t>::max(), max_time = 0;
  auto rep = ScanJournal(
      a.dir,
      [&](const RecordView& v) {
        names.Learn(v);
        if (IsEpochRecord(v)) {
          absl::StatusOr<EpochRecord> e = DecodeEpochRecord(v.payload);
          if (!e.ok()) {
            e = absl::Status(e.status().code(),
                             absl::StrCat("LSN ", v.lsn, ": ", e.status().message()));
          }
          epochs.push_back(std::move(e));
        }
        ++per_type[v.type_id];
        min_time = std::min(min_time, v.timestamp_ns);
        max_time = std::max(max_time, v.timestamp_ns);
      },
      [&](uint64_t d, uint64_t t) { progress.Update(d, t); });
  if (!rep.ok()) return Fail(rep.status());
  uint64_t file_bytes = 0;
  for (const SegmentInfo& s : rep->segments) file_bytes += s.file_size;
  std::printf("records: %" PRIu64 "\n", rep->records);
  std::printf("lsn range: %" PRIu64 "..%" PRIu64 "\n", rep->first_lsn, rep->last_lsn);
  std::printf("record bytes: %" PRIu64 " (payload %" PRIu64 ")\n", rep->record_bytes,
              rep->payload_bytes);
  std::printf("segments: %zu (%" PRIu64 " bytes on disk)\n", rep->segments.size(),
              file_bytes);
  if (rep->records > 0) {
    std::printf("time range: %s .. %s\n", FormatTime(min_time).c_str(),
                FormatTime(max_time).c_str());
  }
  std::printf("records per type:\n");
  for (const auto& [type, n] : per_type) {
    const std::string name =
        type == kEpochTypeId && !epochs.empty() ? "epoch" : names.NameOf(type);
    std::printf("  type %u%s: %" PRIu64 "\n", type,
                name.empty() ? "" : absl::StrCat(" (", name, ")").c_str(), n);
  }
  std::printf("epochs: %zu\n", epochs.size());
  for (const absl::StatusOr<EpochRecord>& e : epochs) {
    if (e.ok()) {
      std::printf("  %s\n", DescribeEpochRecord(*e).c_str());
    } else {
      std::printf("  bad epoch record: %s\n", std::string(e.status().message()).c_str());
    }
  }
  if (rep->corrupt) return Fail(rep->CorruptionStatus());
  if (rep->torn) {
    std::fprintf(stderr, "engram: warning: %s\n", rep->TornDescription().c_str());
  }
  return kExitOk;
}

int Dump(const Args& a) {
  // Report a --from that retention deleted, as before; then read from the
  // oldest record so that type names cataloged before --from are known.
  if (a.from > 0) {
    auto at = Reader::Open(a.dir, a.from);
    if (!at.ok()) return Fail(at.status());
  }
  auto r = Reader::Open(a.dir, 0);
  if (!r.ok()) return Fail(r.status());
  TypeNames names;
  RecordView v;
  for (;;) {
    if ((*r)->next_lsn() > a.to) break;
    auto got = (*r)->Next(&v);
    if (!got.ok()) {
      std::fflush(stdout);
      return Fail(got.status());
    }
    if (!*got) break;
    names.Learn(v);
    if (v.lsn >= a.from) PrintRecord(v, a.json, names);
  }
  return kExitOk;
}

int Tail(const Args& a) {
  uint64_t from = a.from;
  if (!a.has_from) {
    auto end = Reader::Open(a.dir, std::numeric_limits<uint64_t>::max());
    if (!end.ok()) return Fail(end.status());
    const uint64_t next = (*end)->next_lsn();
    from = next > 10 ? next - 10 : 0;
    auto oldest = Reader::Open(a.dir, 0);
    if (!oldest.ok()) return Fail(oldest.status());
    from = std::max(from, (*oldest)->next_lsn());
  }
  auto r = Reader::Open(a.dir, from);
  if (!r.ok()) return Fail(r.status());
  RecordView v;
  // Type names cataloged before the first record shown.
  TypeNames names;
  if (auto early = Reader::Open(a.dir, 0); early.ok()) {
    while ((*early)->next_lsn() < from) {
      auto got = (*early)->Next(&v);
      if (!got.ok() || !*got) break;
      names.Learn(v);
    }
  }
  absl::Time last = absl::Now();
  for (;;) {
    auto got = (*r)->NextWait(&v, absl::Milliseconds(200));
    if (!got.ok()) return Fail(got.status());
    if (*got) {
      names.Learn(v);
      PrintRecord(v, false, names);
      std::fflush(stdout);
      last = absl::Now();
    } else if (a.idle_exit_ms >= 0 &&
               absl::Now() - last >= absl::Milliseconds(a.idle_exit_ms)) {
      return kExitOk;
    }
  }
}

}  // namespace

const char* JournalUsage() {
  static const std::string usage = [] {
    Args a;
    return MakeApp(&a)->help();
  }();
  return usage.c_str();
}

int RunJournalCommand(const std::vector<std::string>& args, RecordDescriber describe,
                      const std::string& program) {
  g_describe = &describe;
  g_program = program;
  const int code = RunJournalCommand(args);
  g_describe = nullptr;
  g_program = "engram";
  return code;
}

int RunJournalCommand(const std::vector<std::string>& args) {
  if (args.empty()) return Usage("'journal' needs a command: verify, dump, stats or tail");
  Args a;
  std::unique_ptr<CLI::App> app = MakeApp(&a);
  const std::string& cmd = args[0];
  if (cmd == "help") {
    std::fputs(app->help().c_str(), stdout);
    return kExitOk;
  }
  const bool known = cmd == "verify" || cmd == "dump" || cmd == "stats" || cmd == "tail";
  if (cmd.empty() || (cmd[0] != '-' && !known)) {
    return Usage(absl::StrCat("unknown journal command '", cmd, "'"));
  }
  std::vector<std::string> reversed(args.rbegin(), args.rend());  // CLI11 pops the back
  if (const std::optional<int> code = cli::ParseWith(*app, g_program, g_program + " journal",
                                                     [&] { app->parse(reversed); })) {
    return *code;
  }
  if (a.command.empty()) return Usage("'journal' needs a command: verify, dump, stats or tail");
  if (a.from > a.to) {
    std::fprintf(stderr,
                 "%s: --from %" PRIu64 " is after --to %" PRIu64 " (try: %s journal dump --help)\n",
                 g_program.c_str(), a.from, a.to, g_program.c_str());
    return kExitUsage;
  }
  if (a.command == "verify") return Verify(a);
  if (a.command == "stats") return Stats(a);
  if (a.command == "dump") return Dump(a);
  return Tail(a);
}

}  // namespace engram::tools
