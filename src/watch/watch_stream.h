// WatchStream: the outgoing half of one Watch RPC, shared by the WatchHub (apply thread), which
// queues responses, and the gRPC reactor, which writes them one at a time.
//
// Bounds: event responses are refused once `soft_bytes` are queued (the hub then moves the
// watcher off the live path and catches it up later); control responses (created, canceled,
// progress) are always queued, and the reactor stops reading requests while more than
// `hard_bytes` are queued, so a client that never reads cannot grow the queue without bound.
//
// Lifecycle: the reactor is the Writer. Every write or finish decision is made under the mutex and
// at most one write is in flight; Finish is issued only when no write is, so no Write can follow
// it. After Close() (the reactor is gone) everything queued is dropped and Send refuses.
//
// Thread safety: all methods are thread-safe. Writer callbacks are invoked without the lock held.
#ifndef RAMETCD_WATCH_WATCH_STREAM_H_
#define RAMETCD_WATCH_WATCH_STREAM_H_

#include <cstddef>
#include <deque>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "etcd/api/etcdserverpb/rpc.pb.h"
#include "grpcpp/support/status.h"

namespace rametcd::watch {

class WatchStream {
 public:
  class Writer {
   public:
    virtual ~Writer() = default;
    virtual void Write(const etcdserverpb::WatchResponse* response) = 0;
    virtual void Finish(const grpc::Status& status) = 0;
  };

  struct Limits {
    size_t soft_bytes = 4 << 20;
    size_t hard_bytes = 16 << 20;
  };

  WatchStream(const Limits& limits, Writer* writer) : limits_(limits), writer_(writer) {}

  // Queues `pieces` (the fragments of one revision batch) as a unit. Returns false, queuing
  // nothing, when the stream is over its soft bound or closed.
  bool Send(std::vector<etcdserverpb::WatchResponse> pieces);
  // Queues a control response regardless of the soft bound (not after Close()).
  void SendControl(etcdserverpb::WatchResponse response);

  struct AfterWrite {
    bool drained = false;         // fell below the soft bound after having refused events
    bool resume_reading = false;  // fell below the hard bound
  };
  // The reactor's OnWriteDone.
  AfterWrite OnWriteDone(bool ok);
  // Finishes the RPC with `status` once the write in flight (if any) completes.
  void RequestFinish(const grpc::Status& status);
  // The reactor is done: drop everything, refuse from now on.
  void Close();

  bool OverHardLimit() const;
  size_t queued_bytes() const;

 private:
  // Starts the next write if none is in flight; returns the message to write, or nullptr.
  const etcdserverpb::WatchResponse* NextWriteLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void PushLocked(etcdserverpb::WatchResponse response) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Limits limits_;
  mutable absl::Mutex mu_;
  Writer* writer_ ABSL_GUARDED_BY(mu_);
  // Responses with their encoded sizes (computed once, when queued).
  std::deque<std::pair<etcdserverpb::WatchResponse, size_t>> queue_ ABSL_GUARDED_BY(mu_);
  size_t queued_bytes_ ABSL_GUARDED_BY(mu_) = 0;  // includes the write in flight
  etcdserverpb::WatchResponse in_flight_ ABSL_GUARDED_BY(mu_);
  size_t in_flight_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool refused_ ABSL_GUARDED_BY(mu_) = false;  // Send refused since the last drain
  bool finish_requested_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status finish_status_ ABSL_GUARDED_BY(mu_);
};

}  // namespace rametcd::watch

#endif  // RAMETCD_WATCH_WATCH_STREAM_H_
