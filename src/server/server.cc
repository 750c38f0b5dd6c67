#include "server/server.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <climits>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/logging.h"
#include "base/status_macros.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"

namespace rametcd::server {
namespace {

// etcd's allowance for gRPC framing on top of --max-request-bytes.
constexpr int kGrpcOverheadBytes = 512 * 1024;

// Why `address` ("host:port") cannot be bound, for the error message: gRPC only says that it
// failed.
std::string BindFailureReason(const std::string& address) {
  size_t colon = address.rfind(':');
  std::string host = address.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* info = nullptr;
  int rc = ::getaddrinfo(host.c_str(), address.substr(colon + 1).c_str(), &hints, &info);
  if (rc != 0) return ::gai_strerror(rc);
  std::string reason = "unknown error";
  int fd = ::socket(info->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd >= 0) {
    reason = ::bind(fd, info->ai_addr, info->ai_addrlen) != 0 ? std::strerror(errno)
                                                              : "gRPC could not listen";
    ::close(fd);
  }
  ::freeaddrinfo(info);
  return reason;
}

}  // namespace

Server::Server(const Options& options) : options_(options) {}

Server::~Server() { Stop(); }

absl::Status Server::Start() {
  ASSIGN_OR_RETURN(data_dir_, DataDir::Open(options_.data_dir));
  MemberIdentity identity = MemberIdentity::Derive(options_.name, options_.advertise_client_urls);
  ApplyLoop::Options loop_options;
  loop_options.max_pending = static_cast<size_t>(options_.max_pending_requests);
  loop_options.history.max_events = static_cast<size_t>(options_.watch_history_max_events);
  loop_options.history.max_bytes = static_cast<size_t>(options_.watch_history_max_bytes);
  loop_options.watch.fragment_bytes = options_.max_request_bytes + kGrpcOverheadBytes;
  loop_options.watch.progress_interval = options_.watch_progress_notify_interval;
  identity.Fill(&loop_options.watch.header);
  loop_ = std::make_unique<ApplyLoop>(loop_options);
  kv_ = std::make_unique<KvService>(
      identity, KvService::Limits{options_.max_request_bytes, options_.max_txn_ops}, loop_.get());
  watch::WatchStream::Limits stream_limits;
  stream_limits.soft_bytes = static_cast<size_t>(options_.watch_stream_max_bytes);
  stream_limits.hard_bytes = 4 * stream_limits.soft_bytes;
  watch_ = std::make_unique<WatchService>(stream_limits, loop_.get());
  lease_ = std::make_unique<LeaseService>(identity, loop_.get());

  grpc::ServerBuilder builder;
  std::vector<int> ports(options_.listen_addresses.size());
  for (size_t i = 0; i < options_.listen_addresses.size(); ++i) {
    builder.AddListeningPort(options_.listen_addresses[i], grpc::InsecureServerCredentials(),
                             &ports[i]);
  }
  builder.RegisterService(kv_.get());
  builder.RegisterService(watch_.get());
  builder.RegisterService(lease_.get());
  builder.SetMaxReceiveMessageSize(static_cast<int>(
      std::min<int64_t>(options_.max_request_bytes + kGrpcOverheadBytes, INT_MAX)));
  builder.SetMaxSendMessageSize(-1);
  // Two servers on one port must not silently share it.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, INT_MAX);
  // Keepalive as etcd: clients may ping every 5 s (kube-apiserver pings every 30 s), also without
  // calls in flight, and are never disconnected for pinging.
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 5000);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 0);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 2 * 60 * 60 * 1000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 20 * 1000);
  grpc_ = builder.BuildAndStart();
  for (size_t i = 0; i < ports.size(); ++i) {
    if (grpc_ == nullptr || ports[i] == 0) {
      const std::string& address = options_.listen_addresses[i];
      if (grpc_) grpc_->Shutdown();
      grpc_.reset();
      return absl::UnavailableError(
          absl::StrCat("cannot listen on ", address, ": ", BindFailureReason(address)));
    }
  }
  Log(LogLevel::kInfo, "serving client requests",
      {{"name", options_.name},
       {"data-dir", options_.data_dir},
       {"listen-client-urls", absl::StrJoin(options_.listen_addresses, ",")},
       {"member-id", absl::StrCat(absl::Hex(identity.member_id))},
       {"cluster-id", absl::StrCat(absl::Hex(identity.cluster_id))}});
  return absl::OkStatus();
}

void Server::Stop() {
  if (grpc_) {
    // New RPCs are refused at once; unary ones in flight finish through the loop well within the
    // grace period, after which the rest (watch streams, which never end by themselves) are
    // cancelled.
    grpc_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
    grpc_.reset();
  }
  if (loop_) loop_->Stop();
}

}  // namespace rametcd::server
