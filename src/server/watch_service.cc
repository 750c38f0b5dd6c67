#include "server/watch_service.h"

#include <atomic>
#include <memory>
#include <utility>

#include "base/etcd_errors.h"
#include "server/grpc_status.h"
#include "watch/watch_hub.h"

namespace rametcd::server {
namespace {

using etcdserverpb::WatchRequest;
using etcdserverpb::WatchResponse;

// One Watch RPC. Reads requests one at a time (pausing while its outbox is over the hard bound),
// and is the Writer of its WatchStream.
class WatchReactor final : public grpc::ServerBidiReactor<WatchRequest, WatchResponse>,
                           public watch::WatchStream::Writer {
 public:
  WatchReactor(const watch::WatchStream::Limits& limits, ApplyLoop* loop)
      : loop_(loop), stream_(std::make_shared<watch::WatchStream>(limits, this)) {
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    // The client half-closed, or the RPC ended: like etcd, keep delivering events until the
    // client cancels (OnCancel).
    if (!ok) return;
    auto stream = stream_;
    bool queued = loop_->Submit([stream, req = std::move(request_)](ApplyLoop::Engine& engine) {
      engine.hub.Handle(stream, req);
    });
    request_.Clear();
    if (!queued) {
      stream_->RequestFinish(ToGrpcStatus(etcd_errors::TooManyRequests()));
      return;
    }
    if (stream_->OverHardLimit()) {
      paused_.store(true);
      // OnWriteDone may have drained the outbox in between: whoever clears the flag reads on.
      if (stream_->OverHardLimit() || !paused_.exchange(false)) return;
    }
    StartRead(&request_);
  }

  void OnWriteDone(bool ok) override {
    watch::WatchStream::AfterWrite after = stream_->OnWriteDone(ok);
    if (after.drained) {
      auto stream = stream_;
      loop_->SubmitBookkeeping([stream](ApplyLoop::Engine& engine) { engine.hub.Resume(stream); });
    }
    if (after.resume_reading && paused_.exchange(false)) StartRead(&request_);
  }

  void OnCancel() override { stream_->RequestFinish(grpc::Status::CANCELLED); }

  void OnDone() override {
    stream_->Close();
    auto stream = stream_;
    loop_->SubmitBookkeeping(
        [stream](ApplyLoop::Engine& engine) { engine.hub.RemoveStream(stream); });
    delete this;
  }

  // watch::WatchStream::Writer
  void Write(const WatchResponse* response) override { StartWrite(response); }
  void Finish(const grpc::Status& status) override {
    grpc::ServerBidiReactor<WatchRequest, WatchResponse>::Finish(status);
  }

 private:
  ApplyLoop* const loop_;
  const std::shared_ptr<watch::WatchStream> stream_;
  WatchRequest request_;
  std::atomic<bool> paused_{false};
};

}  // namespace

grpc::ServerBidiReactor<WatchRequest, WatchResponse>* WatchService::Watch(
    grpc::CallbackServerContext* ctx) {
  return new WatchReactor(limits_, loop_);
}

}  // namespace rametcd::server
