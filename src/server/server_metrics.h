// ServerMetrics: the Prometheus metrics of a rametcd member, served on /metrics.
//
// Names follow etcd where the meaning is the same, so etcd dashboards and alerts keep working:
//   etcd_server_has_leader, etcd_server_is_leader, etcd_server_id, etcd_server_version,
//   etcd_server_quota_backend_bytes, etcd_server_slow_apply_total,
//   etcd_server_proposals_committed_total, etcd_server_proposals_applied_total (= revision),
//   etcd_mvcc_db_total_size_in_bytes, etcd_mvcc_db_total_size_in_use_in_bytes (Status's dbSize
//   and dbSizeInUse), etcd_debugging_mvcc_keys_total, etcd_debugging_mvcc_current_revision,
//   etcd_debugging_mvcc_compact_revision, etcd_mvcc_range_total, etcd_mvcc_put_total,
//   etcd_mvcc_delete_total, etcd_mvcc_txn_total (requests of each kind),
//   etcd_debugging_mvcc_watcher_total, etcd_debugging_mvcc_slow_watcher_total,
//   etcd_disk_wal_fsync_duration_seconds, etcd_disk_wal_write_bytes_total, and the gRPC series of
//   grpc_metrics.h. rametcd's own: rametcd_prefix_keys{prefix}, rametcd_history_events,
//   rametcd_history_bytes, rametcd_leases, rametcd_alarms{alarm}, rametcd_wal_backlog_bytes,
//   rametcd_wal_disk_bytes, rametcd_wal_write_duration_seconds, rametcd_wal_checkpoints_total,
//   rametcd_wal_failed.
//
// Hot paths add nothing: request counts are plain counters of the apply loop, gRPC counters are
// per-thread (metrics/counter.h), and everything else is read at scrape time. Scrapes run as an
// apply-loop task (Render), so the values the loop owns are read on its thread.
//
// Ownership: owns the Registry and the callback registrations; borrows the WAL (set_wal, once
// recovery made it). Thread safety: Render in an apply task; registry() from any thread.
#ifndef RAMETCD_SERVER_SERVER_METRICS_H_
#define RAMETCD_SERVER_SERVER_METRICS_H_

#include <string>
#include <utility>
#include <vector>

#include "metrics/registry.h"
#include "server/apply_loop.h"
#include "server/member_identity.h"
#include "server/options.h"

namespace rametcd::server {

class ServerMetrics {
 public:
  ServerMetrics(const Options& options, const MemberIdentity& identity);
  ServerMetrics(const ServerMetrics&) = delete;
  ServerMetrics& operator=(const ServerMetrics&) = delete;

  metrics::Registry* registry() { return &registry_; }
  // For the WAL writer.
  metrics::Histogram* wal_write_seconds() const { return wal_write_seconds_; }
  metrics::Histogram* wal_fsync_seconds() const { return wal_fsync_seconds_; }

  // Loop thread: reads the loop's state and appends the Prometheus text of every metric.
  void Render(const ApplyLoop::Engine& engine, std::string* out);

 private:
  // What the scrape-time callbacks read; filled by Render (an apply task) just before.
  struct LoopState {
    ApplyLoop::Engine::Counters counters;
    int64_t revision = 0;
    int64_t compact_revision = 0;
    int64_t keys = 0;
    int64_t db_size = 0;
    int64_t db_size_in_use = 0;
    int64_t watchers = 0;
    int64_t slow_watchers = 0;
    int64_t history_events = 0;
    int64_t history_bytes = 0;
    int64_t leases = 0;
    std::vector<std::pair<std::string, int64_t>> prefix_keys;
    std::vector<std::string> alarms;
    wal::Wal::Stats wal;
  };
  // A gauge or counter whose value `read` takes from state_.
  void AddLoopValue(std::string_view name, std::string_view help, bool counter,
                    std::function<double(const LoopState&)> read);

  metrics::Registry registry_;
  metrics::Histogram* wal_write_seconds_;
  metrics::Histogram* wal_fsync_seconds_;
  LoopState state_;
  std::vector<metrics::CallbackHandle> callbacks_;
};

}  // namespace rametcd::server

#endif  // RAMETCD_SERVER_SERVER_METRICS_H_
