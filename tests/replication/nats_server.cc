#include "tests/replication/nats_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "engram/replication/nats_jet_stream.h"

namespace engram::testing {
namespace {

// Pause between polls of a condition nothing can notify us of (a child's
// exit, a server's readiness); every poll loop has a deadline.
constexpr absl::Duration kPollInterval = absl::Milliseconds(10);

std::string FindBinary() {
  if (const char* env = std::getenv("ENGRAM_NATS_SERVER"); env != nullptr && *env != '\0') {
    return env;
  }
  const char* path = std::getenv("PATH");
  if (path == nullptr) return "";
  for (absl::string_view dir : absl::StrSplit(path, ':')) {
    if (dir.empty()) continue;
    std::string candidate = absl::StrCat(dir, "/nats-server");
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

// GET http://127.0.0.1:<port><path>; the status code, or 0 if no answer.
int HttpGetStatus(int port, const char* path) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  timeval tv{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int status = 0;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    const std::string request =
        absl::StrCat("GET ", path, " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
    if (send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
        static_cast<ssize_t>(request.size())) {
      char buf[256];
      std::string response;
      // Only the status line is needed; bounded by the buffer and SO_RCVTIMEO.
      while (response.find("\r\n") == std::string::npos && response.size() < 1024) {
        const ssize_t n = recv(fd, buf, sizeof(buf), 0);
        if (n <= 0) break;
        response.append(buf, static_cast<size_t>(n));
      }
      // "HTTP/1.1 200 OK"
      std::vector<absl::string_view> parts = absl::StrSplit(response, ' ');
      if (parts.size() >= 2) status = std::atoi(std::string(parts[1]).c_str());
    }
  }
  close(fd);
  return status;
}

}  // namespace

absl::StatusOr<std::vector<int>> PickFreePorts(int count) {
  std::vector<int> fds;
  std::vector<int> ports;
  absl::Status status;
  for (int i = 0; i < count && status.ok(); ++i) {
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      status = absl::InternalError(absl::StrCat("socket: ", std::strerror(errno)));
      break;
    }
    fds.push_back(fd);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = 0;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      status = absl::InternalError(absl::StrCat("bind 127.0.0.1:0: ", std::strerror(errno)));
      break;
    }
    ports.push_back(ntohs(addr.sin_port));
  }
  for (int fd : fds) close(fd);
  if (!status.ok()) return status;
  return ports;
}

NatsServer::NatsServer(NatsServerOptions options) : options_(std::move(options)) {
  store_dir_ = dir_.Sub("store");
  log_file_ = dir_.Sub("nats-server.log");
  if (!options_.config.empty()) {
    config_file_ = dir_.Sub("nats.conf");
    std::ofstream(config_file_) << options_.config << "\n";
  }
  binary_ = FindBinary();
}

NatsServer::~NatsServer() { (void)Kill(); }

absl::StatusOr<std::unique_ptr<NatsServer>> NatsServer::Launch(NatsServerOptions options) {
  if (options.port == 0 || options.monitor_port == 0) {
    absl::StatusOr<std::vector<int>> ports = PickFreePorts(2);
    if (!ports.ok()) return ports.status();
    if (options.port == 0) options.port = (*ports)[0];
    if (options.monitor_port == 0) options.monitor_port = (*ports)[1];
  }
  std::unique_ptr<NatsServer> server(new NatsServer(std::move(options)));
  if (absl::Status st = server->Spawn(); !st.ok()) return st;
  return server;
}

absl::StatusOr<std::unique_ptr<NatsServer>> NatsServer::Start(NatsServerOptions options) {
  // Ports are picked free but not reserved: if another process took one in
  // between, the server exits at once; pick again (a bounded number of
  // times, and only for ports we picked).
  const bool picked = options.port == 0 && options.monitor_port == 0;
  absl::Status last;
  for (int attempt = 0; attempt < (picked ? 3 : 1); ++attempt) {
    absl::StatusOr<std::unique_ptr<NatsServer>> server = Launch(options);
    if (!server.ok()) return server.status();
    last = (*server)->WaitReady((*server)->options_.ready_timeout);
    if (last.ok()) return server;
    if ((*server)->running()) break;  // alive but not ready: not a port clash
  }
  return last;
}

absl::Status NatsServer::Spawn() {
  if (binary_.empty()) {
    return absl::FailedPreconditionError(
        "nats-server not found on PATH (nor $ENGRAM_NATS_SERVER); install nats-server 2.9.10 "
        "(Debian: apt-get install nats-server)");
  }
  std::vector<std::string> args = {binary_,
                                   "-js",
                                   "-a",
                                   "127.0.0.1",
                                   "-p",
                                   absl::StrCat(options_.port),
                                   "-m",
                                   absl::StrCat(options_.monitor_port),
                                   "-sd",
                                   store_dir_};
  if (!config_file_.empty()) {
    args.push_back("-c");
    args.push_back(config_file_);
  }
  if (!options_.server_name.empty()) {
    args.push_back("-n");
    args.push_back(options_.server_name);
  }
  if (options_.cluster_port != 0) {
    args.push_back("--cluster_name");
    args.push_back(options_.cluster_name.empty() ? "engram" : options_.cluster_name);
    args.push_back("--cluster");
    args.push_back(absl::StrCat("nats://127.0.0.1:", options_.cluster_port));
    std::vector<std::string> routes;
    for (int p : options_.routes) routes.push_back(absl::StrCat("nats://127.0.0.1:", p));
    if (!routes.empty()) {
      args.push_back("--routes");
      args.push_back(absl::StrJoin(routes, ","));
    }
  }
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  const int log_fd = open(log_file_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) {
    return absl::InternalError(absl::StrCat("open ", log_file_, ": ", std::strerror(errno)));
  }
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) {
    close(log_fd);
    return absl::InternalError(absl::StrCat("fork: ", std::strerror(errno)));
  }
  if (pid == 0) {
    // Child: async-signal-safe calls only.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    dup2(log_fd, STDOUT_FILENO);
    dup2(log_fd, STDERR_FILENO);
    const int null_fd = open("/dev/null", O_RDONLY);
    if (null_fd >= 0) dup2(null_fd, STDIN_FILENO);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(log_fd);
  pid_ = pid;
  return absl::OkStatus();
}

bool NatsServer::Reap(absl::Duration timeout) {
  if (pid_ <= 0) return true;
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    int wstatus = 0;
    const pid_t r = waitpid(pid_, &wstatus, WNOHANG);
    if (r == pid_ || (r < 0 && errno == ECHILD)) {
      pid_ = -1;
      return true;
    }
    if (absl::Now() >= deadline) return false;
    absl::SleepFor(kPollInterval);
  }
}

absl::Status NatsServer::Kill() {
  if (pid_ <= 0) return absl::OkStatus();
  kill(pid_, SIGKILL);
  if (!Reap(absl::Seconds(10))) {
    return absl::InternalError(absl::StrCat("nats-server pid ", pid_, " on port ",
                                            options_.port, " survived SIGKILL for 10 s"));
  }
  return absl::OkStatus();
}

absl::Status NatsServer::Stop() {
  if (pid_ <= 0) return absl::OkStatus();
  kill(pid_, SIGTERM);
  if (Reap(absl::Seconds(10))) return absl::OkStatus();
  absl::Status killed = Kill();
  return absl::DeadlineExceededError(
      absl::StrCat("nats-server on port ", options_.port,
                   " did not exit within 10 s of SIGTERM; killed", killed.ok() ? "" : " (failed)"));
}

void NatsServer::Pause() {
  if (pid_ <= 0) return;
  kill(pid_, SIGSTOP);
  // kill() returns before the process has stopped: a process-directed stop
  // is carried out by one of its threads, and the others run on until it
  // does. Wait (bounded) until /proc shows every thread stopped, so that
  // nothing sent after Pause is answered.
  const std::string tasks = absl::StrCat("/proc/", pid_, "/task");
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (absl::Now() < deadline) {
    bool all_stopped = true;
    std::error_code ec;
    for (const auto& task : std::filesystem::directory_iterator(tasks, ec)) {
      std::ifstream in(task.path() / "stat");
      std::string line;
      std::getline(in, line);
      // "tid (comm) S ...": the state follows the last ')'.
      const size_t paren = line.rfind(')');
      const char state = paren != std::string::npos && paren + 2 < line.size() ? line[paren + 2] : '?';
      if (state != 'T' && state != 't') {
        all_stopped = false;
        break;
      }
    }
    if (!ec && all_stopped) return;
    absl::SleepFor(absl::Milliseconds(1));
  }
}

void NatsServer::Resume() {
  if (pid_ > 0) kill(pid_, SIGCONT);
}

absl::Status NatsServer::Relaunch() {
  if (absl::Status st = Kill(); !st.ok()) return st;
  return Spawn();
}

absl::Status NatsServer::Restart() {
  if (absl::Status st = Relaunch(); !st.ok()) return st;
  return WaitReady(options_.ready_timeout);
}

absl::Status NatsServer::WaitReady(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    if (pid_ <= 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("nats-server on port ", options_.port, " is not running"));
    }
    int wstatus = 0;
    if (waitpid(pid_, &wstatus, WNOHANG) == pid_) {
      pid_ = -1;
      return absl::UnavailableError(absl::StrCat(
          "nats-server on port ", options_.port, " exited during startup (",
          WIFEXITED(wstatus) ? absl::StrCat("status ", WEXITSTATUS(wstatus))
                             : absl::StrCat("signal ", WTERMSIG(wstatus)),
          "); its log ends:\n", LogTail()));
    }
    if (HttpGetStatus(options_.monitor_port, "/healthz") == 200) return absl::OkStatus();
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError(absl::StrCat(
          "nats-server on port ", options_.port, " not ready (/healthz on port ",
          options_.monitor_port, ") within ", absl::FormatDuration(timeout),
          "; its log ends:\n", LogTail()));
    }
    absl::SleepFor(kPollInterval);
  }
}

std::string NatsServer::url() const { return absl::StrCat("nats://127.0.0.1:", options_.port); }

std::string NatsServer::LogTail(size_t bytes) const {
  std::ifstream in(log_file_, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string all = ss.str();
  if (all.size() > bytes) all = all.substr(all.size() - bytes);
  return all;
}

absl::StatusOr<std::unique_ptr<NatsCluster>> NatsCluster::Start(int size, std::string config) {
  if (size < 1) return absl::InvalidArgumentError("a cluster needs at least one server");
  absl::StatusOr<std::vector<int>> ports = PickFreePorts(3 * size);
  if (!ports.ok()) return ports.status();
  std::unique_ptr<NatsCluster> cluster(new NatsCluster);
  for (int i = 0; i < size; ++i) {
    NatsServerOptions o;
    o.config = config;
    o.port = (*ports)[3 * i];
    o.monitor_port = (*ports)[3 * i + 1];
    o.cluster_port = (*ports)[3 * i + 2];
    o.server_name = absl::StrCat("n", i + 1);
    o.cluster_name = "engram";
    for (int j = 0; j < size; ++j) {
      if (j != i) o.routes.push_back((*ports)[3 * j + 2]);
    }
    absl::StatusOr<std::unique_ptr<NatsServer>> server = NatsServer::Launch(std::move(o));
    if (!server.ok()) return server.status();
    cluster->servers_.push_back(std::move(*server));
  }
  for (auto& server : cluster->servers_) {
    if (absl::Status st = server->WaitReady(absl::Seconds(20)); !st.ok()) return st;
  }
  if (absl::Status st = cluster->WaitForJetStream(absl::Seconds(30)); !st.ok()) return st;
  return cluster;
}

std::string NatsCluster::url() const {
  std::vector<std::string> urls;
  for (const auto& server : servers_) urls.push_back(server->url());
  return absl::StrJoin(urls, ",");
}

absl::Status NatsCluster::WaitForJetStream(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  NatsConnectOptions options;
  options.url = url();
  options.connect_timeout = absl::Seconds(3);
  options.request_timeout = absl::Seconds(2);
  options.name = "engram-cluster-probe";
  JetStreamConfig probe;
  probe.name = "ENGRAM_CLUSTER_PROBE";
  probe.subjects = {"engram.cluster.probe"};
  probe.replicas = size();
  absl::Status last;
  while (true) {
    absl::StatusOr<std::unique_ptr<NatsJetStream>> js = NatsJetStream::Connect(options);
    if (js.ok()) {
      last = (*js)->EnsureStream(probe);
      if (last.ok()) {
        absl::StatusOr<JetStreamInfo> info = (*js)->StreamInfo(probe.name);
        if (info.ok() && info->replicas == size()) return absl::OkStatus();
        last = info.ok() ? absl::UnavailableError(absl::StrCat("probe stream has ",
                                                               info->replicas, " replicas"))
                         : info.status();
      }
    } else {
      last = js.status();
    }
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("cluster ", url(), ": no stream with ", size(), " replicas within ",
                       absl::FormatDuration(timeout), ": ", last.ToString()));
    }
    absl::SleepFor(absl::Milliseconds(100));
  }
}

}  // namespace engram::testing
