// AutoCompactor: etcd's --auto-compaction-mode / --auto-compaction-retention.
//
//  - periodic: keeps `period` of history. Every period/10 (every hour for periods of an hour or
//    more) it samples the current revision and compacts to the newest sample taken at least
//    `period` ago, as etcd does ("72h" compacts hourly to the revision of 72 hours before).
//  - revision: every 5 minutes, compacts to the current revision minus `revisions`.
//
// Compactions go through the store like KV.Compact (logged to the WAL, watches see the new
// compaction point) and each one is logged. Nothing happens while the revision stands still.
//
// Ownership: owns one timer thread, which only submits bookkeeping tasks to the borrowed
// ApplyLoop; the samples are touched by those tasks only. Stop() (or the
// destructor) joins the thread; it must run before the loop stops.
#ifndef RAMETCD_SERVER_AUTO_COMPACTOR_H_
#define RAMETCD_SERVER_AUTO_COMPACTOR_H_

#include <cstdint>
#include <deque>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/apply_loop.h"
#include "server/options.h"

namespace rametcd::server {

class AutoCompactor {
 public:
  // REQUIRES: config.enabled().
  AutoCompactor(const AutoCompaction& config, ApplyLoop* loop);
  ~AutoCompactor();
  AutoCompactor(const AutoCompactor&) = delete;
  AutoCompactor& operator=(const AutoCompactor&) = delete;

  void Stop();

  // How often it acts for `config`.
  static absl::Duration Interval(const AutoCompaction& config);

 private:
  void Run();
  // In an apply task.
  void Tick(ApplyLoop::Engine& engine, absl::Time now);

  const AutoCompaction config_;
  ApplyLoop* const loop_;
  // (time, revision) samples, oldest first; apply tasks only.
  std::deque<std::pair<absl::Time, int64_t>> samples_;

  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace rametcd::server

#endif  // RAMETCD_SERVER_AUTO_COMPACTOR_H_
