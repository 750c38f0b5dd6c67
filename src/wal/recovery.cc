#include "wal/recovery.h"

#include <algorithm>
#include <tuple>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "base/logging.h"
#include "base/status_macros.h"
#include "base/string_hash.h"
#include "wal/file_util.h"
#include "wal/stream_reader.h"

namespace rametcd::wal {
namespace {

struct LoggedTxn {
  uint64_t seq;
  uint64_t offset;
  Txn txn;
};

struct Place {
  uint64_t seq;
  uint64_t offset;
  bool operator<(const Place& o) const { return std::tie(seq, offset) < std::tie(o.seq, o.offset); }
};

// One stream while it is being recovered.
struct StreamLoad {
  StreamFiles files;
  StreamRead read;
  std::vector<LoggedTxn> txns;  // log records, in file order (ascending revision)
  std::optional<Place> cut;     // everything from here on is dropped
};

// Finds the multi-stream transactions with a missing part and cuts their streams there, until
// no cut uncovers another incomplete transaction.
size_t CutIncompleteTxns(std::vector<StreamLoad>& loads) {
  absl::flat_hash_map<std::string, size_t, StringViewHash, StringViewEq> index;
  for (size_t i = 0; i < loads.size(); ++i) index[loads[i].files.stream] = i;
  size_t dropped = 0;
  for (bool changed = true; changed;) {
    changed = false;
    absl::flat_hash_set<std::pair<size_t, int64_t>> present;
    for (size_t i = 0; i < loads.size(); ++i) {
      for (const LoggedTxn& t : loads[i].txns) {
        if (loads[i].cut && !(Place{t.seq, t.offset} < *loads[i].cut)) break;
        if (t.txn.streams_size() > 1) present.insert({i, t.txn.revision()});
      }
    }
    for (size_t i = 0; i < loads.size(); ++i) {
      for (const LoggedTxn& t : loads[i].txns) {
        const Place place{t.seq, t.offset};
        if (loads[i].cut && !(place < *loads[i].cut)) break;
        if (t.txn.streams_size() <= 1) continue;
        const int64_t rev = t.txn.revision();
        bool complete = true;
        for (const std::string& s : t.txn.streams()) {
          auto it = index.find(s);
          // A stream whose directory is gone cannot be checked (its prefix was switched to none).
          if (it == index.end()) continue;
          const StreamLoad& other = loads[it->second];
          if (!present.contains({it->second, rev}) && other.read.checkpoint_covered < rev) {
            complete = false;
          }
        }
        if (!complete) {
          Log(LogLevel::kWarn, "dropping an incomplete multi-stream transaction",
              {{"stream", loads[i].files.stream},
               {"revision", std::to_string(rev)},
               {"file", loads[i].files.LogPath(t.seq)},
               {"offset", std::to_string(t.offset)}});
          loads[i].cut = place;
          ++dropped;
          changed = true;
          break;
        }
      }
    }
  }
  return dropped;
}

// Makes the files match what was loaded: cuts torn tails and dropped transactions off.
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
  std::vector<StreamLoad> loads(listed.size());
  for (size_t i = 0; i < listed.size(); ++i) {
    StreamLoad& load = loads[i];
    load.files = std::move(listed[i]);
    for (const std::string& garbage : load.files.garbage) RETURN_IF_ERROR(RemoveFile(garbage));
    load.files.garbage.clear();
    auto visit = [&](const RecordPlace& place, Record& r) -> absl::Status {
      switch (r.body_case()) {
        case Record::kTxn:
          load.txns.push_back({place.seq, place.offset, std::move(*r.mutable_txn())});
          break;
        case Record::kKeyHistory: {
          auto* versions = r.mutable_key_history()->mutable_versions();
          if (!versions->empty()) {
            std::string key = versions->Get(0).key();
            store->RestoreKey(key, versions);
          }
          break;
        }
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
        case Record::kCheckpointEnd:
        case Record::BODY_NOT_SET:
          break;
      }
      return absl::OkStatus();
    };
    ASSIGN_OR_RETURN(load.read, ReadStream(load.files, options.skip_damaged, visit));
    compacted = std::max(compacted, load.read.checkpoint_compacted);
    covered = std::max(covered, load.read.checkpoint_covered);
    summary.records += load.read.records;
    summary.bytes += load.read.checkpoint_bytes + load.read.log_bytes;
    for (std::string& s : load.read.skipped) {
      Log(LogLevel::kError, "skipped damaged data", {{"damage", s}});
      summary.skipped.push_back(std::move(s));
    }
  }
  summary.dropped_txns = CutIncompleteTxns(loads);

  // Every key lives in one stream, whose log is in revision order: applying stream after stream
  // gives each key its versions oldest first, which is all ApplyLogged() needs.
  int64_t revision = std::max({mark, covered, compacted, int64_t{1}});
  for (StreamLoad& load : loads) {
    for (LoggedTxn& t : load.txns) {
      if (load.cut && !(Place{t.seq, t.offset} < *load.cut)) break;
      store->ApplyLogged(t.txn.revision(), t.txn.mutable_changes());
      revision = std::max(revision, t.txn.revision());
    }
  }
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
