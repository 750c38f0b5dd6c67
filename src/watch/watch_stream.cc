#include "watch/watch_stream.h"

#include <utility>

namespace rametcd::watch {

void WatchStream::PushLocked(etcdserverpb::WatchResponse response) {
  const size_t bytes = response.ByteSizeLong();
  queued_bytes_ += bytes;
  queue_.emplace_back(std::move(response), bytes);
}

const etcdserverpb::WatchResponse* WatchStream::NextWriteLocked() {
  if (writing_ || queue_.empty() || writer_ == nullptr || finish_requested_) return nullptr;
  in_flight_ = std::move(queue_.front().first);
  in_flight_bytes_ = queue_.front().second;
  queue_.pop_front();
  writing_ = true;
  return &in_flight_;
}

bool WatchStream::Send(std::vector<etcdserverpb::WatchResponse> pieces) {
  const etcdserverpb::WatchResponse* next;
  Writer* writer;
  {
    absl::MutexLock lock(&mu_);
    if (writer_ == nullptr || finish_requested_) return false;
    if (queued_bytes_ >= limits_.soft_bytes) {
      refused_ = true;
      return false;
    }
    for (auto& piece : pieces) PushLocked(std::move(piece));
    next = NextWriteLocked();
    writer = writer_;
  }
  if (next != nullptr) writer->Write(next);
  return true;
}

void WatchStream::SendControl(etcdserverpb::WatchResponse response) {
  const etcdserverpb::WatchResponse* next;
  Writer* writer;
  {
    absl::MutexLock lock(&mu_);
    if (writer_ == nullptr || finish_requested_) return;
    PushLocked(std::move(response));
    next = NextWriteLocked();
    writer = writer_;
  }
  if (next != nullptr) writer->Write(next);
}

WatchStream::AfterWrite WatchStream::OnWriteDone(bool ok) {
  AfterWrite after;
  const etcdserverpb::WatchResponse* next = nullptr;
  bool finish = false;
  Writer* writer;
  grpc::Status status;
  {
    absl::MutexLock lock(&mu_);
    const bool was_over_hard = queued_bytes_ > limits_.hard_bytes;
    queued_bytes_ -= in_flight_bytes_;
    writing_ = false;
    if (!ok) {
      // The client is gone; nothing more can be written. gRPC will call OnDone.
      queue_.clear();
      queued_bytes_ = 0;
      finish_requested_ = true;
    }
    if (finish_requested_ && !finished_) {
      finished_ = true;
      finish = true;
      status = finish_status_;
    } else {
      next = NextWriteLocked();
    }
    if (refused_ && queued_bytes_ < limits_.soft_bytes / 2) {
      refused_ = false;
      after.drained = true;
    }
    after.resume_reading =
        was_over_hard && queued_bytes_ <= limits_.hard_bytes && !finish_requested_;
    writer = writer_;
  }
  if (writer != nullptr) {
    if (next != nullptr) writer->Write(next);
    if (finish) writer->Finish(status);
  }
  return after;
}

void WatchStream::RequestFinish(const grpc::Status& status) {
  Writer* writer = nullptr;
  {
    absl::MutexLock lock(&mu_);
    if (finish_requested_) return;
    finish_requested_ = true;
    finish_status_ = status;
    if (!writing_ && !finished_) {
      finished_ = true;
      writer = writer_;
    }
  }
  if (writer != nullptr) writer->Finish(status);
}

void WatchStream::Close() {
  absl::MutexLock lock(&mu_);
  writer_ = nullptr;
  queue_.clear();
  queued_bytes_ = 0;
}

bool WatchStream::OverHardLimit() const {
  absl::MutexLock lock(&mu_);
  return queued_bytes_ > limits_.hard_bytes;
}

size_t WatchStream::queued_bytes() const {
  absl::MutexLock lock(&mu_);
  return queued_bytes_;
}

}  // namespace rametcd::watch
