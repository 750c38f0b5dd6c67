#include "server/apply_loop.h"

#include <algorithm>
#include <iterator>
#include <string>
#include <utility>

#include "absl/synchronization/notification.h"
#include "base/etcd_errors.h"
#include "base/logging.h"
#include "base/thread_name.h"

namespace rametcd::server {

absl::Status ApplyLoop::Engine::AdmitWrite(int64_t added_bytes) {
  if (!read_only.empty()) return absl::FailedPreconditionError(read_only);
  if (added_bytes > 0) {
    if (alarms.Has(etcdserverpb::NOSPACE)) return etcd_errors::NoSpace();
    if (quota_bytes >= 0 && store.retained_bytes() + added_bytes > quota_bytes) {
      alarms.Activate(member_id, etcdserverpb::NOSPACE);
      Log(LogLevel::kError,
          "alarm raised: NOSPACE: the space quota is exceeded; writes that add data are refused "
          "until space is freed (compact, delete) and `etcdctl alarm disarm`",
          {{"quota-backend-bytes", std::to_string(quota_bytes)},
           {"db-size", std::to_string(store.retained_bytes())}});
      return etcd_errors::NoSpace();
    }
  }
  return wal == nullptr ? absl::OkStatus() : wal->Admit();
}

void ApplyLoop::Engine::Respond(absl::Status status,
                                absl::AnyInvocable<void(absl::Status)> finish) {
  if (wal == nullptr || !status.ok()) {
    std::move(finish)(std::move(status));
    return;
  }
  if (before_durable_response) before_durable_response();
  wal->AfterDurable(std::move(finish));
}

ApplyLoop::ApplyLoop(const Options& options)
    : options_(options),
      store_(options.history),
      hub_(options.watch, &store_),
      lessor_(options.lease, &store_),
      engine_{store_, hub_, lessor_, alarms_} {
  engine_.quota_bytes = options_.quota_bytes;
  engine_.member_id = options_.member_id;
  engine_.before_durable_response = [this] { RequestDelivery(engine_); };
  // The first wake-up is worked out here, before any task can run (see Run).
  thread_ = std::thread([this, first_tick = hub_.Tick(absl::Now())] {
    NameThisThread("apply");
    Run(first_tick);
  });
}

ApplyLoop::~ApplyLoop() { Stop(); }

bool ApplyLoop::Submit(Task task) {
  absl::MutexLock lock(&mu_);
  if (stopping_ || queue_.size() >= options_.max_pending) return false;
  queue_.push_back(std::move(task));
  return true;
}

bool ApplyLoop::Execute(Task task) {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_ || queue_.size() >= options_.max_pending) return false;
    if (running_ || !queue_.empty()) {
      if (point_tasks_ == queue_.size()) ++point_tasks_;
      queue_.push_back(std::move(task));
      return true;
    }
    running_ = true;
  }
  RunTask(std::move(task));
  // Point tasks other reactors queued meanwhile run here too, rather than waking the loop thread
  // for them; from the first other task on, the queue is the loop thread's.
  std::vector<Task> batch;
  {
    absl::MutexLock lock(&mu_);
    batch.assign(std::make_move_iterator(queue_.begin()),
                 std::make_move_iterator(queue_.begin() + static_cast<ptrdiff_t>(point_tasks_)));
    queue_.erase(queue_.begin(), queue_.begin() + static_cast<ptrdiff_t>(point_tasks_));
    point_tasks_ = 0;
  }
  for (Task& queued : batch) RunTask(std::move(queued));
  absl::MutexLock lock(&mu_);
  running_ = false;
  return true;
}

void ApplyLoop::SubmitBookkeeping(Task task) {
  absl::MutexLock lock(&mu_);
  if (!stopping_) queue_.push_back(std::move(task));
}

absl::Status ApplyLoop::RunAndWait(absl::AnyInvocable<absl::Status(Engine&) &&> fn) {
  absl::Notification done;
  absl::Status result = absl::CancelledError("the apply loop stopped");
  SubmitBookkeeping([&](Engine& engine) {
    result = std::move(fn)(engine);
    done.Notify();
  });
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return result;
  }
  done.WaitForNotification();
  return result;
}

void ApplyLoop::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void ApplyLoop::RequestDelivery(Engine& engine) {
  const int64_t revision = store_.revision();
  if (engine.wal == nullptr || engine.wal != durable_wal_) {
    // No WAL, or one just attached to what recovery loaded from disk: all of it may be seen.
    durable_wal_ = engine.wal;
    durable_requested_ = revision;
    durable_revision_.store(revision);
  } else if (revision > durable_requested_) {
    durable_requested_ = revision;
    // At once (on this thread) when no fsync-mode change is pending, else on the WAL's thread.
    const std::thread::id loop_thread = std::this_thread::get_id();
    engine.wal->AfterDurable([this, revision, loop_thread](absl::Status status) {
      if (!status.ok()) return;  // never on disk: never shown (writes stop; restart to recover)
      int64_t durable = durable_revision_.load();
      while (durable < revision && !durable_revision_.compare_exchange_weak(durable, revision)) {
      }
      // The loop delivers after every task, so an empty one wakes it for this revision.
      if (std::this_thread::get_id() != loop_thread && !delivery_queued_.exchange(true)) {
        SubmitBookkeeping([this](Engine&) { delivery_queued_ = false; });
      }
    });
  }
}

void ApplyLoop::DeliverWatches(Engine& engine) {
  RequestDelivery(engine);
  hub_.Dispatch(durable_revision_.load());
}

void ApplyLoop::RunTask(Task task) {
  const absl::Time start = absl::Now();
  std::move(task)(engine_);
  DeliverWatches(engine_);
  const absl::Duration took = absl::Now() - start;
  if (took > options_.warning_apply_duration) {
    ++engine_.counters.slow_applies;
    Log(LogLevel::kWarn, "apply request took too long",
        {{"took", absl::FormatDuration(took)},
         {"expected-duration", absl::FormatDuration(options_.warning_apply_duration)}});
  }
}

void ApplyLoop::Run(absl::Time wake_at) {
  std::vector<Task> batch;
  Engine& engine = engine_;
  // What the next round waits for is worked out at the end of each round, while this thread owns
  // the engine (a reactor thread may own it in between, see Execute): the time of the next
  // progress notification or lease expiry, and whether compaction or history trimming is left
  // (then it does not wait at all).
  bool work_left = false;
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      if (!work_left)
        mu_.AwaitWithDeadline(absl::Condition(this, &ApplyLoop::HasWorkLocked), wake_at);
      mu_.Await(absl::Condition(this, &ApplyLoop::IdleLocked));
      if (queue_.empty() && stopping_) return;
      batch.swap(queue_);
      point_tasks_ = 0;
      running_ = true;
    }
    for (Task& task : batch) RunTask(std::move(task));
    batch.clear();
    // Each revocation is one revision: deliver it before the next.
    const absl::Time now = absl::Now();
    for (size_t i = 0;
         engine.read_only.empty() && i < options_.expire_batch && lessor_.ExpireDue(now, 1) == 1;
         ++i) {
      DeliverWatches(engine);
    }
    if (store_.compaction_pending()) store_.CompactSome(options_.compaction_step_keys);
    const bool history_trimmed =
        store_.TrimHistory(hub_.dispatched(), options_.compaction_step_keys);
    work_left = store_.compaction_pending() || !history_trimmed;
    const absl::Time next_tick = hub_.Tick(absl::Now());
    wake_at = engine.read_only.empty() ? std::min(next_tick, lessor_.NextExpiry()) : next_tick;
    absl::MutexLock lock(&mu_);
    running_ = false;
  }
}

}  // namespace rametcd::server
