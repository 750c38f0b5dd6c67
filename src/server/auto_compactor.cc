#include "server/auto_compactor.h"

#include <string>

#include "base/logging.h"
#include "base/thread_name.h"

namespace rametcd::server {

AutoCompactor::AutoCompactor(const AutoCompaction& config, ApplyLoop* loop)
    : config_(config), loop_(loop) {
  CHECK(config_.enabled());
  thread_ = std::thread([this] {
    NameThisThread("auto-compact");
    Run();
  });
}

AutoCompactor::~AutoCompactor() { Stop(); }

void AutoCompactor::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

absl::Duration AutoCompactor::Interval(const AutoCompaction& config) {
  if (config.mode == AutoCompaction::Mode::kRevision) return absl::Minutes(5);
  return config.period >= absl::Hours(1) ? absl::Hours(1) : config.period / 10;
}

void AutoCompactor::Run() {
  const absl::Duration interval = Interval(config_);
  absl::MutexLock lock(&mu_);
  while (!mu_.AwaitWithTimeout(absl::Condition(&stopping_), interval)) {
    // The samples are touched by these tasks only; SubmitBookkeeping runs them in order.
    loop_->SubmitBookkeeping([this](ApplyLoop::Engine& engine) { Tick(engine, absl::Now()); });
  }
}

void AutoCompactor::Tick(ApplyLoop::Engine& engine, absl::Time now) {
  const int64_t revision = engine.store.revision();
  int64_t target = 0;
  if (config_.mode == AutoCompaction::Mode::kRevision) {
    target = revision - config_.revisions;
  } else {
    samples_.emplace_back(now, revision);
    while (samples_.size() > 1 && samples_[1].first <= now - config_.period) {
      samples_.pop_front();
    }
    if (samples_.front().first <= now - config_.period) target = samples_.front().second;
  }
  if (target <= 0 || target <= engine.store.compacted_revision()) return;
  absl::Status status = engine.store.Compact(target);
  if (!status.ok()) {
    Log(LogLevel::kWarn, "auto-compaction failed",
        {{"revision", std::to_string(target)}, {"error", std::string(status.message())}});
    return;
  }
  Log(LogLevel::kInfo, "compacted automatically",
      {{"revision", std::to_string(target)},
       {"mode", config_.mode == AutoCompaction::Mode::kRevision ? "revision" : "periodic"},
       {"retention", config_.mode == AutoCompaction::Mode::kRevision
                         ? std::to_string(config_.revisions)
                         : absl::FormatDuration(config_.period)}});
}

}  // namespace rametcd::server
