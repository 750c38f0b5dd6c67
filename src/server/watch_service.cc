#include "server/watch_service.h"

#include <atomic>
#include <memory>
#include <utility>

#include "base/etcd_errors.h"
#include "base/logging.h"
#include "server/grpc_status.h"
#include "server/undecodable_requests.h"
#include "watch/watch_hub.h"

namespace rametcd::server {
namespace {

using etcdserverpb::WatchRequest;
using etcdserverpb::WatchResponse;

// One Watch RPC. Reads requests one at a time (pausing while its outbox is over the hard bound),
// and is the Writer of its WatchStream. Messages are parsed and serialized here (see
// WatchService).
class WatchReactor final : public grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>,
                           public watch::WatchStream::Writer {
 public:
  WatchReactor(const watch::WatchStream::Limits& limits, ApplyLoop* loop)
      : loop_(loop), stream_(std::make_shared<watch::WatchStream>(limits, this)) {
    StartRead(&request_bytes_);
  }

  void OnReadDone(bool ok) override {
    // The client half-closed, or the RPC ended: like etcd, keep delivering events until the
    // client cancels (OnCancel).
    if (!ok) return;
    if (!ParseRequest(&request_bytes_, &request_)) {
      stream_->RequestFinish(UndecodableStreamMessage("etcdserverpb.WatchRequest"));
      return;
    }
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
    StartRead(&request_bytes_);
  }

  void OnWriteDone(bool ok) override {
    watch::WatchStream::AfterWrite after = stream_->OnWriteDone(ok);
    if (after.drained) {
      auto stream = stream_;
      loop_->SubmitBookkeeping([stream](ApplyLoop::Engine& engine) { engine.hub.Resume(stream); });
    }
    if (after.resume_reading && paused_.exchange(false)) StartRead(&request_bytes_);
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
  // One write at a time (WatchStream), so one buffer will do.
  void Write(const WatchResponse* response) override {
    bool own_buffer = false;
    response_bytes_.Clear();  // the previous write completed
    grpc::Status serialized = grpc::SerializationTraits<WatchResponse>::Serialize(
        *response, &response_bytes_, &own_buffer);
    CHECK(serialized.ok());
    StartWrite(&response_bytes_);
  }
  void Finish(const grpc::Status& status) override {
    grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>::Finish(status);
  }

 private:
  ApplyLoop* const loop_;
  const std::shared_ptr<watch::WatchStream> stream_;
  grpc::ByteBuffer request_bytes_;
  WatchRequest request_;
  grpc::ByteBuffer response_bytes_;
  std::atomic<bool> paused_{false};
};

}  // namespace

grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* WatchService::Watch(
    grpc::CallbackServerContext* ctx) {
  return new WatchReactor(limits_, loop_);
}

}  // namespace rametcd::server
