#include "server/server_metrics.h"

#include "absl/strings/str_cat.h"
#include "server/version.h"

namespace rametcd::server {

ServerMetrics::ServerMetrics(const Options& options, const MemberIdentity& identity) {
  // etcd's buckets for WAL fsync: 1 ms to ~8 s.
  wal_fsync_seconds_ = registry_.AddHistogram(
      "etcd_disk_wal_fsync_duration_seconds",
      "The latency distributions of fsync called by WAL (rametcd: a batch write with its linked "
      "fdatasync).",
      metrics::ExponentialBuckets(0.001, 2, 14));
  wal_write_seconds_ = registry_.AddHistogram(
      "rametcd_wal_write_duration_seconds",
      "The latency of writing one batch of changes to the data dir, with or without fdatasync.",
      metrics::ExponentialBuckets(0.0001, 2, 16));
  registry_.AddGauge("etcd_server_has_leader", "Whether or not a leader exists. 1 is existence.")
      ->Set(1);
  registry_.AddGauge("etcd_server_is_leader", "Whether or not this member is a leader.")->Set(1);
  registry_.AddGauge("etcd_server_quota_backend_bytes", "Current backend storage quota size.")
      ->Set(static_cast<double>(options.quota_backend_bytes));
  const std::string id = absl::StrCat(absl::Hex(identity.member_id));
  registry_
      .AddGaugeFamily("etcd_server_id", "Server or member ID in hexadecimal format.", {"server_id"})
      ->WithLabelValues({id})
      ->Set(1);
  registry_.AddGaugeFamily("etcd_server_version", "Which version is running.", {"server_version"})
      ->WithLabelValues({kEtcdServerVersion})
      ->Set(1);

  AddLoopValue("etcd_server_slow_apply_total",
               "The total number of slow apply requests (likely overloaded from slow disk).", true,
               [](const LoopState& s) { return s.counters.slow_applies; });
  AddLoopValue("etcd_server_proposals_committed_total",
               "The total number of consensus proposals committed (rametcd: the revision).", false,
               [](const LoopState& s) { return s.revision; });
  AddLoopValue("etcd_server_proposals_applied_total",
               "The total number of consensus proposals applied (rametcd: the revision).", false,
               [](const LoopState& s) { return s.revision; });
  AddLoopValue("etcd_mvcc_db_total_size_in_bytes",
               "Total size of the underlying database in bytes (rametcd: data held, every "
               "retained version).",
               false, [](const LoopState& s) { return s.db_size; });
  AddLoopValue("etcd_mvcc_db_total_size_in_use_in_bytes",
               "Total size of the underlying database logically in use in bytes (rametcd: "
               "current versions).",
               false, [](const LoopState& s) { return s.db_size_in_use; });
  AddLoopValue("etcd_debugging_mvcc_keys_total", "Total number of keys.", false,
               [](const LoopState& s) { return s.keys; });
  AddLoopValue("etcd_debugging_mvcc_current_revision", "The current revision of store.", false,
               [](const LoopState& s) { return s.revision; });
  AddLoopValue("etcd_debugging_mvcc_compact_revision",
               "The revision of the last compaction in store.", false,
               [](const LoopState& s) { return s.compact_revision; });
  AddLoopValue("etcd_mvcc_range_total", "Total number of ranges seen by this member.", true,
               [](const LoopState& s) { return s.counters.ranges; });
  AddLoopValue("etcd_mvcc_put_total", "Total number of puts seen by this member.", true,
               [](const LoopState& s) { return s.counters.puts; });
  AddLoopValue("etcd_mvcc_delete_total", "Total number of deletes seen by this member.", true,
               [](const LoopState& s) { return s.counters.deletes; });
  AddLoopValue("etcd_mvcc_txn_total", "Total number of txns seen by this member.", true,
               [](const LoopState& s) { return s.counters.txns; });
  AddLoopValue("etcd_debugging_mvcc_watcher_total", "Total number of watchers.", false,
               [](const LoopState& s) { return s.watchers; });
  AddLoopValue("etcd_debugging_mvcc_slow_watcher_total", "Total number of unsynced slow watchers.",
               false, [](const LoopState& s) { return s.slow_watchers; });
  AddLoopValue("rametcd_history_events", "Events held in the history ring watches catch up from.",
               false, [](const LoopState& s) { return s.history_events; });
  AddLoopValue("rametcd_history_bytes", "Bytes of events held in the history ring.", false,
               [](const LoopState& s) { return s.history_bytes; });
  AddLoopValue("rametcd_leases", "Leases granted and not yet expired or revoked.", false,
               [](const LoopState& s) { return s.leases; });
  AddLoopValue("etcd_disk_wal_write_bytes_total", "Total number of bytes written in WAL.", true,
               [](const LoopState& s) { return s.wal.bytes_written; });
  AddLoopValue("rametcd_wal_backlog_bytes", "Bytes of changes waiting to be written.", false,
               [](const LoopState& s) { return s.wal.backlog_bytes; });
  AddLoopValue("rametcd_wal_disk_bytes", "Bytes of the data dir's log segments and checkpoints.",
               false, [](const LoopState& s) { return s.wal.disk_bytes; });
  AddLoopValue("rametcd_wal_checkpoints_total", "Checkpoints written.", true,
               [](const LoopState& s) { return s.wal.checkpoints; });
  AddLoopValue("rametcd_wal_failed", "1 once the WAL failed for good (writes are refused).", false,
               [](const LoopState& s) { return s.wal.failed ? 1 : 0; });
  callbacks_.push_back(registry_.AddCollector(
      "rametcd_prefix_keys", "Live keys per Kubernetes resource prefix.",
      metrics::MetricType::kGauge, {"prefix"}, [this](std::vector<metrics::Sample>* out) {
        for (const auto& [prefix, keys] : state_.prefix_keys) {
          out->push_back({{prefix}, static_cast<double>(keys)});
        }
      }));
  callbacks_.push_back(registry_.AddCollector(
      "rametcd_alarms", "Raised alarms (etcd's Maintenance.Alarm).", metrics::MetricType::kGauge,
      {"alarm"}, [this](std::vector<metrics::Sample>* out) {
        for (const std::string& alarm : state_.alarms) out->push_back({{alarm}, 1});
      }));
}

void ServerMetrics::AddLoopValue(std::string_view name, std::string_view help, bool counter,
                                 std::function<double(const LoopState&)> read) {
  auto fn = [this, read = std::move(read)] { return read(state_); };
  callbacks_.push_back(counter ? registry_.AddCallbackCounter(name, help, std::move(fn))
                               : registry_.AddCallbackGauge(name, help, std::move(fn)));
}

void ServerMetrics::Render(const ApplyLoop::Engine& engine, std::string* out) {
  LoopState& s = state_;
  s.counters = engine.counters;
  s.revision = engine.store.revision();
  s.compact_revision = std::max<int64_t>(engine.store.compacted_revision(), 0);
  s.keys = static_cast<int64_t>(engine.store.indexed_keys());
  s.db_size = engine.store.retained_bytes();
  s.db_size_in_use = engine.store.live_bytes();
  s.watchers = static_cast<int64_t>(engine.hub.watcher_count());
  s.slow_watchers = static_cast<int64_t>(engine.hub.unsynced_count());
  s.history_events = static_cast<int64_t>(engine.store.history().events());
  s.history_bytes = static_cast<int64_t>(engine.store.history().bytes());
  s.leases = static_cast<int64_t>(engine.lessor.size());
  s.prefix_keys.clear();
  engine.store.ForEachPrefix([&s](std::string_view prefix, int64_t keys) {
    s.prefix_keys.emplace_back(std::string(prefix), keys);
  });
  s.alarms.clear();
  for (const auto& [type, member] : engine.alarms.List(etcdserverpb::NONE)) {
    s.alarms.push_back(etcdserverpb::AlarmType_Name(type));
  }
  s.wal = engine.wal != nullptr ? engine.wal->stats() : wal::Wal::Stats();
  registry_.WritePrometheusText(out);
}

}  // namespace rametcd::server
