// SourceEtcd: the client side of a live import (live_import.h): blocking calls to the running
// etcd being copied, over one gRPC channel (TLS with etcdctl's --cacert/--cert/--key files).
//
// Every call has a deadline, so a source that stops answering makes the caller retry or fail,
// never hang. The watch is the exception by nature: OpenWatch() returns a stream that blocks in
// Read() until the source sends something or Cancel() is called from another thread.
//
// Thread safety: the unary calls may run concurrently from several threads; one watch stream at a
// time, read by one thread (Cancel() from any).
#ifndef RAMETCD_SERVER_SOURCE_ETCD_H_
#define RAMETCD_SERVER_SOURCE_ETCD_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "etcd/api/etcdserverpb/rpc.grpc.pb.h"
#include "grpcpp/channel.h"
#include "server/options.h"

namespace rametcd::server {

class SourceEtcd {
 public:
  // Builds the channel (reading the TLS files); connects lazily. Errors: unreadable TLS files.
  static absl::StatusOr<std::unique_ptr<SourceEtcd>> Connect(const ImportSource& source);

  const std::string& url() const { return url_; }

  // The source's current revision (the header of a one-key read).
  absl::StatusOr<int64_t> CurrentRevision();
  // The oldest revision the source can still read (its compaction point, or 1), found by a
  // binary search of one-key reads at revisions up to `current`.
  absl::StatusOr<int64_t> OldestReadableRevision(int64_t current);
  // Every key at `revision`, in pages of `page_keys` (key order); `fn` may move the pairs out.
  absl::Status RangeAll(int64_t revision, int64_t page_keys,
                        absl::FunctionRef<absl::Status(std::vector<mvccpb::KeyValue>&)> fn);

  struct Lease {
    int64_t id;
    int64_t granted_ttl;
  };
  // Every lease the source holds with its granted TTL, and the revision of the list.
  absl::StatusOr<std::vector<Lease>> Leases(int64_t* revision);
  // The granted TTL of one lease; nullopt when the source does not know it (anymore).
  absl::StatusOr<std::optional<int64_t>> GrantedTtl(int64_t id);

  // A watch over every key from `start_revision`, the stream already created. Read() with
  // ReadWatch(); Cancel() ends a blocked read from another thread.
  class Watch {
   public:
    explicit Watch(etcdserverpb::Watch::Stub& stub);
    // Sends the create request; errors when the stream breaks.
    absl::Status Start(int64_t start_revision);
    // The next response (progress, events, cancellation); errors when the stream ends.
    absl::StatusOr<etcdserverpb::WatchResponse> Read();
    void Cancel() { context_.TryCancel(); }

   private:
    grpc::ClientContext context_;
    std::unique_ptr<
        grpc::ClientReaderWriter<etcdserverpb::WatchRequest, etcdserverpb::WatchResponse>>
        stream_;
  };
  std::unique_ptr<Watch> OpenWatch() { return std::make_unique<Watch>(*watch_); }

 private:
  SourceEtcd(std::string url, std::shared_ptr<grpc::Channel> channel);
  absl::StatusOr<etcdserverpb::RangeResponse> Range(const etcdserverpb::RangeRequest& request);

  const std::string url_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<etcdserverpb::KV::Stub> kv_;
  std::unique_ptr<etcdserverpb::Lease::Stub> lease_;
  std::unique_ptr<etcdserverpb::Watch::Stub> watch_;
};

}  // namespace rametcd::server

#endif  // RAMETCD_SERVER_SOURCE_ETCD_H_
