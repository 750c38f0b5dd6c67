#include "load/watch_streams.h"

#include <chrono>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/notification.h"
#include "load/kv_ops.h"

namespace rametcd::bench {
namespace {

constexpr size_t kStampDigits = 20;

int64_t NowNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

}  // namespace

class WatchStreams::Stream final
    : public grpc::ClientBidiReactor<etcdserverpb::WatchRequest, etcdserverpb::WatchResponse> {
 public:
  Stream(WatchStreams* owner, etcdserverpb::Watch::Stub& stub, const std::vector<KeyRange>& ranges,
         bool timed)
      : owner_(owner), timed_(timed) {
    for (const auto& [key, end] : ranges) {
      etcdserverpb::WatchCreateRequest* create = writes_.emplace_back().mutable_create_request();
      create->set_key(key);
      create->set_range_end(end);
    }
    stub.async()->Watch(&ctx_, this);
    StartRead(&response_);
    if (!writes_.empty()) StartWrite(&writes_[0]);
    StartCall();
  }

  void OnWriteDone(bool ok) override {
    if (ok && ++written_ < writes_.size()) StartWrite(&writes_[written_]);
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;
    if (response_.created()) owner_->created_.fetch_add(1, std::memory_order_relaxed);
    owner_->events_.fetch_add(static_cast<uint64_t>(response_.events_size()),
                              std::memory_order_relaxed);
    if (timed_ && response_.events_size() > 0) {
      const int64_t now = NowNanos();
      for (const mvccpb::Event& e : response_.events()) {
        int64_t sent = 0;
        if (absl::SimpleAtoi(absl::string_view(e.kv().value()).substr(0, kStampDigits), &sent)) {
          latency_.Add(std::chrono::nanoseconds(now - sent));
        }
      }
    }
    StartRead(&response_);
  }

  void OnDone(const grpc::Status&) override { done_.Notify(); }

  void Cancel() { ctx_.TryCancel(); }
  void WaitDone() { done_.WaitForNotification(); }
  const Latencies& latency() const { return latency_; }

 private:
  WatchStreams* const owner_;
  const bool timed_;
  grpc::ClientContext ctx_;
  std::vector<etcdserverpb::WatchRequest> writes_;
  size_t written_ = 0;
  etcdserverpb::WatchResponse response_;
  Latencies latency_;
  absl::Notification done_;
};

WatchStreams::WatchStreams(Connections& conns, const std::vector<std::vector<KeyRange>>& ranges,
                           bool timed) {
  for (size_t s = 0; s < ranges.size(); ++s) {
    watches_ += ranges[s].size();
    streams_.push_back(
        std::make_unique<Stream>(this, conns.watch(static_cast<int>(s)), ranges[s], timed));
  }
}

WatchStreams::~WatchStreams() { Stop(); }

absl::Status WatchStreams::WaitCreated(double seconds) {
  const Clock::time_point deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                                        std::chrono::duration<double>(seconds));
  while (created_.load(std::memory_order_relaxed) < watches_) {
    if (Clock::now() > deadline) {
      return absl::DeadlineExceededError(absl::StrCat(created_.load(), " of ", watches_,
                                                      " watches created after ", seconds, " s"));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return absl::OkStatus();
}

void WatchStreams::Stop() {
  if (stopped_) return;
  stopped_ = true;
  for (auto& s : streams_) s->Cancel();
  for (auto& s : streams_) s->WaitDone();
}

Latencies WatchStreams::latencies() const {
  Latencies all;
  for (const auto& s : streams_) all.Append(s->latency());
  return all;
}

TimedPutOp::TimedPutOp(Connections& conns, std::vector<std::string> keys, int val_size)
    : conns_(conns), keys_(std::move(keys)), val_size_(val_size) {}

void TimedPutOp::Start(int /*client*/, Completion* done) {
  const uint64_t n = next_.fetch_add(1, std::memory_order_relaxed);
  std::string value = absl::StrFormat("%0*d", static_cast<int>(kStampDigits), NowNanos());
  if (static_cast<int>(value.size()) < val_size_) value.resize(static_cast<size_t>(val_size_), 'v');
  SendPut(conns_.kv(static_cast<int>(n)), keys_[n % keys_.size()], std::move(value), done);
}

}  // namespace rametcd::bench
