#include "wal/checkpoint.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "wal/file_util.h"
#include "wal/frame.h"
#include "wal/record_codec.h"

namespace rametcd::wal {

absl::StatusOr<StreamState> ReplayStream(const StreamFiles& files, uint64_t up_to_seq,
                                         bool skip_damaged) {
  StreamFiles upto = files;
  upto.logs.erase(std::upper_bound(upto.logs.begin(), upto.logs.end(), up_to_seq), upto.logs.end());
  StreamState state;
  auto visit = [&state](const RecordPlace&, Record& r) -> absl::Status {
    switch (r.body_case()) {
      case Record::kTxn:
        state.revision = std::max(state.revision, r.txn().revision());
        for (mvccpb::KeyValue& kv : *r.mutable_txn()->mutable_changes()) {
          kv.set_mod_revision(r.txn().revision());
          std::string key = kv.key();
          state.keys[key].push_back(std::move(kv));
        }
        break;
      case Record::kKeyHistory: {
        auto* versions = r.mutable_key_history()->mutable_versions();
        if (versions->empty()) break;
        auto& dst = state.keys[versions->Get(0).key()];
        for (mvccpb::KeyValue& kv : *versions) dst.push_back(std::move(kv));
        break;
      }
      case Record::kLeaseGrant:
        state.leases[r.lease_grant().id()] = r.lease_grant().ttl();
        break;
      case Record::kLeaseRevoke:
        state.leases.erase(r.lease_revoke().id());
        break;
      case Record::kCompaction:
        state.compacted = std::max(state.compacted, r.compaction().revision());
        break;
      case Record::kRevisionMark:
        state.revision = std::max(state.revision, r.revision_mark().revision());
        break;
      case Record::kCheckpointEnd:
        state.revision = std::max(state.revision, r.checkpoint_end().covered_revision());
        state.compacted = std::max(state.compacted, r.checkpoint_end().compacted_revision());
        state.batch = std::max(state.batch, r.checkpoint_end().batch());
        break;
      case Record::kBatchEnd:
        state.batch = std::max(state.batch, r.batch_end().batch());
        break;
      case Record::BODY_NOT_SET:
        break;
    }
    return absl::OkStatus();
  };
  ASSIGN_OR_RETURN(state.read, ReadStream(upto, skip_damaged, visit));
  return state;
}

void CompactState(int64_t compacted, StreamState* state) {
  state->compacted = std::max(state->compacted, compacted);
  const int64_t bound = state->compacted;
  for (auto it = state->keys.begin(); it != state->keys.end();) {
    std::vector<mvccpb::KeyValue>& versions = it->second;
    auto newer = std::upper_bound(
        versions.begin(), versions.end(), bound,
        [](int64_t rev, const mvccpb::KeyValue& v) { return rev < v.mod_revision(); });
    if (newer != versions.begin()) {
      auto keep = newer - 1;
      if (keep->version() == 0) ++keep;
      versions.erase(versions.begin(), keep);
    }
    if (versions.empty()) {
      it = state->keys.erase(it);
    } else {
      ++it;
    }
  }
}

absl::StatusOr<uint64_t> WriteCheckpoint(const StreamFiles& files, uint64_t seq,
                                         const StreamState& state) {
  const std::string final_path = absl::StrCat(files.dir, "/", SegmentFileName(seq, true));
  const std::string tmp_path = absl::StrCat(final_path, ".tmp");
  ASSIGN_OR_RETURN(SequentialFile file, SequentialFile::Create(tmp_path));
  std::string buffer;
  AppendFileHeader({FileKind::kCheckpoint, seq, files.stream}, &buffer);
  int64_t records = 0;
  Record record;
  for (const auto& [key, versions] : state.keys) {
    auto* history = record.mutable_key_history()->mutable_versions();
    history->Clear();
    for (const mvccpb::KeyValue& kv : versions) *history->Add() = kv;
    AppendRecord(record, &buffer);
    ++records;
    RETURN_IF_ERROR(file.Append(&buffer));
  }
  for (const auto& [id, ttl] : state.leases) {
    record.Clear();
    record.mutable_lease_grant()->set_id(id);
    record.mutable_lease_grant()->set_ttl(ttl);
    AppendRecord(record, &buffer);
    ++records;
  }
  if (files.stream == kMetaStream) {
    record.Clear();
    record.mutable_compaction()->set_revision(state.compacted);
    AppendRecord(record, &buffer);
    record.Clear();
    record.mutable_revision_mark()->set_revision(state.revision);
    AppendRecord(record, &buffer);
    records += 2;
  }
  record.Clear();
  CheckpointEnd* end = record.mutable_checkpoint_end();
  end->set_covered_revision(state.revision);
  end->set_compacted_revision(state.compacted);
  end->set_records(records);
  end->set_batch(state.batch);
  AppendRecord(record, &buffer);
  RETURN_IF_ERROR(file.Append(&buffer));
  RETURN_IF_ERROR(file.SyncAndClose());
  if (::rename(tmp_path.c_str(), final_path.c_str()) != 0) {
    return absl::InternalError(absl::StrCat("rename ", tmp_path, ": ", std::strerror(errno)));
  }
  RETURN_IF_ERROR(SyncDir(files.dir));
  // The checkpoint is durable: the files it replaces are garbage now.
  if (files.checkpoint && *files.checkpoint != seq)
    RETURN_IF_ERROR(RemoveFile(files.CheckpointPath()));
  for (uint64_t log : files.logs) {
    if (log <= seq) RETURN_IF_ERROR(RemoveFile(files.LogPath(log)));
  }
  return file.size();
}

}  // namespace rametcd::wal
