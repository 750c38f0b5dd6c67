#include "server/server.h"

#include <arpa/inet.h>
#include <malloc.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/absl_view.h"
#include "base/logging.h"
#include "base/status_macros.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"
#include "server/undecodable_requests.h"
#include "wal/layout.h"
#include "wal/recovery.h"

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

absl::StatusOr<std::string> ReadPemFile(const std::string& flag, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in.is_open()) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot read --", flag, " ", path, ": ", std::strerror(errno)));
  }
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (text.find("-----BEGIN ") == std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", flag, " ", path, ": not a PEM file (no -----BEGIN line)"));
  }
  return text;
}

// gRPC credentials for https:// client URLs, from etcd's client TLS flags.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> TlsCredentials(const TlsFiles& files) {
  grpc::SslServerCredentialsOptions ssl;
  grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
  ASSIGN_OR_RETURN(pair.private_key, ReadPemFile("key-file", files.key_file));
  ASSIGN_OR_RETURN(pair.cert_chain, ReadPemFile("cert-file", files.cert_file));
  ssl.pem_key_cert_pairs.push_back(std::move(pair));
  if (!files.trusted_ca_file.empty()) {
    ASSIGN_OR_RETURN(ssl.pem_root_certs, ReadPemFile("trusted-ca-file", files.trusted_ca_file));
  }
  // As etcd: without --client-cert-auth, client certificates are not asked for.
  ssl.client_certificate_request = files.client_cert_auth
                                       ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
                                       : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE;
  return grpc::SslServerCredentials(ssl);
}

// glibc grows a thread's heap 128 KiB past each request (M_TOP_PAD), every step an mprotect that
// changes the process's mappings while the other recovery thread faults pages in. Recovery
// allocates the whole data set at once, so while it runs a thread's heap is made whole (64 MiB,
// glibc's heap size for threads) in one step: a 1,000,000-key restart went from 2.6-4.7 s to
// 1.6-2.8 s (alternating runs). The default comes back afterwards, because the pad is also what
// free() leaves resident at a heap's top (64 MiB kept per arena raised the peak of a 1M-key load by
// 1 GiB). Setting the pad fixes glibc's otherwise adaptive mmap threshold, so that is set where the
// adaptive one settles (its 32 MiB ceiling): the ~1 MiB buffers of list responses keep being
// reused from the heap rather than mapped and unmapped each time (with it fixed at 128 KiB, one
// list run gave 459 pages/s against 566).
class RecoveryHeapGrowth {
 public:
  RecoveryHeapGrowth() {
    ::mallopt(M_MMAP_THRESHOLD, 32 << 20);
    ::mallopt(M_TOP_PAD, 64 << 20);
  }
  ~RecoveryHeapGrowth() { ::mallopt(M_TOP_PAD, 128 << 10); }
  RecoveryHeapGrowth(const RecoveryHeapGrowth&) = delete;
  RecoveryHeapGrowth& operator=(const RecoveryHeapGrowth&) = delete;
};

}  // namespace

Server::Server(const Options& options) : options_(options) {}

Server::~Server() { Stop(); }

absl::Status Server::Start() {
  ASSIGN_OR_RETURN(data_dir_, wal::DataDir::Open(options_.data_dir));
  MemberIdentity identity = MemberIdentity::Derive(options_.name, options_.advertise_client_urls,
                                                   options_.initial_advertise_peer_urls);
  std::shared_ptr<grpc::ServerCredentials> tls;
  for (const ListenUrl& url : options_.listen_client) {
    if (url.tls && tls == nullptr) {
      ASSIGN_OR_RETURN(tls, TlsCredentials(options_.client_tls));
    }
  }
  ApplyLoop::Options loop_options;
  loop_options.quota_bytes = options_.quota_backend_bytes;
  loop_options.member_id = identity.member_id;
  loop_options.warning_apply_duration = options_.warning_apply_duration;
  loop_options.max_pending = static_cast<size_t>(options_.max_pending_requests);
  loop_options.history.max_events = static_cast<size_t>(options_.watch_history_max_events);
  loop_options.history.max_bytes = static_cast<size_t>(options_.watch_history_max_bytes);
  loop_options.watch.fragment_bytes = options_.max_request_bytes + kGrpcOverheadBytes;
  loop_options.watch.progress_interval = options_.watch_progress_notify_interval;
  identity.Fill(&loop_options.watch.header);
  metrics_ = std::make_unique<ServerMetrics>(options_, identity);
  std::unique_ptr<SourceEtcd> import_source;
  if (!options_.import_from.url.empty()) {
    ASSIGN_OR_RETURN(import_source, SourceEtcd::Connect(options_.import_from));
    RETURN_IF_ERROR(LiveImport::CopyInitialState(*import_source, wal::WalDir(data_dir_->path())));
  }
  loop_ = std::make_unique<ApplyLoop>(loop_options);
  RETURN_IF_ERROR(StartDurability(identity.member_id));
  if (import_source != nullptr) {
    ASSIGN_OR_RETURN(live_import_, LiveImport::Start(std::move(import_source), loop_.get(),
                                                     metrics_->registry()));
  }
  kv_ = std::make_unique<KvService>(
      identity, KvService::Limits{options_.max_request_bytes, options_.max_txn_ops}, loop_.get());
  watch::WatchStream::Limits stream_limits;
  stream_limits.soft_bytes = static_cast<size_t>(options_.watch_stream_max_bytes);
  stream_limits.hard_bytes = 4 * stream_limits.soft_bytes;
  watch_ = std::make_unique<WatchService>(stream_limits, loop_.get());
  lease_ = std::make_unique<LeaseService>(identity, loop_.get());
  snapshots_ = std::make_unique<SnapshotSender>(data_dir_->path(), identity, loop_.get());
  maintenance_ = std::make_unique<MaintenanceService>(identity, loop_.get(), snapshots_.get());
  cluster_ = std::make_unique<ClusterService>(identity);
  auth_ = std::make_unique<AuthService>(identity, loop_.get());
  if (options_.auto_compaction.enabled()) {
    auto_compactor_ = std::make_unique<AutoCompactor>(options_.auto_compaction, loop_.get());
  }

  // grpc.health.v1.Health, serving "" as SERVING.
  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  std::vector<int> ports(options_.listen_client.size());
  for (size_t i = 0; i < options_.listen_client.size(); ++i) {
    const ListenUrl& url = options_.listen_client[i];
    builder.AddListeningPort(url.address, url.tls ? tls : grpc::InsecureServerCredentials(),
                             &ports[i]);
  }
  builder.RegisterService(kv_.get());
  builder.RegisterService(watch_.get());
  builder.RegisterService(lease_.get());
  builder.RegisterService(maintenance_.get());
  builder.RegisterService(cluster_.get());
  builder.RegisterService(auth_.get());
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  // First, so that the metrics see the status it gives undecodable requests.
  interceptors.push_back(MakeUndecodableRequestInterceptor());
  interceptors.push_back(MakeGrpcMetricsInterceptor(
      metrics_->registry(),
      {"etcdserverpb.KV", "etcdserverpb.Watch", "etcdserverpb.Lease", "etcdserverpb.Maintenance",
       "etcdserverpb.Cluster", "etcdserverpb.Auth"},
      {"/etcdserverpb.Watch/Watch", "/etcdserverpb.Lease/LeaseKeepAlive"}));
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  builder.SetMaxReceiveMessageSize(static_cast<int>(
      std::min<int64_t>(options_.max_request_bytes + kGrpcOverheadBytes, INT_MAX)));
  builder.SetMaxSendMessageSize(-1);
  // Two servers on one port must not silently share it.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, INT_MAX);
  // A stream's receive window stays at 64 KiB while the service does not read (reading a large
  // message opens it to that message's size). With BDP probing, gRPC C++ announces windows of
  // several MiB to every stream, read or not: 64 keepalive streams flooded with requests, which
  // are read one at a time, made the server buffer 470 MiB (hostile_clients_test, KeepAliveFlood).
  builder.AddChannelArgument(GRPC_ARG_HTTP2_BDP_PROBE, 0);
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
      const std::string& address = options_.listen_client[i].address;
      if (grpc_) grpc_->Shutdown();
      grpc_.reset();
      return absl::UnavailableError(
          absl::StrCat("cannot listen on ", address, ": ", BindFailureReason(address)));
    }
  }
  if (!options_.listen_metrics.empty()) {
    ASSIGN_OR_RETURN(http_, HttpEndpoints::Start(options_, loop_.get(), metrics_.get()));
  }
  Log(LogLevel::kInfo, "serving client requests",
      {{"name", options_.name},
       {"data-dir", options_.data_dir},
       {"listen-client-urls", absl::StrJoin(options_.listen_client, ",",
                                            [](std::string* out, const ListenUrl& url) {
                                              absl::StrAppend(out, url.tls ? "https://" : "http://",
                                                              url.address);
                                            })},
       {"listen-metrics-urls",
        absl::StrJoin(options_.listen_metrics, ",",
                      [](std::string* out, const ListenUrl& url) {
                        absl::StrAppend(out, url.tls ? "https://" : "http://", url.address);
                      })},
       {"client-cert-auth", options_.client_tls.client_cert_auth ? "true" : "false"},
       {"quota-backend-bytes", std::to_string(options_.quota_backend_bytes)},
       {"auto-compaction",
        !options_.auto_compaction.enabled() ? "off"
        : options_.auto_compaction.mode == AutoCompaction::Mode::kRevision
            ? absl::StrCat("revision ", options_.auto_compaction.revisions)
            : absl::StrCat("periodic ", absl::FormatDuration(options_.auto_compaction.period))},
       {"member-id", absl::StrCat(absl::Hex(identity.member_id))},
       {"cluster-id", absl::StrCat(absl::Hex(identity.cluster_id))}});
  return absl::OkStatus();
}

void Server::Stop() {
  if (http_) http_->Stop();
  if (grpc_) {
    // New RPCs are refused at once; unary ones in flight finish through the loop well within the
    // grace period, after which the rest (watch streams, which never end by themselves) are
    // cancelled.
    grpc_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
    grpc_.reset();
  }
  if (auto_compactor_) auto_compactor_->Stop();
  if (live_import_) live_import_->Stop();
  if (snapshots_) snapshots_->Stop();
  if (loop_) loop_->Stop();
  if (wal_) wal_->Stop();
}

absl::Status Server::Promote() {
  if (live_import_ == nullptr) {
    return absl::FailedPreconditionError("there is no live import (--import-from) to promote");
  }
  return live_import_->Promote(absl::Seconds(30));
}

absl::Status Server::StartDurability(uint64_t member_id) {
  const std::string wal_dir = wal::WalDir(data_dir_->path());
  return loop_->RunAndWait([&](ApplyLoop::Engine& engine) -> absl::Status {
    wal::RecoverySummary recovered;
    {
      RecoveryHeapGrowth heap_growth;
      ASSIGN_OR_RETURN(recovered, wal::Recover({wal_dir, options_.wal_skip_damaged}, &engine.store,
                                               &engine.lessor, absl::Now()));
    }
    Log(LogLevel::kInfo, "recovered from the data dir",
        {{"keys", std::to_string(recovered.keys)},
         {"revision", std::to_string(recovered.revision)},
         {"compact-revision", std::to_string(recovered.compacted)},
         {"leases", std::to_string(recovered.leases)},
         {"streams", std::to_string(recovered.streams.size())},
         {"records", std::to_string(recovered.records)},
         {"bytes", std::to_string(recovered.bytes)},
         {"torn-tails-cut", std::to_string(recovered.torn_tails)},
         {"incomplete-batch-findings", std::to_string(recovered.incomplete_batches.size())},
         {"damaged-regions-skipped", std::to_string(recovered.skipped.size())},
         {"took", absl::FormatDuration(recovered.took)}});
    ASSIGN_OR_RETURN(std::unique_ptr<wal::IoBackend> backend, wal::MakeIoBackend(options_.wal_io));
    wal::Wal::Options wal_options;
    wal_options.dir = wal_dir;
    wal_options.modes = options_.wal_modes;
    wal_options.flush_interval = options_.wal_flush_interval;
    wal_options.segment_bytes = static_cast<uint64_t>(options_.wal_segment_bytes);
    wal_options.max_backlog_bytes = static_cast<size_t>(options_.wal_max_backlog_bytes);
    wal_options.write_seconds = metrics_->wal_write_seconds();
    wal_options.fsync_seconds = metrics_->wal_fsync_seconds();
    wal_options.on_nospace = [loop = loop_.get(), member_id] {
      loop->SubmitBookkeeping([member_id](ApplyLoop::Engine& e) {
        if (e.alarms.Activate(member_id, etcdserverpb::NOSPACE)) {
          Log(LogLevel::kError,
              "alarm raised: NOSPACE; writes that add data are refused until "
              "`etcdctl alarm disarm`");
        }
      });
    };
    ASSIGN_OR_RETURN(wal_, wal::Wal::Start(std::move(wal_options), std::move(backend), recovered));
    engine.store.set_change_log(wal_.get());
    engine.wal = wal_.get();
    std::vector<std::string> prefixes;
    for (const auto& [prefix, mode] : options_.wal_modes.prefixes()) {
      prefixes.push_back(absl::StrCat(prefix, "=", AbslView(wal::ModeName(mode))));
    }
    std::sort(prefixes.begin(), prefixes.end());
    Log(LogLevel::kInfo, "durability",
        {{"wal-default", std::string(wal::ModeName(options_.wal_modes.default_mode()))},
         {"wal-prefix-modes", absl::StrJoin(prefixes, ",")},
         {"wal-flush-interval", absl::FormatDuration(options_.wal_flush_interval)},
         {"io", std::string(wal_->backend_name())}});
    return absl::OkStatus();
  });
}

}  // namespace rametcd::server
