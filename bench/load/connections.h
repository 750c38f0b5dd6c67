// The load generator's connections to the server: `conns` gRPC channels, each its own TCP
// connection (a distinct channel argument keeps gRPC from sharing one), with a KV and a Watch
// stub each. Client i uses connection i % conns, as etcd's `benchmark` spreads its clients.
//
// Thread safety: stubs are thread-safe; the object is read-only after construction.
#ifndef RAMETCD_BENCH_LOAD_CONNECTIONS_H_
#define RAMETCD_BENCH_LOAD_CONNECTIONS_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "etcd/api/etcdserverpb/rpc.grpc.pb.h"
#include "grpcpp/grpcpp.h"

namespace rametcd::bench {

class Connections {
 public:
  Connections(const std::string& endpoint, int conns);

  // Waits until every channel is connected. Errors: Unavailable after `seconds`.
  absl::Status WaitReady(double seconds);

  etcdserverpb::KV::Stub& kv(int client) { return *kv_[client % kv_.size()]; }
  etcdserverpb::Watch::Stub& watch(int client) { return *watch_[client % watch_.size()]; }
  int size() const { return static_cast<int>(channels_.size()); }

 private:
  std::vector<std::shared_ptr<grpc::Channel>> channels_;
  std::vector<std::unique_ptr<etcdserverpb::KV::Stub>> kv_;
  std::vector<std::unique_ptr<etcdserverpb::Watch::Stub>> watch_;
};

}  // namespace rametcd::bench

#endif  // RAMETCD_BENCH_LOAD_CONNECTIONS_H_
