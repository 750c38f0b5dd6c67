#include "server/apply_loop.h"

#include <utility>

namespace rametcd::server {

ApplyLoop::ApplyLoop(const Options& options)
    : options_(options), store_(options.history), hub_(options.watch, &store_) {
  thread_ = std::thread([this] { Run(); });
}

ApplyLoop::~ApplyLoop() { Stop(); }

bool ApplyLoop::Submit(Task task) {
  absl::MutexLock lock(&mu_);
  if (stopping_ || queue_.size() >= options_.max_pending) return false;
  queue_.push_back(std::move(task));
  return true;
}

void ApplyLoop::SubmitBookkeeping(Task task) {
  absl::MutexLock lock(&mu_);
  if (!stopping_) queue_.push_back(std::move(task));
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
  absl::Time next_tick = hub_.Tick(absl::Now());
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      // With compaction work left, take whatever is queued without waiting.
      if (!store_.compaction_pending()) {
        mu_.AwaitWithDeadline(absl::Condition(this, &ApplyLoop::HasWorkLocked), next_tick);
      }
      if (queue_.empty() && stopping_) return;
      batch.swap(queue_);
    }
    for (Task& task : batch) {
      std::move(task)(store_, hub_);
      hub_.Dispatch();
    }
    batch.clear();
    if (store_.compaction_pending()) store_.CompactSome(options_.compaction_step_keys);
    next_tick = hub_.Tick(absl::Now());
  }
}

}  // namespace rametcd::server
