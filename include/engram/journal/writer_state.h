// What a journal's writer has published about itself in the journal's
// shared state page (<dir>/STATE, see journal/FORMAT.md): how far records
// are committed, durable and replicated, its epoch, its PID, whether it
// closed, and how long ago it last beat. A same-host follower reads it
// (Reader::writer_state()) to hold back answers the leader could still
// lose (serve only up to durable_lsn, or replicated_lsn) and to notice a
// hung leader (a heartbeat_age far beyond the writer's heartbeat period).
//
// Thread-safety: a plain value, a snapshot taken field by field (the fields
// are not one atomic view: each is at least as new as the writer's state
// when the snapshot began).
#ifndef ENGRAM_JOURNAL_WRITER_STATE_H_
#define ENGRAM_JOURNAL_WRITER_STATE_H_

#include <cstdint>

#include "absl/time/time.h"

namespace engram {

struct WriterState {
  // False if the journal has no state page (a writer that predates it, or
  // none has opened the journal yet); every other field is then zero.
  bool present = false;
  uint64_t journal_id = 0;
  uint64_t epoch = 0;
  // Every LSN <= committed_lsn is published in the segments (a writer's
  // process crash keeps it; a power cut may not).
  uint64_t committed_lsn = 0;
  // Every LSN <= durable_lsn is durable at the journal's durability level
  // (equal to committed_lsn at Durability::kProcess).
  uint64_t durable_lsn = 0;
  // Every LSN <= replicated_lsn is acknowledged by the replicas (0 when the
  // journal is not replicated).
  uint64_t replicated_lsn = 0;
  // The writer's process id (on this host).
  uint32_t pid = 0;
  // The writer closed the journal cleanly (a crashed writer never sets it).
  bool closed = false;
  // Time since the writer's last heartbeat, measured on CLOCK_MONOTONIC.
  absl::Duration heartbeat_age = absl::ZeroDuration();
};

}  // namespace engram

#endif  // ENGRAM_JOURNAL_WRITER_STATE_H_
