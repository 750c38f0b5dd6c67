// Test support: one Watch RPC driven synchronously. A reader thread queues every response, so
// tests can wait for the next one with a deadline or check that none arrives.
#ifndef RAMETCD_TESTS_SUPPORT_WATCH_SESSION_H_
#define RAMETCD_TESTS_SUPPORT_WATCH_SESSION_H_

#include <deque>
#include <memory>
#include <optional>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "etcd/api/etcdserverpb/rpc.grpc.pb.h"
#include "grpcpp/channel.h"

namespace rametcd::testing {

class WatchSession {
 public:
  explicit WatchSession(const std::shared_ptr<grpc::Channel>& channel);
  ~WatchSession();  // cancels the RPC and joins the reader

  bool Send(const etcdserverpb::WatchRequest& req);
  // The next response, or nullopt if none arrives within `timeout`.
  std::optional<etcdserverpb::WatchResponse> Next(absl::Duration timeout = absl::Seconds(10));
  // Half-closes the stream: no more requests.
  bool HalfClose();

 private:
  std::unique_ptr<etcdserverpb::Watch::Stub> stub_;
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientReaderWriter<etcdserverpb::WatchRequest, etcdserverpb::WatchResponse>>
      stream_;
  absl::Mutex mu_;
  std::deque<etcdserverpb::WatchResponse> received_ ABSL_GUARDED_BY(mu_);
  bool ended_ ABSL_GUARDED_BY(mu_) = false;
  std::thread reader_;
};

etcdserverpb::WatchRequest CreateWatch(const std::string& key, const std::string& range_end = "",
                                       int64_t start_revision = 0);
etcdserverpb::WatchRequest CancelWatch(int64_t watch_id);
etcdserverpb::WatchRequest ProgressRequest();

}  // namespace rametcd::testing

#endif  // RAMETCD_TESTS_SUPPORT_WATCH_SESSION_H_
