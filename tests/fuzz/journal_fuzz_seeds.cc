// Writes seed inputs for journal_segment_fuzzer into DIR: real segment files
// (mode byte 0) and their record areas (mode byte 1), including a batch and
// a torn tail. Usage: journal_fuzz_seeds DIR
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "journal/internal/format.h"
#include "engram/journal/journal.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DIR\n", argv[0]);
    return 2;
  }
  const std::string out = argv[1];
  mkdir(out.c_str(), 0755);
  char tmpl[] = "/tmp/engram-fuzz-seeds-XXXXXX";
  const std::string jdir = std::string(mkdtemp(tmpl)) + "/j";
  {
    engram::JournalOptions o;
    o.segment_size = 4096;
    o.prefault = false;
    auto j = engram::Journal::Open(jdir, o);
    if (!j.ok()) {
      std::fprintf(stderr, "%s\n", std::string(j.status().message()).c_str());
      return 1;
    }
    for (int i = 0; i < 5; ++i) {
      engram::RecordInput in;
      std::string p(static_cast<size_t>(i * 13), static_cast<char>('a' + i));
      in.type_id = static_cast<uint32_t>(i);
      in.payload = p;
      (void)(*j)->Append(in);
    }
    engram::RecordInput batch[3];
    batch[0].payload = "x";
    batch[1].payload = "yy";
    batch[2].payload = "zzz";
    (void)(*j)->AppendBatch(batch);
  }
  std::ifstream in(jdir + "/" + engram::internal::SegmentFileName(1), std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string seg = ss.str();
  size_t end = seg.find_last_not_of('\0') + 1;
  end = (end + 7) & ~size_t{7};
  auto write = [&](const std::string& name, char mode, const std::string& bytes) {
    std::ofstream f(out + "/" + name, std::ios::binary);
    f.put(mode);
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  };
  write("segment", 0, seg.substr(0, end));
  write("records", 1, seg.substr(64, end - 64));
  write("torn", 1, seg.substr(64, end - 64 - 5));
  write("header-only", 0, seg.substr(0, 64));
  // Remove the scratch journal.
  if (DIR* d = opendir(jdir.c_str())) {
    while (struct dirent* e = readdir(d)) {
      if (e->d_name[0] != '.') unlink((jdir + "/" + e->d_name).c_str());
    }
    closedir(d);
  }
  rmdir(jdir.c_str());
  rmdir(jdir.substr(0, jdir.size() - 2).c_str());
  return 0;
}
