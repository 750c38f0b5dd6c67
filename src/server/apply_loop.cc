#include "server/apply_loop.h"

#include <utility>

namespace rametcd::server {

ApplyLoop::ApplyLoop(const Options& options) : options_(options) {
  thread_ = std::thread([this] { Run(); });
}

ApplyLoop::~ApplyLoop() { Stop(); }

bool ApplyLoop::Submit(Task task) {
  absl::MutexLock lock(&mu_);
  if (stopping_ || queue_.size() >= options_.max_pending) return false;
  queue_.push_back(std::move(task));
  return true;
}

void ApplyLoop::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void ApplyLoop::Run() {
  std::vector<Task> batch;
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      // With compaction work left, take whatever is queued without waiting.
      if (!store_.compaction_pending()) {
        mu_.Await(absl::Condition(this, &ApplyLoop::HasWorkLocked));
      }
      if (queue_.empty() && stopping_) return;
      batch.swap(queue_);
    }
    for (Task& task : batch) std::move(task)(store_);
    batch.clear();
    if (store_.compaction_pending()) store_.CompactSome(options_.compaction_step_keys);
  }
}

}  // namespace rametcd::server
