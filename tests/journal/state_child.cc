// Helper for journal_state_test.cc: a follower in another process. Opens
// DIR/STATE, prints "ready SEQ\n" (the wake word it saw), waits for the word
// to change (at most 60 s), then prints
// "woken CHANGED COMMITTED DURABLE CLOSED\n" (CHANGED: 1 if the word changed
// before the deadline) and exits 0.
// Usage: journal_state_child DIR
#include <stdio.h>

#include <string>

#include "absl/time/clock.h"
#include "journal/internal/journal_state_file.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s DIR\n", argv[0]);
    return 2;
  }
  auto state = engram::internal::JournalStateFile::OpenForReader(argv[1]);
  if (!state.ok()) {
    fprintf(stderr, "open: %s\n", std::string(state.status().message()).c_str());
    return 1;
  }
  const uint32_t seen = (*state)->sequence();
  printf("ready %u\n", seen);
  fflush(stdout);
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  // Changed before the deadline: woken, not timed out.
  const bool changed = (*state)->WaitForChange(seen, deadline) && absl::Now() < deadline;
  printf("woken %d %llu %llu %d\n", changed ? 1 : 0,
         static_cast<unsigned long long>((*state)->committed_lsn()),
         static_cast<unsigned long long>((*state)->durable_lsn()),
         (*state)->closed() ? 1 : 0);
  fflush(stdout);
  return 0;
}
