// nats-server processes for tests: one server with JetStream on 127.0.0.1
// (free ports, a temporary store directory), or a cluster of three with
// routes between them. The binary is looked up on PATH (or taken from
// $ENGRAM_NATS_SERVER); a missing binary is an error, never a skip: CI
// installs nats-server 2.9.10.
//
// Every wait is bounded: Start and Restart wait (10 s) until the server
// answers /healthz on its monitoring port with 200, which nats-server 2.9
// does once JetStream is up (and, clustered, has a meta leader).
//
// Thread-safety: none; drive a server from one thread. Ownership: owns the
// child process (killed with SIGKILL and reaped by the destructor; it also
// dies with the test process, PR_SET_PDEATHSIG) and its directory.
#ifndef ENGRAM_TESTS_REPLICATION_NATS_SERVER_H_
#define ENGRAM_TESTS_REPLICATION_NATS_SERVER_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tests/temp_dir.h"

namespace engram::testing {

struct NatsServerOptions {
  // Configuration file text (authorization, TLS, ...), written to
  // <dir>/nats.conf and passed with -c. The command line (address, ports,
  // store directory, cluster) takes precedence over it.
  std::string config;
  // 0: a free port is picked.
  int port = 0;
  int monitor_port = 0;
  // Clustering (NatsCluster sets these): server name, cluster name, this
  // server's route port and the other servers' route ports.
  std::string server_name;
  std::string cluster_name;
  int cluster_port = 0;
  std::vector<int> routes;
  // Bound on Start/Restart waiting for the server to be ready.
  absl::Duration ready_timeout = absl::Seconds(10);
};

class NatsServer {
 public:
  // Starts a server and waits until it is ready. The error says why (binary
  // not found, exited early, not ready in time) with the end of its log.
  static absl::StatusOr<std::unique_ptr<NatsServer>> Start(NatsServerOptions options = {});
  // Starts only: the caller waits with WaitReady (a cluster's servers become
  // ready together).
  static absl::StatusOr<std::unique_ptr<NatsServer>> Launch(NatsServerOptions options);

  ~NatsServer();
  NatsServer(const NatsServer&) = delete;
  NatsServer& operator=(const NatsServer&) = delete;

  // SIGKILL, and waits for the process to be gone.
  absl::Status Kill();
  // SIGTERM (a clean shutdown), waits up to 10 s, then SIGKILL.
  absl::Status Stop();
  // Starts again on the same ports and store directory (killing the old
  // process first if it still runs) and waits until ready.
  absl::Status Restart();
  // Starts again without waiting (for a cluster).
  absl::Status Relaunch();
  // SIGSTOP / SIGCONT: a server that keeps its connections but answers
  // nothing (an acknowledgement that never comes). Pause returns once the
  // process is stopped (bounded).
  void Pause();
  void Resume();
  absl::Status WaitReady(absl::Duration timeout);

  // "nats://127.0.0.1:<port>".
  std::string url() const;
  int port() const { return options_.port; }
  int monitor_port() const { return options_.monitor_port; }
  int cluster_port() const { return options_.cluster_port; }
  const std::string& store_dir() const { return store_dir_; }
  const std::string& dir() const { return dir_.path(); }
  bool running() const { return pid_ > 0; }
  // The last `bytes` of the server's output (all its runs).
  std::string LogTail(size_t bytes = 3000) const;

 private:
  explicit NatsServer(NatsServerOptions options);
  absl::Status Spawn();
  // Waits up to `timeout` for the child to exit; true if it did (reaped).
  bool Reap(absl::Duration timeout);

  NatsServerOptions options_;
  TempDir dir_;
  std::string store_dir_;
  std::string log_file_;
  std::string config_file_;
  std::string binary_;
  pid_t pid_ = -1;
};

// Three (or `size`) servers on loopback, routed to each other, JetStream in
// each. Start waits until a stream with replicas = size can be created (it
// creates ENGRAM_CLUSTER_PROBE on subject engram.cluster.probe for that,
// and leaves it).
class NatsCluster {
 public:
  static absl::StatusOr<std::unique_ptr<NatsCluster>> Start(int size = 3,
                                                             std::string config = "");

  NatsServer& server(int i) { return *servers_.at(i); }
  int size() const { return static_cast<int>(servers_.size()); }
  // Every server's client URL, comma-separated.
  std::string url() const;
  // Until a stream with replicas = size can be created, bounded.
  absl::Status WaitForJetStream(absl::Duration timeout);

 private:
  NatsCluster() = default;
  std::vector<std::unique_ptr<NatsServer>> servers_;
};

// Free TCP ports on 127.0.0.1 (held open together while picking, so they are
// distinct; another process may still take one before the server binds it).
absl::StatusOr<std::vector<int>> PickFreePorts(int count);

}  // namespace engram::testing

#endif  // ENGRAM_TESTS_REPLICATION_NATS_SERVER_H_
