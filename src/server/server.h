// Server: one rametcd member: the data dir, the apply loop with its store, the gRPC services and
// the listening sockets.
//
// Ownership: owns everything it starts. Lifecycle: Start() once (recovery from the data dir, then
// serving); Stop() (or the destructor) shuts gRPC down first, so in-flight RPCs still complete
// through the apply loop, then stops the loop, then the WAL (which writes out what is queued).
//
// Thread safety: Start() and Stop() from one thread (main).
#ifndef RAMETCD_SERVER_SERVER_H_
#define RAMETCD_SERVER_SERVER_H_

#include <memory>

#include "absl/status/status.h"
#include "grpcpp/server.h"
#include "server/apply_loop.h"
#include "server/auth_service.h"
#include "server/auto_compactor.h"
#include "server/cluster_service.h"
#include "server/grpc_metrics.h"
#include "server/http_endpoints.h"
#include "server/kv_service.h"
#include "server/lease_service.h"
#include "server/live_import.h"
#include "server/maintenance_service.h"
#include "server/options.h"
#include "server/server_metrics.h"
#include "server/watch_service.h"
#include "wal/data_dir.h"
#include "wal/wal.h"

namespace rametcd::server {

class Server {
 public:
  explicit Server(const Options& options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Opens the data dir and starts serving. Errors: the data dir is unusable or locked, or a
  // listen address cannot be bound (the message names it and the reason).
  absl::Status Start();
  // Ends a live import (--import-from): see LiveImport::Promote. Errors: there is none to end.
  absl::Status Promote();
  void Stop();

 private:
  // Recovers the store from the data dir and attaches the WAL, on the apply thread.
  absl::Status StartDurability(uint64_t member_id);

  const Options options_;
  std::unique_ptr<ServerMetrics> metrics_;  // outlives everything that counts into it
  std::unique_ptr<wal::DataDir> data_dir_;
  std::unique_ptr<wal::Wal> wal_;  // stopped after the loop: the store reports to it
  std::unique_ptr<ApplyLoop> loop_;
  std::unique_ptr<KvService> kv_;
  std::unique_ptr<WatchService> watch_;
  std::unique_ptr<LeaseService> lease_;
  std::unique_ptr<SnapshotSender> snapshots_;  // stopped after gRPC, before the loop
  std::unique_ptr<MaintenanceService> maintenance_;
  std::unique_ptr<ClusterService> cluster_;
  std::unique_ptr<AuthService> auth_;
  std::unique_ptr<AutoCompactor> auto_compactor_;  // stopped before the loop
  std::unique_ptr<LiveImport> live_import_;        // stopped before the loop
  std::unique_ptr<grpc::Server> grpc_;
  std::unique_ptr<HttpEndpoints> http_;  // stopped first
};

}  // namespace rametcd::server

#endif  // RAMETCD_SERVER_SERVER_H_
