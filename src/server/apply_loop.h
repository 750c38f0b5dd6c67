// ApplyLoop: the one thread that owns the MVCC store and the watch hub, and runs every operation
// on them.
//
// gRPC reactors never touch the store: they Submit() a task and return; the loop drains all queued
// tasks as one batch, runs them in order (one task at a time makes every read and write
// linearizable without a lock around the store), delivers each new revision to the watches right
// after the request that made it (so no revision can leave the history ring undelivered) or, while
// fsync-mode changes up to it are not on disk yet, as soon as they are (so that a watch, like a
// response, never shows a change that a crash could take back), and between batches releases
// compacted versions and the watch history below the compaction point in bounded steps, expires due
// leases in bounded batches and sends due progress notifications. Tasks complete their RPC
// themselves (reactor->Finish), so a slow client costs the loop nothing.
//
// Bounds: at most `max_pending` tasks wait in the queue; past that Submit() refuses, and the
// caller answers etcd's "too many requests". One compaction step visits at most
// `compaction_step_keys` keys and drops at most as many history entries.
//
// A point request (one key per op) may also Execute(): when nothing is queued or running, it runs
// at once on the reactor's thread, and then runs the point requests other reactors queued
// meanwhile (up to the first other task); the loop thread is not woken for them. This saves a
// thread hand-off and a wake-up per request (measured in README "Performance"). Requests of
// unbounded cost (ranges, compaction, maintenance) are always queued, so a reactor's thread never
// runs one.
//
// Thread safety: Submit(), Execute() and Stop() may be called from any thread. Tasks run one at a
// time, in order, with `running_` held: on the loop thread, or on a thread in Execute(). Stop()
// runs the tasks already queued, then joins the thread; later Submit() calls fail.
#ifndef RAMETCD_SERVER_APPLY_LOOP_H_
#define RAMETCD_SERVER_APPLY_LOOP_H_

#include <atomic>
#include <cstddef>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"
#include "lease/lessor.h"
#include "mvcc/store.h"
#include "server/alarm_list.h"
#include "wal/wal.h"
#include "watch/watch_hub.h"

namespace rametcd::server {

class ApplyLoop {
 public:
  // What tasks run against: everything the apply thread owns.
  struct Engine {
    mvcc::Store& store;
    watch::WatchHub& hub;
    lease::Lessor& lessor;
    AlarmList& alarms;
    // The durability layer, once recovery attached it (null: nothing is persisted).
    wal::Wal* wal = nullptr;
    // The space quota (Options::quota_bytes) and the member that raises NOSPACE.
    int64_t quota_bytes = -1;
    uint64_t member_id = 0;
    // Non-empty while this member follows another etcd (server/live_import.h) and has not been
    // promoted: every write is refused with this message and leases do not expire (the source
    // decides when they end).
    std::string read_only;
    // Requests served, for /metrics; counted and read by tasks.
    struct Counters {
      uint64_t ranges = 0;
      uint64_t puts = 0;
      uint64_t deletes = 0;
      uint64_t txns = 0;
      uint64_t slow_applies = 0;
    } counters;

    // Whether a write may be accepted now: not while read-only, nor while the WAL is failed or
    // backlogged, and for writes that add data (puts, txns with puts, lease grants; `added_bytes` >
    // 0: about how many) not while NOSPACE is raised. A write that would take the data past the
    // space quota raises NOSPACE and is refused, as etcd does.
    absl::Status AdmitWrite(int64_t added_bytes);
    // Runs `finish` with `status` once the response may be sent: at once, or after every
    // fsync-mode change committed so far is on disk (with the WAL's error if that failed).
    void Respond(absl::Status status, absl::AnyInvocable<void(absl::Status)> finish);
    // Set by the loop; Respond() calls it before waiting for the disk, so that the watches are
    // handed the revisions a response covers before its client can ask them anything.
    absl::AnyInvocable<void()> before_durable_response;
  };
  using Task = absl::AnyInvocable<void(Engine&) &&>;

  struct Options {
    size_t max_pending = 100000;
    size_t compaction_step_keys = 10000;
    mvcc::HistoryRing::Options history;
    watch::WatchHub::Options watch;
    lease::Lessor::Options lease;
    // Leases revoked per loop iteration at most, between request batches.
    size_t expire_batch = 1000;
    // Bytes of MVCC data (Store::retained_bytes) past which writes raise NOSPACE; -1: no quota.
    int64_t quota_bytes = -1;
    uint64_t member_id = 0;
    // Tasks that keep the loop longer than this are logged.
    absl::Duration warning_apply_duration = absl::Milliseconds(100);
  };

  explicit ApplyLoop(const Options& options);
  ~ApplyLoop();
  ApplyLoop(const ApplyLoop&) = delete;
  ApplyLoop& operator=(const ApplyLoop&) = delete;

  // Queues `task`; returns false (and drops it) when the queue is full or the loop stopped.
  [[nodiscard]] bool Submit(Task task);
  // Like Submit(), but when nothing is queued or running the task runs at once on the calling
  // thread (with the watch delivery that follows every task), followed by the Execute() tasks
  // queued meanwhile. For tasks of bounded cost that never wait.
  [[nodiscard]] bool Execute(Task task);
  // Queues bookkeeping that must not be refused for load (a closed stream's cleanup, a drained
  // stream's catch-up); there is at most one such task per stream at a time. Dropped only once
  // the loop has stopped.
  void SubmitBookkeeping(Task task);
  // Runs `fn` on the loop thread and waits for its result: for startup work (recovery) before
  // any client is served.
  absl::Status RunAndWait(absl::AnyInvocable<absl::Status(Engine&) &&> fn);
  void Stop();

 private:
  // The loop thread; it first waits until `wake_at` (or for work).
  void Run(absl::Time wake_at);
  // With running_: asks the WAL to make the store's revision visible to the watches once its
  // fsync-mode changes are on disk (at once when there are none).
  void RequestDelivery(Engine& engine);
  // With running_, after every task: hands the watches every revision they may see now.
  void DeliverWatches(Engine& engine);
  bool HasWorkLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return !running_ && (!queue_.empty() || stopping_);
  }
  bool IdleLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !running_; }
  // Runs one task with what follows every task; the caller holds the store (running_).
  void RunTask(Task task);

  const Options options_;
  absl::Mutex mu_;
  std::vector<Task> queue_ ABSL_GUARDED_BY(mu_);
  // How many tasks at the front of queue_ came from Execute(): those an Execute() caller may run.
  size_t point_tasks_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // A thread (the loop's, or one in Execute) is running tasks: it alone touches what follows.
  bool running_ ABSL_GUARDED_BY(mu_) = false;
  // Touched only by the thread that set running_.
  mvcc::Store store_;
  watch::WatchHub hub_;
  lease::Lessor lessor_;
  AlarmList alarms_;
  Engine engine_;
  // Watch delivery: the newest revision whose fsync-mode changes are on disk (raised by the WAL's
  // AfterDurable callbacks, on any thread), whether a task to deliver it is queued, and (with
  // running_) the newest revision a callback was asked for and the WAL it was asked of.
  std::atomic<int64_t> durable_revision_{0};
  std::atomic<bool> delivery_queued_{false};
  int64_t durable_requested_ = 0;
  const wal::Wal* durable_wal_ = nullptr;
  std::thread thread_;
};

}  // namespace rametcd::server

#endif  // RAMETCD_SERVER_APPLY_LOOP_H_
