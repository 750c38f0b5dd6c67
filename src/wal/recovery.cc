#include "wal/recovery.h"

#include <algorithm>
#include <deque>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/btree_map.h"
#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "base/logging.h"
#include "base/shared_bytes.h"
#include "base/status_macros.h"
#include "base/thread_name.h"
#include "wal/batches.h"
#include "wal/file_scan.h"
#include "wal/file_util.h"
#include "wal/stream_reader.h"

namespace rametcd::wal {
namespace {

// A record of a log segment, kept until the cuts are known.
struct Logged {
  LogPlace place;
  Record record;
};

// One stream while it is being recovered.
struct StreamLoad {
  StreamFiles files;
  StreamRead read;
  std::vector<Logged> logged;   // in file order (ascending revision); BatchEnds left out
  std::optional<LogPlace> cut;  // everything from here on is dropped
};

// Installs checkpointed keys into the store on a thread of its own while the caller's thread
// reads, checks and decodes the files, so that a restart takes about the longer of the two rather
// than their sum. The caller's thread also copies each key and value into the bytes the store
// will hold (so that the parsed record's buffers are reused by the next parse on the same
// thread); the keys are handed over in batches, at most kMaxBatches waiting, so memory stays
// bounded whichever side is faster. Finish() (or the destructor) waits until every key handed
// over is installed: only then may the caller touch the store again.
class KeyRestorer {
 public:
  explicit KeyRestorer(mvcc::Store* store)
      : store_(store), thread_([this] {
          NameThisThread("wal-restore");
          Run();
        }) {}
  ~KeyRestorer() { Finish(); }
  KeyRestorer(const KeyRestorer&) = delete;
  KeyRestorer& operator=(const KeyRestorer&) = delete;

  void Add(const KeyHistory& history) {
    if (history.versions().empty()) return;
    Key& key = batch_.emplace_back();
    key.key = SharedBytes(history.versions(0).key());
    for (const mvccpb::KeyValue& kv : history.versions()) {
      key.versions.push_back(mvcc::VersionFromProto(kv));
    }
    if (batch_.size() == kBatchKeys) Flush();
  }

  void Finish() {
    if (!thread_.joinable()) return;
    Flush();
    {
      absl::MutexLock lock(&mu_);
      done_ = true;
    }
    thread_.join();
  }

 private:
  static constexpr size_t kBatchKeys = 256;
  static constexpr size_t kMaxBatches = 8;

  struct Key {
    SharedBytes key;
    absl::InlinedVector<mvcc::KeyVersion, 1> versions;
  };

  void Flush() {
    if (batch_.empty()) return;
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](std::deque<std::vector<Key>>* q) { return q->size() < kMaxBatches; }, &queue_));
    queue_.push_back(std::move(batch_));
    batch_.clear();
  }

  void Run() {
    while (true) {
      std::vector<Key> batch;
      {
        absl::MutexLock lock(&mu_);
        mu_.Await(absl::Condition(this, &KeyRestorer::ReadyLocked));
        if (queue_.empty()) return;
        batch = std::move(queue_.front());
        queue_.pop_front();
      }
      for (Key& k : batch) store_->RestoreKey(std::move(k.key), k.versions);
    }
  }
  bool ReadyLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !queue_.empty() || done_; }

  mvcc::Store* const store_;
  std::vector<Key> batch_;  // the caller's thread only
  absl::Mutex mu_;
  std::deque<std::vector<Key>> queue_ ABSL_GUARDED_BY(mu_);
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

// Makes the files match what was loaded: cuts torn tails and dropped batches off.
absl::Status FixFiles(StreamLoad& load, RecoverySummary* summary) {
  StreamFiles& files = load.files;
  uint64_t last_end = load.read.last_log_end;
  if (load.read.headerless_newest) {
    const std::string path = files.LogPath(files.logs.back());
    Log(LogLevel::kWarn,
        "removing a log segment without a complete header (created just before "
        "a crash)",
        {{"file", path}});
    RETURN_IF_ERROR(RemoveFile(path));
    files.logs.pop_back();
    ++summary->torn_tails;
    last_end = files.logs.empty() ? 0 : ~uint64_t{0};  // an older segment is not continued
  }
  if (load.read.torn_tail && !files.logs.empty()) {
    const std::string path = files.LogPath(files.logs.back());
    Log(LogLevel::kWarn, "cutting off a torn tail (an append interrupted by a crash)",
        {{"file", path},
         {"offset", std::to_string(load.read.torn_tail->offset)},
         {"bytes", std::to_string(load.read.torn_tail->resume - load.read.torn_tail->offset)},
         {"reason", load.read.torn_tail->reason}});
    RETURN_IF_ERROR(TruncateFile(path, last_end));
    ++summary->torn_tails;
  }
  if (load.cut) {
    RETURN_IF_ERROR(TruncateFile(files.LogPath(load.cut->seq), load.cut->offset));
    while (files.logs.back() > load.cut->seq) {
      RETURN_IF_ERROR(RemoveFile(files.LogPath(files.logs.back())));
      files.logs.pop_back();
    }
    last_end = load.cut->offset;
  }
  summary->streams.push_back({files, last_end, load.read.log_bytes, load.read.checkpoint_bytes});
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<RecoverySummary> Recover(const RecoveryOptions& options, mvcc::Store* store,
                                        lease::Lessor* lessor, absl::Time now) {
  const absl::Time start = absl::Now();
  RecoverySummary summary;
  ASSIGN_OR_RETURN(std::vector<StreamFiles> listed, ListStreams(options.wal_dir));
  absl::btree_map<int64_t, int64_t> leases;
  int64_t compacted = -1;
  int64_t mark = 0;
  int64_t covered = 0;
  // Lease, compaction and revision-mark records, from the meta stream's checkpoint or logs.
  auto apply_meta = [&](const Record& r) {
    switch (r.body_case()) {
      case Record::kLeaseGrant:
        leases[r.lease_grant().id()] = r.lease_grant().ttl();
        break;
      case Record::kLeaseRevoke:
        leases.erase(r.lease_revoke().id());
        break;
      case Record::kCompaction:
        compacted = std::max(compacted, r.compaction().revision());
        break;
      case Record::kRevisionMark:
        mark = std::max(mark, r.revision_mark().revision());
        break;
      default:
        break;
    }
  };
  // One hash-map allocation for the checkpoints' keys rather than a rehash at every doubling.
  uint64_t checkpointed_keys = 0;
  for (const StreamFiles& files : listed) {
    if (files.checkpoint) checkpointed_keys += CountFrames(files.CheckpointPath());
  }
  store->ReserveKeys(checkpointed_keys);
  std::vector<StreamLoad> loads(listed.size());
  std::vector<StreamBatches> batches;
  KeyRestorer restorer(store);
  for (size_t i = 0; i < listed.size(); ++i) {
    StreamLoad& load = loads[i];
    load.files = std::move(listed[i]);
    for (const std::string& garbage : load.files.garbage) RETURN_IF_ERROR(RemoveFile(garbage));
    load.files.garbage.clear();
    StreamBatches& parts = batches.emplace_back(load.files.stream);
    auto visit = [&](const RecordPlace& place, Record& r) -> absl::Status {
      if (!place.checkpoint) {
        // Applied once the cuts are known: the record may belong to an incomplete batch.
        parts.Add(place, r);
        if (!r.has_batch_end()) load.logged.push_back({{place.seq, place.offset}, std::move(r)});
        return absl::OkStatus();
      }
      if (r.has_key_history()) {
        restorer.Add(r.key_history());
      } else {
        apply_meta(r);
      }
      return absl::OkStatus();
    };
    ASSIGN_OR_RETURN(load.read, ReadStream(load.files, options.skip_damaged, visit));
    parts.SetRead(load.read, load.files.checkpoint.has_value() || !load.files.logs.empty());
    compacted = std::max(compacted, load.read.checkpoint_compacted);
    covered = std::max(covered, load.read.checkpoint_covered);
    summary.records += load.read.records;
    summary.bytes += load.read.checkpoint_bytes + load.read.log_bytes;
    for (std::string& s : load.read.skipped) {
      Log(LogLevel::kError, "skipped damaged data", {{"damage", s}});
      summary.skipped.push_back(std::move(s));
    }
  }
  restorer.Finish();
  const BatchCuts cuts = CutIncompleteBatches(batches);
  for (const std::string& finding : cuts.findings) {
    Log(LogLevel::kWarn, "dropping an incomplete WAL batch (a crash while it was written)",
        {{"finding", finding}});
  }
  summary.incomplete_batches = cuts.findings;
  summary.last_batch = cuts.last_batch;

  // Every key lives in one stream, whose log is in revision order: applying stream after stream
  // gives each key its versions oldest first, which is all ApplyLogged() needs.
  int64_t txn_revision = 0;
  for (size_t i = 0; i < loads.size(); ++i) {
    StreamLoad& load = loads[i];
    load.cut = cuts.at[i];
    for (Logged& l : load.logged) {
      if (load.cut && !(l.place < *load.cut)) break;
      if (l.record.has_txn()) {
        Txn& txn = *l.record.mutable_txn();
        store->ApplyLogged(txn.revision(), txn.changes());
        txn_revision = std::max(txn_revision, txn.revision());
      } else {
        apply_meta(l.record);
      }
    }
    load.logged.clear();
  }
  const int64_t revision = std::max({mark, covered, compacted, txn_revision, int64_t{1}});
  std::vector<int64_t> lease_ids;
  for (const auto& [id, ttl] : leases) {
    lease_ids.push_back(id);
    lessor->Restore(id, ttl, now);
  }
  summary.orphan_lease_keys = store->FinishRestore(revision, compacted, lease_ids);
  if (summary.orphan_lease_keys > 0) {
    Log(LogLevel::kError, "keys refer to leases that were not recovered; they will not expire",
        {{"keys", std::to_string(summary.orphan_lease_keys)}});
  }
  for (StreamLoad& load : loads) RETURN_IF_ERROR(FixFiles(load, &summary));

  summary.revision = store->revision();
  summary.compacted = store->compacted_revision();
  summary.leases = leases.size();
  etcdserverpb::RangeRequest all;
  all.set_key(std::string(1, '\0'));
  all.set_range_end(std::string(1, '\0'));
  all.set_count_only(true);
  etcdserverpb::RangeResponse counted;
  if (store->Range(all, &counted).ok()) summary.keys = static_cast<size_t>(counted.count());
  summary.took = absl::Now() - start;
  return summary;
}

}  // namespace rametcd::wal
