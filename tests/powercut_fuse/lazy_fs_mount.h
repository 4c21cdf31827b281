// Test helpers for the power-cut tests: child processes (fork/exec with the
// output captured) and LazyFsMount, which mounts engram_lazyfs on a
// directory, sends it control commands and always unmounts (destructor).
//
// Thread-safety: none (one test thread). Ownership: LazyFsMount owns the
// daemon process; Child owns the read end of the child's output pipe.
#ifndef ENGRAM_TESTS_POWERCUT_FUSE_LAZY_FS_MOUNT_H_
#define ENGRAM_TESTS_POWERCUT_FUSE_LAZY_FS_MOUNT_H_

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace engram::testing {

struct Child {
  pid_t pid = -1;
  int out = -1;  // read end of the child's stdout (and stderr if merged)
  int err = -1;  // read end of the child's stderr, when kept apart
};

// Starts `args` (args[0] is the binary's path) with its stdout (and
// stderr) piped back; stdin is /dev/null.
inline Child SpawnChild(const std::vector<std::string>& args, bool merge_stderr = false) {
  int out[2], err[2];
  if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) return Child{};
  const pid_t pid = fork();
  if (pid < 0) return Child{};
  if (pid == 0) {
    int devnull = open("/dev/null", O_RDONLY);
    dup2(devnull, STDIN_FILENO);
    dup2(out[1], STDOUT_FILENO);
    dup2(merge_stderr ? out[1] : err[1], STDERR_FILENO);
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(out[1]);
  close(err[1]);
  if (merge_stderr) {
    close(err[0]);
    err[0] = -1;
  }
  return Child{pid, out[0], err[0]};
}

// Appends what is readable on `fd` now (non-blocking) to `out`; false at EOF.
inline bool DrainNow(int fd, std::string* out) {
  if (fd < 0) return false;
  for (;;) {
    struct pollfd p {fd, POLLIN, 0};
    if (poll(&p, 1, 0) <= 0) return true;
    char buf[4096];
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) return false;
    out->append(buf, static_cast<size_t>(n));
  }
}

// Reads the child's output until it exits (at most `timeout`; then it is
// killed). Returns its exit code, 128+signal if killed by a signal.
inline int FinishChild(Child& c, std::string* out, std::string* err = nullptr,
                       std::chrono::seconds timeout = std::chrono::seconds(120)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string ignored;
  bool out_open = c.out >= 0, err_open = c.err >= 0;
  while (out_open || err_open) {
    struct pollfd p[2] = {{out_open ? c.out : -1, POLLIN, 0}, {err_open ? c.err : -1, POLLIN, 0}};
    const int n = poll(p, 2, 100);
    if (n > 0) {
      char buf[4096];
      if (out_open && (p[0].revents & (POLLIN | POLLHUP))) {
        const ssize_t k = read(c.out, buf, sizeof buf);
        if (k <= 0) out_open = false;
        else out->append(buf, static_cast<size_t>(k));
      }
      if (err_open && (p[1].revents & (POLLIN | POLLHUP))) {
        const ssize_t k = read(c.err, buf, sizeof buf);
        if (k <= 0) err_open = false;
        else (err ? err : &ignored)->append(buf, static_cast<size_t>(k));
      }
    }
    if (std::chrono::steady_clock::now() > deadline) {
      kill(c.pid, SIGKILL);
      break;
    }
  }
  if (c.out >= 0) close(c.out);
  if (c.err >= 0) close(c.err);
  c.out = c.err = -1;
  int status = 0;
  // Bounded: after SIGKILL the child goes at once (unless stuck in the
  // kernel on a dead FUSE mount, which the unmount resolves).
  for (int i = 0; i < 600; ++i) {
    const pid_t r = waitpid(c.pid, &status, WNOHANG);
    if (r == c.pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (r < 0) return -1;
    if (i == 300) kill(c.pid, SIGKILL);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return -1;
}

inline bool IsFuseMount(const std::string& dir) {
  struct statfs s;
  return statfs(dir.c_str(), &s) == 0 && s.f_type == 0x65735546;  // FUSE_SUPER_MAGIC
}

// engram_lazyfs mounted on `mnt` over `backing`, unmounted on destruction.
class LazyFsMount {
 public:
  LazyFsMount(std::string binary, std::string backing, std::string mnt)
      : binary_(std::move(binary)), backing_(std::move(backing)), mnt_(std::move(mnt)) {}
  ~LazyFsMount() { Unmount(); }
  LazyFsMount(const LazyFsMount&) = delete;
  LazyFsMount& operator=(const LazyFsMount&) = delete;

  // Starts the daemon and waits (at most 20 s) until the mount is live.
  // "" on success, else what went wrong.
  std::string Mount() {
    if (daemon_.pid > 0) return "already mounted";
    mkdir(mnt_.c_str(), 0755);
    daemon_ = SpawnChild({binary_, backing_, mnt_}, /*merge_stderr=*/true);
    if (daemon_.pid <= 0) return "cannot fork engram_lazyfs";
    for (int i = 0; i < 400; ++i) {
      DrainNow(daemon_.out, &log_);
      int status = 0;
      if (waitpid(daemon_.pid, &status, WNOHANG) == daemon_.pid) {
        daemon_.pid = -1;
        DrainNow(daemon_.out, &log_);
        close(daemon_.out);
        return "engram_lazyfs exited before mounting: " + log_;
      }
      struct stat st;
      if (IsFuseMount(mnt_) && stat((mnt_ + "/.lazyfs_ctl").c_str(), &st) == 0) return "";
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    Unmount();
    return "engram_lazyfs did not mount " + mnt_ + " within 20 s: " + log_;
  }

  // Writes one control command; returns "" or the error.
  std::string Ctl(const std::string& command) const {
    const std::string path = mnt_ + "/.lazyfs_ctl";
    int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) return "open " + path + ": " + std::strerror(errno);
    const std::string line = command + "\n";
    const ssize_t n = write(fd, line.data(), line.size());
    const int e = errno;
    close(fd);
    if (n != static_cast<ssize_t>(line.size())) {
      return "control '" + command + "': " + std::strerror(n < 0 ? e : EIO);
    }
    return "";
  }

  // The control file's counters ("power on\nfsyncs 12\n...").
  std::string Status() const {
    int fd = open((mnt_ + "/.lazyfs_ctl").c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return "";
    char buf[4096];
    const ssize_t n = read(fd, buf, sizeof buf);
    close(fd);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
  }

  // Unmounts (lazily if busy) and waits (bounded) for the daemon to exit,
  // which writes the durable state to the backing directory. Idempotent.
  // Returns the daemon's exit code (0 when fine, -1 if none ran).
  int Unmount() {
    if (daemon_.pid <= 0) return -1;
    bool done = false;
    for (int attempt = 0; attempt < 50 && !done; ++attempt) {
      if (!IsFuseMount(mnt_)) break;
      if (geteuid() == 0) {
        done = umount2(mnt_.c_str(), attempt < 20 ? 0 : MNT_DETACH) == 0;
      } else {
        Child c = SpawnChild({"/usr/bin/fusermount3", attempt < 20 ? "-u" : "-uz", mnt_},
                             /*merge_stderr=*/true);
        std::string ignored;
        done = FinishChild(c, &ignored, nullptr, std::chrono::seconds(10)) == 0;
      }
      if (!done) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    int code = -1;
    for (int i = 0; i < 400; ++i) {  // 20 s
      DrainNow(daemon_.out, &log_);
      int status = 0;
      if (waitpid(daemon_.pid, &status, WNOHANG) == daemon_.pid) {
        code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (code == -1) {
      kill(daemon_.pid, SIGKILL);
      int status = 0;
      waitpid(daemon_.pid, &status, 0);
      if (IsFuseMount(mnt_)) umount2(mnt_.c_str(), MNT_DETACH);
      code = 137;
    }
    DrainNow(daemon_.out, &log_);
    close(daemon_.out);
    daemon_ = Child{};
    return code;
  }

  const std::string& mnt() const { return mnt_; }
  const std::string& backing() const { return backing_; }
  const std::string& log() const { return log_; }

 private:
  std::string binary_, backing_, mnt_;
  Child daemon_;
  std::string log_;
};

}  // namespace engram::testing

#endif  // ENGRAM_TESTS_POWERCUT_FUSE_LAZY_FS_MOUNT_H_
