#include "engram/image/snapshot_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>

#include <xxhash.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "journal/internal/mapped_file.h"

namespace engram {
namespace {

constexpr char kMagic[8] = {'E', 'N', 'G', 'S', 'N', 'A', 'P', '1'};
constexpr size_t kHeader = 8 + 8 * 5;

using internal::ErrnoStatus;

void PutU64(std::string* out, uint64_t v) {
  char b[8];
  std::memcpy(b, &v, 8);
  out->append(b, 8);
}

uint64_t GetU64(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

absl::Status WriteAll(int fd, const std::string& data, const std::string& path) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, absl::StrCat("write ", path));
    }
    done += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

}  // namespace

std::string SnapshotStore::FileName(uint64_t stream_id, uint64_t version) {
  return absl::StrFormat("%d-%020d.snap", stream_id, version);
}

absl::Status SnapshotStore::Init() const {
  std::error_code ec;
  const bool created = std::filesystem::create_directories(dir_, ec);
  if (ec) return absl::InternalError(absl::StrCat("create ", dir_, ": ", ec.message()));
  if (created) {
    // The directory's own entry, or a power cut takes every snapshot in it.
    std::string parent = std::filesystem::path(dir_).parent_path().string();
    if (parent.empty()) parent = ".";
    if (absl::Status s = internal::SyncDirectory(parent); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status SnapshotStore::Write(const Snapshot& s) const {
  std::string data(kMagic, sizeof kMagic);
  PutU64(&data, s.stream_id);
  PutU64(&data, s.version);
  PutU64(&data, s.lsn);
  PutU64(&data, s.state.size());
  XXH3_state_t* h = XXH3_createState();
  XXH3_64bits_reset(h);
  XXH3_64bits_update(h, data.data(), data.size());
  XXH3_64bits_update(h, s.state.data(), s.state.size());
  PutU64(&data, XXH3_64bits_digest(h));
  XXH3_freeState(h);

  const std::string final_path = absl::StrCat(dir_, "/", FileName(s.stream_id, s.version));
  const std::string tmp = absl::StrCat(final_path, ".tmp");
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoStatus(errno, absl::StrCat("create ", tmp));
  absl::Status st = WriteAll(fd, data, tmp);  // the header
  if (st.ok()) st = WriteAll(fd, s.state, tmp);  // the state, not copied
  if (st.ok() && fdatasync(fd) != 0) st = ErrnoStatus(errno, absl::StrCat("fdatasync ", tmp));
  if (close(fd) != 0 && st.ok()) st = ErrnoStatus(errno, absl::StrCat("close ", tmp));
  if (st.ok() && rename(tmp.c_str(), final_path.c_str()) != 0) {
    st = ErrnoStatus(errno, absl::StrCat("rename ", tmp));
  }
  if (!st.ok()) {
    if (unlink(tmp.c_str()) != 0 && errno != ENOENT) {
      return absl::Status(st.code(), absl::StrCat(st.message(), " (and removing ", tmp,
                                                  " failed: ", std::strerror(errno), ")"));
    }
    return st;
  }
  // The new name must be durable before older snapshots are pruned.
  if (absl::Status d = internal::SyncDirectory(dir_); !d.ok()) return d;
  // Keep the newest `keep_` of this stream.
  std::vector<std::string> mine;
  const std::string prefix = absl::StrCat(s.stream_id, "-");
  std::error_code ec;
  for (std::filesystem::directory_iterator it(dir_, ec), end; !ec && it != end;
       it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (absl::StartsWith(name, prefix) && absl::EndsWith(name, ".snap")) mine.push_back(name);
  }
  if (ec) {
    return absl::InternalError(absl::StrCat("list ", dir_, " to prune old snapshots of stream ",
                                            s.stream_id, ": ", ec.message()));
  }
  std::sort(mine.begin(), mine.end());
  for (size_t i = 0; i + keep_ < mine.size(); ++i) {
    const std::filesystem::path old = std::filesystem::path(dir_) / mine[i];
    if (!std::filesystem::remove(old, ec) && ec) {
      return absl::InternalError(
          absl::StrCat("remove old snapshot ", old.string(), ": ", ec.message()));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<SnapshotStore::Snapshot> SnapshotStore::Read(const std::string& path) const {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, absl::StrCat("open ", path));
  struct stat st;
  if (fstat(fd, &st) != 0) {
    const int e = errno;
    close(fd);
    return ErrnoStatus(e, absl::StrCat("stat ", path));
  }
  // Reads up to `len` bytes at `off` into `out`; returns the count read.
  auto read_at = [fd](char* out, size_t len, off_t off) {
    size_t done = 0;
    while (done < len) {
      ssize_t n = pread(fd, out + done, len - done, off + static_cast<off_t>(done));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      done += static_cast<size_t>(n);
    }
    return done;
  };
  std::string data(kHeader, '\0');
  const size_t got_header = read_at(data.data(), kHeader, 0);
  if (got_header < kHeader || std::memcmp(data.data(), kMagic, sizeof kMagic) != 0) {
    close(fd);
    return absl::DataLossError("not a snapshot file (bad magic or short header)");
  }
  Snapshot s;
  s.stream_id = GetU64(data.data() + 8);
  s.version = GetU64(data.data() + 16);
  s.lsn = GetU64(data.data() + 24);
  const uint64_t len = GetU64(data.data() + 32);
  const uint64_t sum = GetU64(data.data() + 40);
  const uint64_t follows = static_cast<uint64_t>(st.st_size) - kHeader;
  if (follows != len) {
    close(fd);
    return absl::DataLossError(absl::StrCat("state length ", len, " but ", follows,
                                            " bytes follow"));
  }
  s.state.resize(len);
  const size_t got_state = read_at(s.state.data(), len, kHeader);
  close(fd);
  if (got_state != len) return absl::DataLossError("file shrank while being read");
  XXH3_state_t* h = XXH3_createState();
  XXH3_64bits_reset(h);
  XXH3_64bits_update(h, data.data(), 40);
  XXH3_64bits_update(h, s.state.data(), len);
  const uint64_t got = XXH3_64bits_digest(h);
  XXH3_freeState(h);
  if (got != sum) return absl::DataLossError("checksum mismatch");
  return s;
}

absl::StatusOr<std::vector<SnapshotStore::Snapshot>> SnapshotStore::LoadNewest(
    std::vector<Rejected>* rejected, uint64_t max_lsn) const {
  std::vector<Snapshot> out;
  std::error_code ec;
  if (!std::filesystem::exists(dir_, ec)) {
    if (ec) return absl::InternalError(absl::StrCat("stat ", dir_, ": ", ec.message()));
    return out;
  }
  // stream id -> its files, newest last
  std::map<uint64_t, std::vector<std::string>> by_stream;
  for (std::filesystem::directory_iterator it(dir_, ec), end; !ec && it != end;
       it.increment(ec)) {
    const std::filesystem::directory_entry& entry = *it;
    const std::string name = entry.path().filename().string();
    absl::string_view v = name;
    if (!absl::ConsumeSuffix(&v, ".snap")) continue;  // incl. leftover .tmp files
    std::vector<absl::string_view> parts = absl::StrSplit(v, '-');
    uint64_t id = 0;
    if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &id)) continue;
    by_stream[id].push_back(entry.path().string());
  }
  if (ec) return absl::InternalError(absl::StrCat("list snapshots in ", dir_, ": ", ec.message()));
  for (auto& [id, files] : by_stream) {
    std::sort(files.begin(), files.end());
    for (auto it = files.rbegin(); it != files.rend(); ++it) {
      absl::StatusOr<Snapshot> s = Read(*it);
      if (s.ok() && s->stream_id != id) {
        s = absl::DataLossError(absl::StrCat("holds stream ", s->stream_id));
      }
      if (s.ok() && s->lsn > max_lsn) {
        s = absl::DataLossError(absl::StrCat(
            "covers LSN ", s->lsn, ", beyond the journal's end at LSN ", max_lsn,
            " (the journal lost records the snapshot holds)"));
      }
      if (s.ok()) {
        out.push_back(std::move(*s));
        break;
      }
      if (rejected) rejected->push_back({*it, std::string(s.status().message())});
    }
  }
  return out;
}

}  // namespace engram
