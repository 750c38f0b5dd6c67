// Test support: starts a real server process (rametcd or the reference etcd 3.4) on free
// 127.0.0.1 ports with its own temporary data dir, waits until it answers KV requests, and always
// stops it (SIGTERM, then SIGKILL) and removes the dir when the object dies.
#ifndef RAMETCD_TESTS_SUPPORT_SERVER_PROCESS_H_
#define RAMETCD_TESTS_SUPPORT_SERVER_PROCESS_H_

#include <sys/types.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "etcd/api/etcdserverpb/rpc.grpc.pb.h"
#include "grpcpp/channel.h"
#include "grpcpp/security/credentials.h"

namespace rametcd::testing {

// A port on 127.0.0.1 that was free a moment ago.
int FreePort();

// The path of the rametcd binary built with the tests.
const char* RametcdBinary();

// A fresh directory under $TMPDIR (or /tmp, or /dev/shm when `in_memory`), removed on destruction.
class TempDir {
 public:
  explicit TempDir(bool in_memory = false);
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Runs `argv` to completion with `stdin_text` on its standard input; returns exit code and the
// combined stdout+stderr.
struct CommandResult {
  int exit_code = -1;
  std::string output;
};
// A command still running after `timeout_ms` is killed (exit_code -1).
CommandResult RunCommand(const std::vector<std::string>& argv, const std::string& stdin_text = "",
                         int timeout_ms = 60000);

class ServerProcess {
 public:
  // The rametcd binary built with the tests, with `extra_flags` appended.
  static absl::StatusOr<std::unique_ptr<ServerProcess>> StartRametcd(
      const std::vector<std::string>& extra_flags = {});
  // Like StartRametcd, but on the caller's `data_dir`, which outlives the process: a test can
  // stop (or Kill) a server and start another on the same data. Only the log goes to the
  // process's own temporary dir.
  static absl::StatusOr<std::unique_ptr<ServerProcess>> StartRametcdOn(
      const std::string& data_dir, const std::vector<std::string>& extra_flags = {});
  // The client side of TLS: the CA that signed the server's certificate, and the client's own
  // certificate and key (empty: none).
  struct ClientTls {
    std::string ca, cert, key;
  };
  // Like StartRametcd, on an https:// client URL; `extra_flags` name the server's certificate
  // (--cert-file, --key-file, ...). channel() and readiness use `tls`.
  static absl::StatusOr<std::unique_ptr<ServerProcess>> StartRametcdTls(
      const ClientTls& tls, const std::vector<std::string>& extra_flags);
  static std::shared_ptr<grpc::ChannelCredentials> ChannelCredentials(const ClientTls& tls);
  // The reference etcd from Debian's etcd-server package (data dir on tmpfs).
  static absl::StatusOr<std::unique_ptr<ServerProcess>> StartEtcd();
  // etcd as member `name` on the caller's `data_dir` (e.g. made by `etcdctl snapshot restore`
  // with the same name and peer URL http://127.0.0.1:<peer_port>), which outlives the process.
  static absl::StatusOr<std::unique_ptr<ServerProcess>> StartEtcdOn(const std::string& data_dir,
                                                                    const std::string& name,
                                                                    int peer_port);

  ~ServerProcess();
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  // "127.0.0.1:<port>"
  const std::string& endpoint() const { return endpoint_; }
  const std::string& data_dir() const { return dir_->path(); }
  // Resident memory of the process, from /proc.
  int64_t RssBytes() const;
  // The process ID (-1 once it has exited), e.g. to count its open files in /proc.
  pid_t pid() const { return pid_; }
  std::string log() const;
  std::shared_ptr<grpc::Channel> channel() const { return channel_; }
  std::unique_ptr<etcdserverpb::KV::Stub> NewKvStub() const;

  // Sends SIGTERM and waits up to `timeout_ms`; returns the exit status (as from waitpid) or -1.
  // Drops channel() first: an open connection holds up the server's graceful shutdown.
  int Terminate(int timeout_ms = 10000);
  // Sends SIGKILL (a crash: nothing is flushed) and waits; returns the exit status or -1.
  int Kill(int timeout_ms = 10000);
  // Sends `signal_number` (e.g. SIGUSR1) and returns at once; false if the process is gone.
  bool Signal(int signal_number);

 private:
  ServerProcess() = default;
  // Builds the command line for a data dir and client port.
  using ArgvFor = std::function<std::vector<std::string>(const std::string& dir, int port)>;
  static absl::StatusOr<std::unique_ptr<ServerProcess>> Launch(const ArgvFor& argv_for,
                                                               bool in_memory,
                                                               const ClientTls* tls = nullptr);
  absl::Status WaitReady(int timeout_ms);

  pid_t pid_ = -1;
  std::unique_ptr<TempDir> dir_;
  std::string endpoint_;
  std::string log_path_;
  std::shared_ptr<grpc::Channel> channel_;
};

}  // namespace rametcd::testing

#endif  // RAMETCD_TESTS_SUPPORT_SERVER_PROCESS_H_
