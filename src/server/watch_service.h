// WatchService: the etcd v3 Watch gRPC service. Each Watch RPC is a bidirectional-stream reactor
// (WatchReactor in the .cc) that hands create/cancel/progress requests to the WatchHub on the
// apply loop and writes the hub's responses one at a time from its WatchStream.
//
// Ownership: borrows the ApplyLoop, which must outlive the service. Each reactor owns itself and
// deletes itself in OnDone; its WatchStream is shared with the hub until the hub forgets it.
// Thread safety: reactors run on gRPC threads; the hub only on the apply loop.
#ifndef RAMETCD_SERVER_WATCH_SERVICE_H_
#define RAMETCD_SERVER_WATCH_SERVICE_H_

#include "etcd/api/etcdserverpb/rpc.grpc.pb.h"
#include "server/apply_loop.h"
#include "watch/watch_stream.h"

namespace rametcd::server {

// The stream carries raw bytes, which the reactor parses and serializes itself: gRPC C++ reports a
// request that does not decode as the client's half-close, after which a watch stream goes on
// (as etcd's does after a half-close), whereas etcd ends the stream with INTERNAL.
class WatchService final
    : public etcdserverpb::Watch::WithRawCallbackMethod_Watch<etcdserverpb::Watch::Service> {
 public:
  WatchService(const watch::WatchStream::Limits& limits, ApplyLoop* loop)
      : limits_(limits), loop_(loop) {}

  grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* Watch(
      grpc::CallbackServerContext* ctx) override;

 private:
  const watch::WatchStream::Limits limits_;
  ApplyLoop* const loop_;
};

}  // namespace rametcd::server

#endif  // RAMETCD_SERVER_WATCH_SERVICE_H_
