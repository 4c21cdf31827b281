#include "engram/tools/journal_command.h"

#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <limits>
#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "base/json.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "engram/journal/journal_scan.h"
#include "engram/journal/reader.h"

namespace engram::tools {
namespace {

const char kUsage[] =
    "usage: engram journal <command> DIR [options]\n"
    "commands:\n"
    "  verify DIR                 check every segment header and record checksum;\n"
    "                             exit 0 when clean (a torn tail is a warning)\n"
    "  dump DIR [--from LSN] [--to LSN] [--json]\n"
    "                             one line per record: LSN, stream, version, type,\n"
    "                             time, size, payload preview\n"
    "  stats DIR                  records, bytes, LSN range, segments, counts per type\n"
    "  tail DIR [--from LSN] [--idle-exit MS]\n"
    "                             follow a live journal like tail -f (from the last\n"
    "                             10 records unless --from); --idle-exit stops after\n"
    "                             MS milliseconds without a new record\n"
    "exit codes: 0 ok, 1 damage or error, 2 bad arguments\n";

int Fail(const absl::Status& s) {
  std::fprintf(stderr, "engram: %s\n", std::string(s.message()).c_str());
  return kExitFailure;
}

int Usage(const std::string& what) {
  std::fprintf(stderr, "engram: %s (try: engram journal --help)\n", what.c_str());
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

// Up to 32 payload bytes: printable ASCII as is, others as \xNN.
std::string Preview(absl::string_view p, bool json) {
  std::string out;
  const size_t n = std::min<size_t>(p.size(), 32);
  for (size_t i = 0; i < n; ++i) {
    const unsigned char c = static_cast<unsigned char>(p[i]);
    if (json) {
      if (c == '"' || c == '\\') {
        out += '\\';
        out += static_cast<char>(c);
      } else if (c >= 0x20 && c < 0x7f) {
        out += static_cast<char>(c);
      } else {
        absl::StrAppendFormat(&out, "\\u%04x", c);
      }
    } else if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += static_cast<char>(c);
    } else {
      absl::StrAppendFormat(&out, "\\x%02x", c);
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
  void Learn(const RecordView& v) {
    if (v.type_id != 0 || v.stream_id != 0) return;
    const std::string entry(v.payload);
    const size_t eq = entry.find('=');
    uint32_t id = 0;
    if (eq != std::string::npos && absl::SimpleAtoi(entry.substr(0, eq), &id)) {
      names_[id] = entry.substr(eq + 1);
    }
  }
  // "" when nothing is known.
  std::string NameOf(const RecordView& v) const {
    if (v.type_id == 0) {
      if (v.stream_id == 0) return "type catalog";
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

void PrintRecord(const RecordView& v, bool json, const TypeNames& names) {
  const std::string name = names.NameOf(v);
  const std::string text = g_describe != nullptr && *g_describe ? (*g_describe)(v) : "";
  if (json) {
    std::printf(
        "{\"lsn\":%" PRIu64 ",\"stream\":%" PRIu64 ",\"version\":%" PRIu64
        ",\"type\":%u,%s\"schema\":%u,\"flags\":%u,\"time_ns\":%" PRId64
        ",\"time\":\"%s\",\"size\":%zu,\"batch\":%u,\"payload\":\"%s\"%s}\n",
        v.lsn, v.stream_id, v.stream_version, v.type_id,
        name.empty() ? "" : absl::StrCat("\"type_name\":\"", Preview(name, true), "\",").c_str(),
        v.schema_version, v.flags, v.timestamp_ns, FormatTime(v.timestamp_ns).c_str(),
        v.payload.size(), v.batch_count, Preview(v.payload, true).c_str(),
        text.empty() ? "" : absl::StrCat(",\"text\":\"", JsonEscape(text), "\"").c_str());
  } else {
    std::printf("%" PRIu64 " stream=%" PRIu64 " version=%" PRIu64
                " type=%u%s schema=%u time=%s size=%zu payload=\"%s\"%s\n",
                v.lsn, v.stream_id, v.stream_version, v.type_id,
                name.empty() ? "" : absl::StrCat("(", name, ")").c_str(), v.schema_version,
                FormatTime(v.timestamp_ns).c_str(), v.payload.size(),
                Preview(v.payload, false).c_str(),
                text.empty() ? "" : absl::StrCat(" ", text).c_str());
  }
}

// Parsed `DIR [--from N] [--to N] [--json] [--idle-exit MS]`.
struct Args {
  std::string dir;
  uint64_t from = 0;
  bool has_from = false;
  uint64_t to = std::numeric_limits<uint64_t>::max();
  bool json = false;
  int64_t idle_exit_ms = -1;
};

// Returns "" on success, else the complaint.
std::string ParseArgs(const std::string& cmd, const std::vector<std::string>& a,
                      Args* out) {
  const bool lsn_opts = cmd == "dump" || cmd == "tail";
  for (size_t i = 1; i < a.size(); ++i) {
    const std::string& s = a[i];
    auto value = [&](uint64_t* v) -> std::string {
      if (i + 1 >= a.size()) return s + " needs a value";
      if (!absl::SimpleAtoi(a[i + 1], v)) {
        return absl::StrCat(s, " expects a non-negative number, got '", a[i + 1], "'");
      }
      ++i;
      return "";
    };
    if (lsn_opts && s == "--from") {
      std::string e = value(&out->from);
      if (!e.empty()) return e;
      out->has_from = true;
    } else if (cmd == "dump" && s == "--to") {
      std::string e = value(&out->to);
      if (!e.empty()) return e;
    } else if (cmd == "dump" && s == "--json") {
      out->json = true;
    } else if (cmd == "tail" && s == "--idle-exit") {
      uint64_t ms;
      std::string e = value(&ms);
      if (!e.empty()) return e;
      out->idle_exit_ms = static_cast<int64_t>(ms);
    } else if (!s.empty() && s[0] == '-') {
      return absl::StrCat("unknown option '", s, "' for 'journal ", cmd, "'");
    } else if (out->dir.empty()) {
      out->dir = s;
    } else {
      return absl::StrCat("unexpected argument '", s, "'");
    }
  }
  if (out->dir.empty()) return absl::StrCat("'journal ", cmd, "' needs a DIR");
  if (out->from > out->to) {
    return absl::StrFormat("--from %u is after --to %u", out->from, out->to);
  }
  return "";
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
  int64_t min_time = std::numeric_limits<int64_t>::max(), max_time = 0;
  auto rep = ScanJournal(
      a.dir,
      [&](const RecordView& v) {
        names.Learn(v);
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
    const std::string name = names.NameOf(type);
    std::printf("  type %u%s: %" PRIu64 "\n", type,
                name.empty() ? "" : absl::StrCat(" (", name, ")").c_str(), n);
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

const char* JournalUsage() { return kUsage; }

int RunJournalCommand(const std::vector<std::string>& args, RecordDescriber describe) {
  g_describe = &describe;
  const int code = RunJournalCommand(args);
  g_describe = nullptr;
  return code;
}

int RunJournalCommand(const std::vector<std::string>& args) {
  if (args.empty()) return Usage("'journal' needs a command: verify, dump, stats or tail");
  const std::string& cmd = args[0];
  if (cmd == "-h" || cmd == "--help" || cmd == "help") {
    std::fputs(kUsage, stdout);
    return kExitOk;
  }
  if (cmd != "verify" && cmd != "dump" && cmd != "stats" && cmd != "tail") {
    return Usage(absl::StrCat("unknown journal command '", cmd, "'"));
  }
  Args a;
  std::string err = ParseArgs(cmd, args, &a);
  if (!err.empty()) return Usage(err);
  if (cmd == "verify") return Verify(a);
  if (cmd == "stats") return Stats(a);
  if (cmd == "dump") return Dump(a);
  return Tail(a);
}

}  // namespace engram::tools
