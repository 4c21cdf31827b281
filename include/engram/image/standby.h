// A hot standby on the same host: keeps a MemoryImage of a journal that
// another process writes up to date, serves read-only queries from it, and
// takes over as the journal's writer when that process dies.
//
// Following: the image is opened read-only and tails the journal, woken by
// the writer through the journal's state page (no sleep-polling), applying
// each record to its own actors. It applies only records within the
// horizon (default: durable at the journal's level), so an answer from the
// standby never shows state the leader could still lose. Commands that
// emit events, and Spawn, fail with kFailedPrecondition until it takes over.
//
// Taking over: the standby waits on the journal's writer lock
// (WriterLock::Await). The kernel drops it when the leader's process dies
// or closes the journal; a leader that is alive but hung (SIGSTOP) keeps it,
// and the standby keeps following and reports the leader's stale
// heartbeat instead. Once it holds the lock it opens the journal as writer
// with that same lock (recovery, then its own epoch record, synced), replays
// what the leader committed beyond the horizon, and the image accepts
// commands: its actors are the same actors, with their state, so the
// application resumes in-flight work (sagas, timers) as after a restart, in
// its on_promoted callback. A process that starts a Standby while the lock
// is free becomes the writer at once; one that finds it held (a restarted
// old leader) follows.
//
// Thread-safety: Start and Stop from one thread; every other method from
// any thread. Ownership: the image must outlive the Standby. The Standby
// runs two threads of its own (following, and waiting for the lock);
// destruction stops them and leaves the image open (as the writer, if it
// took over). A replay error inside an actor while following stops that
// actor (as in recovery) but is not reported until a command reaches it.
#ifndef ENGRAM_IMAGE_STANDBY_H_
#define ENGRAM_IMAGE_STANDBY_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "engram/base/internal/mutex.h"
#include "engram/image/memory_image.h"
#include "engram/journal/reader.h"
#include "engram/journal/writer_state.h"

namespace engram {

class Standby {
 public:
  // What a takeover did.
  struct Promotion {
    uint64_t epoch = 0;        // the epoch this process writes in
    uint64_t applied_lsn = 0;  // applied while following, when the lock came free
    uint64_t last_lsn = 0;     // the journal's end after the takeover (its epoch record)
    absl::Duration takeover;   // from holding the lock to accepting commands
    absl::Duration recovery;   // of that, the journal's recovery (Journal::Open)
  };
  struct Options {
    // The image's options once it is the writer (journal, snapshots, bus);
    // read_only and replay_to_lsn must be unset.
    MemoryImage::Options image;
    // What the standby applies while following.
    ReadHorizon horizon = ReadHorizon::kDurable;
    // False: follow only, never take the lock.
    bool take_over = true;
    // Called on the standby's thread once it is the writer (resume sagas
    // and timers here), before promoted() turns true and AwaitPromoted
    // returns; the image accepts commands already.
    std::function<void(const Promotion&)> on_promoted;
    // A leader whose heartbeat is older than this while it holds the lock
    // is reported (once per stall) through on_stale_leader.
    absl::Duration stale_after = absl::Seconds(1);
    std::function<void(const WriterState&)> on_stale_leader;
  };
  // The state of a standby, as status() reports it.
  struct State {
    bool promoted = false;
    uint64_t applied_lsn = 0;  // last record applied (the image reflects it)
    WriterState leader;        // the leader's state page, as last read
    bool leader_stale = false;  // its heartbeat is older than stale_after
    absl::Status error;        // what stopped it, if anything did
    Promotion promotion;       // once promoted: what the takeover did
  };

  explicit Standby(MemoryImage& image);
  ~Standby();
  Standby(const Standby&) = delete;
  Standby& operator=(const Standby&) = delete;

  // Opens `image` on the journal in `dir` (with its kinds registered, not
  // yet open): as the writer if the lock is free (on_promoted runs before
  // Start returns), else following it, having replayed up to the horizon.
  // Errors: those of MemoryImage::Open; kInvalidArgument for read_only or
  // replay_to_lsn in the options; kDeadlineExceeded if the leader holds the
  // lock but has not created the journal within 10 s.
  absl::Status Start(const std::string& dir, const Options& options);
  // Stops following and waiting for the lock (the image stays as it is).
  void Stop();

  bool promoted() const { return promoted_.load(std::memory_order_acquire); }
  // LSN of the last record applied (while following), or replayed.
  uint64_t applied_lsn() const { return applied_lsn_.load(std::memory_order_acquire); }
  State state() const;
  // Waits until applied_lsn() >= lsn (OK), the standby failed (its error),
  // or `timeout` passed (kDeadlineExceeded naming both LSNs).
  absl::Status AwaitApplied(uint64_t lsn, absl::Duration timeout) const;
  // Waits until the standby is the writer (OK), failed, or `timeout`.
  absl::Status AwaitPromoted(absl::Duration timeout) const;

 private:
  void FollowLoop();
  void LockLoop();
  // Takes over with the lock held (error_ set on failure).
  void TakeOver(std::unique_ptr<WriterLock> lock);
  // The image is the writer now: completes `p` from its journal, runs
  // on_promoted, then sets promoted_ and wakes AwaitPromoted.
  void Promoted(Promotion p) ABSL_LOCKS_EXCLUDED(mu_);
  void Fail(absl::Status s) ABSL_LOCKS_EXCLUDED(mu_);
  // Reads the leader's page (following thread) and reports a stall.
  void CheckLeader();
  void Publish(uint64_t applied) ABSL_LOCKS_EXCLUDED(mu_);

  MemoryImage& image_;
  std::string dir_;
  Options options_;

  // Written by the following thread (and by TakeOver once it stopped);
  // release, so that a reader of the LSN sees the actors' mailboxes filled.
  std::atomic<uint64_t> applied_lsn_{0};
  // Set by TakeOver once the image is the writer (release).
  std::atomic<bool> promoted_{false};
  // Set by Stop (or the lock thread to end following); relaxed polls, the
  // threads are joined after it.
  std::atomic<bool> stop_following_{false};
  std::atomic<bool> stop_{false};

  mutable Mutex mu_;
  mutable CondVar cv_;  // signalled on every Publish, promotion and failure
  WriterState leader_ ABSL_GUARDED_BY(mu_);
  bool leader_stale_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status error_ ABSL_GUARDED_BY(mu_);
  Promotion promotion_ ABSL_GUARDED_BY(mu_);
  absl::Time last_leader_check_ = absl::InfinitePast();  // following thread only

  std::thread follow_thread_;
  std::thread lock_thread_;
};

}  // namespace engram

#endif  // ENGRAM_IMAGE_STANDBY_H_
