#include "support/server_process.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"

namespace rametcd::testing {
namespace {

// Waits for `pid` up to `timeout_ms`; returns its wait status or -1 if it is still running.
int WaitFor(pid_t pid, int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (true) {
    int status = 0;
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return status;
    if (r < 0) return -1;
    if (std::chrono::steady_clock::now() >= deadline) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

pid_t Spawn(const std::vector<std::string>& argv, int stdin_fd, int out_fd) {
  // Everything the child needs is prepared before fork(): other threads may hold the malloc lock.
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  sigset_t none;
  sigemptyset(&none);
  const pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid != 0) return pid;
  // Servers must not outlive a test process that is killed before its destructors run. (The
  // signal follows the forking thread; every caller waits for its child on that thread.)
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) ::_exit(127);
  ::dup2(stdin_fd, STDIN_FILENO);
  ::dup2(out_fd, STDOUT_FILENO);
  ::dup2(out_fd, STDERR_FILENO);
  // The child must not inherit a blocked-signal mask that would make SIGTERM ineffective.
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  ::execvp(args[0], args.data());
  ::_exit(127);
}

}  // namespace

int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

TempDir::TempDir(bool in_memory) {
  const char* tmp = std::getenv("TMPDIR");
  std::string base =
      in_memory && std::filesystem::exists("/dev/shm") ? "/dev/shm" : (tmp ? tmp : "/tmp");
  std::string pattern = base + "/rametcd-test-XXXXXX";
  char* made = ::mkdtemp(pattern.data());
  path_ = made ? made : "";
}

TempDir::~TempDir() {
  std::error_code ec;
  if (!path_.empty()) std::filesystem::remove_all(path_, ec);
}

CommandResult RunCommand(const std::vector<std::string>& argv, const std::string& stdin_text,
                         int timeout_ms) {
  TempDir dir;
  std::string in_path = dir.path() + "/stdin", out_path = dir.path() + "/out";
  std::ofstream(in_path) << stdin_text;
  int in_fd = ::open(in_path.c_str(), O_RDONLY | O_CLOEXEC);
  int out_fd = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  pid_t pid = Spawn(argv, in_fd, out_fd);
  ::close(in_fd);
  ::close(out_fd);
  CommandResult result;
  int status = WaitFor(pid, timeout_ms);
  if (status == -1) {
    ::kill(pid, SIGKILL);
    WaitFor(pid, 5000);
  } else if (WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
  }
  std::stringstream ss;
  ss << std::ifstream(out_path).rdbuf();
  result.output = ss.str();
  return result;
}

const char* RametcdBinary() { return RAMETCD_BINARY; }

namespace {

std::vector<std::string> RametcdArgv(const std::string& data_dir, const std::string& url,
                                     const std::vector<std::string>& extra_flags) {
  std::vector<std::string> argv = {
      RametcdBinary(),           "--data-dir", data_dir, "--listen-client-urls", url,
      "--advertise-client-urls", url};
  argv.insert(argv.end(), extra_flags.begin(), extra_flags.end());
  return argv;
}

}  // namespace

absl::StatusOr<std::unique_ptr<ServerProcess>> ServerProcess::StartRametcd(
    const std::vector<std::string>& extra_flags) {
  return Launch(
      [&](const std::string& dir, int port) {
        return RametcdArgv(dir + "/data", absl::StrCat("http://127.0.0.1:", port), extra_flags);
      },
      /*in_memory=*/false);
}

absl::StatusOr<std::unique_ptr<ServerProcess>> ServerProcess::StartRametcdOn(
    const std::string& data_dir, const std::vector<std::string>& extra_flags) {
  return Launch(
      [&](const std::string&, int port) {
        return RametcdArgv(data_dir, absl::StrCat("http://127.0.0.1:", port), extra_flags);
      },
      /*in_memory=*/false);
}

absl::StatusOr<std::unique_ptr<ServerProcess>> ServerProcess::StartRametcdTls(
    const ClientTls& tls, const std::vector<std::string>& extra_flags) {
  return Launch(
      [&](const std::string& dir, int port) {
        return RametcdArgv(dir + "/data", absl::StrCat("https://127.0.0.1:", port), extra_flags);
      },
      /*in_memory=*/false, &tls);
}

namespace {

absl::Status CheckEtcdInstalled() {
  if (RunCommand({"etcd", "--version"}).exit_code != 0) {
    return absl::FailedPreconditionError(
        "the reference etcd is not installed: run ../shared/tools/etcd-peers.sh or "
        "apt-get install etcd-server etcd-client");
  }
  return absl::OkStatus();
}

std::vector<std::string> EtcdArgv(const std::string& name, const std::string& data_dir, int port,
                                  int peer_port) {
  std::string client = absl::StrCat("http://127.0.0.1:", port);
  std::string peer = absl::StrCat("http://127.0.0.1:", peer_port);
  return {"etcd",
          "--name",
          name,
          "--data-dir",
          data_dir,
          "--listen-client-urls",
          client,
          "--advertise-client-urls",
          client,
          "--listen-peer-urls",
          peer,
          "--initial-advertise-peer-urls",
          peer,
          "--initial-cluster",
          name + "=" + peer,
          "--log-level",
          "warn"};
}

}  // namespace

absl::StatusOr<std::unique_ptr<ServerProcess>> ServerProcess::StartEtcd() {
  if (absl::Status installed = CheckEtcdInstalled(); !installed.ok()) return installed;
  return Launch([](const std::string& dir,
                   int port) { return EtcdArgv("default", dir + "/data", port, FreePort()); },
                /*in_memory=*/true);
}

absl::StatusOr<std::unique_ptr<ServerProcess>> ServerProcess::StartEtcdOn(
    const std::string& data_dir, const std::string& name, int peer_port) {
  if (absl::Status installed = CheckEtcdInstalled(); !installed.ok()) return installed;
  return Launch(
      [&](const std::string&, int port) { return EtcdArgv(name, data_dir, port, peer_port); },
      /*in_memory=*/true);
}

std::shared_ptr<grpc::ChannelCredentials> ServerProcess::ChannelCredentials(const ClientTls& tls) {
  auto read = [](const std::string& path) {
    std::stringstream ss;
    if (!path.empty()) ss << std::ifstream(path).rdbuf();
    return ss.str();
  };
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = read(tls.ca);
  ssl.pem_cert_chain = read(tls.cert);
  ssl.pem_private_key = read(tls.key);
  return grpc::SslCredentials(ssl);
}

absl::StatusOr<std::unique_ptr<ServerProcess>> ServerProcess::Launch(const ArgvFor& argv_for,
                                                                     bool in_memory,
                                                                     const ClientTls* tls) {
  // A port found free may be taken by another socket before the child binds it; then the child
  // exits at once and we try again with fresh ports.
  constexpr int kAttempts = 3;
  absl::Status last;
  for (int attempt = 1; attempt <= kAttempts; ++attempt) {
    std::unique_ptr<ServerProcess> p(new ServerProcess());
    p->dir_ = std::make_unique<TempDir>(in_memory);
    const int port = FreePort();
    const std::vector<std::string> argv = argv_for(p->dir_->path(), port);
    p->endpoint_ = absl::StrCat("127.0.0.1:", port);
    p->log_path_ = p->dir_->path() + "/server.log";
    int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    int log_fd = ::open(p->log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    p->pid_ = Spawn(argv, null_fd, log_fd);
    ::close(null_fd);
    ::close(log_fd);
    p->channel_ =
        grpc::CreateChannel(p->endpoint_, tls != nullptr ? ChannelCredentials(*tls)
                                                         : grpc::InsecureChannelCredentials());
    absl::Status ready = p->WaitReady(20000);
    if (ready.ok()) return p;
    last = absl::UnavailableError(absl::StrCat(argv[0], " did not become ready: ", ready.message(),
                                               "\n--- log ---\n", p->log()));
    if (p->pid_ > 0) break;  // still running but not answering: retrying would not help
    std::fprintf(stderr, "server start attempt %d failed, retrying: %s\n", attempt,
                 std::string(last.message()).c_str());
  }
  return last;
}

absl::Status ServerProcess::WaitReady(int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  auto exited = [this] {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) != pid_) return false;
    pid_ = -1;
    return true;
  };
  // First the listening socket, polled directly (a gRPC channel would back off for seconds).
  const int port = std::stoi(endpoint_.substr(endpoint_.rfind(':') + 1));
  while (true) {
    if (exited()) return absl::UnavailableError("the process exited");
    if (std::chrono::steady_clock::now() >= deadline) {
      return absl::DeadlineExceededError("the client port never accepted a connection");
    }
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    bool connected = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    ::close(fd);
    if (connected) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  // Then a request: etcd accepts connections before it has elected itself leader.
  auto stub = NewKvStub();
  grpc::Status last;
  while (std::chrono::steady_clock::now() < deadline) {
    if (exited()) return absl::UnavailableError("the process exited");
    grpc::ClientContext ctx;
    ctx.set_wait_for_ready(true);
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
    etcdserverpb::RangeRequest req;
    req.set_key("readiness-probe");
    etcdserverpb::RangeResponse resp;
    last = stub->Range(&ctx, req, &resp);
    if (last.ok()) return absl::OkStatus();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return absl::DeadlineExceededError(last.error_message());
}

std::unique_ptr<etcdserverpb::KV::Stub> ServerProcess::NewKvStub() const {
  return etcdserverpb::KV::NewStub(channel_);
}

int64_t ServerProcess::RssBytes() const {
  std::ifstream status("/proc/" + std::to_string(pid_) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoll(line.substr(6)) * 1024;  // kB
  }
  return -1;
}

std::string ServerProcess::log() const {
  std::stringstream ss;
  ss << std::ifstream(log_path_).rdbuf();
  return ss.str();
}

int ServerProcess::Terminate(int timeout_ms) {
  if (pid_ <= 0) return -1;
  // Our own open connection would hold up a graceful shutdown for its grace period (callers'
  // channels must be closed by them).
  channel_.reset();
  ::kill(pid_, SIGTERM);
  int status = WaitFor(pid_, timeout_ms);
  if (status != -1) pid_ = -1;
  return status;
}

int ServerProcess::Kill(int timeout_ms) {
  if (pid_ <= 0) return -1;
  ::kill(pid_, SIGKILL);
  int status = WaitFor(pid_, timeout_ms);
  if (status != -1) pid_ = -1;
  return status;
}

bool ServerProcess::Signal(int signal_number) {
  return pid_ > 0 && ::kill(pid_, signal_number) == 0;
}

ServerProcess::~ServerProcess() {
  channel_.reset();  // an open client connection would hold up a graceful server shutdown
  if (pid_ > 0 && Terminate() == -1) {
    ::kill(pid_, SIGKILL);
    WaitFor(pid_, 5000);
  }
}

}  // namespace rametcd::testing
