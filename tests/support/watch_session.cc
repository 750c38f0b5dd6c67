#include "support/watch_session.h"

namespace rametcd::testing {

WatchSession::WatchSession(const std::shared_ptr<grpc::Channel>& channel)
    : stub_(etcdserverpb::Watch::NewStub(channel)) {
  stream_ = stub_->Watch(&ctx_);
  reader_ = std::thread([this] {
    etcdserverpb::WatchResponse resp;
    while (stream_->Read(&resp)) {
      absl::MutexLock lock(&mu_);
      received_.push_back(resp);
    }
    absl::MutexLock lock(&mu_);
    ended_ = true;
  });
}

WatchSession::~WatchSession() {
  ctx_.TryCancel();
  reader_.join();
  stream_->Finish().ok();
}

bool WatchSession::Send(const etcdserverpb::WatchRequest& req) { return stream_->Write(req); }

std::optional<etcdserverpb::WatchResponse> WatchSession::Next(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !received_.empty() || ended_; };
  mu_.AwaitWithTimeout(absl::Condition(&ready), timeout);
  if (received_.empty()) return std::nullopt;
  etcdserverpb::WatchResponse resp = std::move(received_.front());
  received_.pop_front();
  return resp;
}

bool WatchSession::HalfClose() { return stream_->WritesDone(); }

etcdserverpb::WatchRequest CreateWatch(const std::string& key, const std::string& range_end,
                                       int64_t start_revision) {
  etcdserverpb::WatchRequest req;
  auto* create = req.mutable_create_request();
  create->set_key(key);
  create->set_range_end(range_end);
  create->set_start_revision(start_revision);
  return req;
}

etcdserverpb::WatchRequest CancelWatch(int64_t watch_id) {
  etcdserverpb::WatchRequest req;
  req.mutable_cancel_request()->set_watch_id(watch_id);
  return req;
}

etcdserverpb::WatchRequest ProgressRequest() {
  etcdserverpb::WatchRequest req;
  req.mutable_progress_request();
  return req;
}

}  // namespace rametcd::testing
