#include "migrate/data_dir_from_backend.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/absl_view.h"
#include "base/status_macros.h"
#include "wal/checkpoint.h"
#include "wal/file_util.h"
#include "wal/layout.h"

namespace rametcd::migrate {
namespace {

namespace fs = std::filesystem;
using KeyRecord = snapshot::EtcdBackend::KeyRecord;

// Each stream's checkpoint gets this sequence number; the server's first log segment follows it.
constexpr uint64_t kCheckpointSeq = 1;

std::string DescribeRecord(const KeyRecord& r) {
  return absl::StrCat("key record (", r.main, ", ", r.sub, r.tombstone ? ", tombstone" : "",
                      ") of key \"", absl::CHexEscape(r.kv.key()), "\"");
}

absl::Status BadRecord(const KeyRecord& r, std::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat(DescribeRecord(r), ": ", AbslView(problem)));
}

// What the writer relies on, and what etcd's key bucket always satisfies.
absl::Status CheckRecords(const std::vector<KeyRecord>& keys) {
  for (size_t i = 0; i < keys.size(); ++i) {
    const KeyRecord& r = keys[i];
    if (r.main <= 0 || r.sub < 0) return BadRecord(r, "revision is not positive");
    if (i > 0 && std::pair(r.main, r.sub) <= std::pair(keys[i - 1].main, keys[i - 1].sub)) {
      return BadRecord(r, absl::StrCat("does not follow (", keys[i - 1].main, ", ", keys[i - 1].sub,
                                       ") in revision order"));
    }
    if (r.kv.key().empty()) return BadRecord(r, "the key is empty");
    if (r.tombstone) continue;
    if (r.kv.mod_revision() != r.main) {
      return BadRecord(
          r, absl::StrCat("mod_revision ", r.kv.mod_revision(), " is not the record's revision"));
    }
    if (r.kv.version() <= 0) {
      return BadRecord(r, absl::StrCat("a live version with version ", r.kv.version()));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckLeases(const std::vector<snapshot::EtcdBackend::Lease>& leases) {
  absl::flat_hash_set<int64_t> seen;
  for (const snapshot::EtcdBackend::Lease& lease : leases) {
    if (lease.id == 0) return absl::InvalidArgumentError("a lease with ID 0 (that means no lease)");
    if (!seen.insert(lease.id).second) {
      return absl::InvalidArgumentError(absl::StrCat("lease ", absl::Hex(lease.id), " repeats"));
    }
  }
  return absl::OkStatus();
}

// Fails unless `wal_dir` is missing or empty.
absl::Status CheckNoStreams(const std::string& wal_dir) {
  auto streams = wal::ListStreams(wal_dir);
  if (!streams.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat(wal_dir, " is not an empty WAL dir: ", streams.status().message()));
  }
  if (streams->empty()) return absl::OkStatus();
  std::vector<std::string> names;
  for (const wal::StreamFiles& s : *streams) names.push_back(absl::CHexEscape(s.stream));
  return absl::FailedPreconditionError(absl::StrCat(wal_dir, " already holds ", streams->size(),
                                                    " streams (", absl::StrJoin(names, ", "),
                                                    "): the data dir is not empty"));
}

// The version a record stands for, as the WAL keeps it (a tombstone: key, mod_revision,
// version 0).
mvccpb::KeyValue VersionOf(const KeyRecord& r) {
  if (!r.tombstone) return r.kv;
  mvccpb::KeyValue kv;
  kv.set_key(r.kv.key());
  kv.set_mod_revision(r.main);
  return kv;
}

// The indexes of the key records of each stream, each list in record order.
absl::btree_map<std::string, std::vector<size_t>, std::less<>> RecordsByStream(
    const std::vector<KeyRecord>& keys) {
  absl::btree_map<std::string, std::vector<size_t>, std::less<>> by_stream;
  for (size_t i = 0; i < keys.size(); ++i) {
    const std::string_view stream = wal::StreamOfKey(keys[i].kv.key());
    auto it = by_stream.find(stream);
    if (it == by_stream.end()) it = by_stream.emplace(std::string(stream), 0).first;
    it->second.push_back(i);
  }
  return by_stream;
}

// One stream's keys, compacted at `compacted`, covering everything up to `revision`.
wal::StreamState StreamStateOf(const std::vector<KeyRecord>& keys,
                               const std::vector<size_t>& records, int64_t compacted,
                               int64_t revision) {
  wal::StreamState state;
  for (size_t i : records) state.keys[keys[i].kv.key()].push_back(VersionOf(keys[i]));
  wal::CompactState(compacted, &state);  // also finishes what etcd's compaction left half done
  state.revision = revision;
  return state;
}

absl::StatusOr<uint64_t> WriteStream(const std::string& staging, std::string_view stream,
                                     const wal::StreamState& state) {
  wal::StreamFiles files;
  files.stream = std::string(stream);
  files.dir = absl::StrCat(staging, "/", wal::StreamDirName(stream));
  RETURN_IF_ERROR(wal::MakeDirs(files.dir));
  return wal::WriteCheckpoint(files, kCheckpointSeq, state);
}

void AddStream(const wal::StreamState& state, uint64_t bytes, DataDirSummary* summary) {
  ++summary->streams;
  summary->bytes += bytes;
  for (const auto& [key, versions] : state.keys) {
    summary->versions += versions.size();
    if (versions.back().version() != 0) ++summary->keys;
  }
}

// Writes every stream's checkpoint under `staging`.
absl::Status WriteStreams(const snapshot::EtcdBackend& backend, const std::string& staging,
                          DataDirSummary* summary) {
  for (const auto& [stream, records] : RecordsByStream(backend.keys)) {
    wal::StreamState state =
        StreamStateOf(backend.keys, records, summary->compacted, summary->revision);
    if (state.keys.empty()) continue;  // everything it held was compacted away
    ASSIGN_OR_RETURN(const uint64_t bytes, WriteStream(staging, stream, state));
    AddStream(state, bytes, summary);
  }
  wal::StreamState meta;
  for (const snapshot::EtcdBackend::Lease& lease : backend.leases)
    meta.leases[lease.id] = lease.ttl;
  meta.compacted = summary->compacted;
  meta.revision = summary->revision;
  ASSIGN_OR_RETURN(const uint64_t bytes, WriteStream(staging, wal::kMetaStream, meta));
  AddStream(meta, bytes, summary);
  summary->leases = meta.leases.size();
  return absl::OkStatus();
}

absl::Status RemoveTree(const std::string& path) {
  std::error_code ec;
  fs::remove_all(path, ec);
  if (ec) return absl::InternalError(absl::StrCat("remove ", path, ": ", ec.message()));
  return absl::OkStatus();
}

// Renames the synced `staging` dir to `wal_dir` (missing or empty) and makes that durable; on
// failure neither is left.
absl::Status Publish(const std::string& staging, const std::string& wal_dir) {
  RETURN_IF_ERROR(wal::SyncDir(staging));
  if (std::rename(staging.c_str(), wal_dir.c_str()) != 0) {
    return absl::InternalError(
        absl::StrCat("rename ", staging, " to ", wal_dir, ": ", std::strerror(errno)));
  }
  const fs::path parent = fs::path(wal_dir).parent_path();
  absl::Status synced = wal::SyncDir(parent.empty() ? "." : parent.string());
  if (!synced.ok()) RemoveTree(wal_dir).IgnoreError();  // not durable: take it back
  return synced;
}

}  // namespace

absl::StatusOr<DataDirSummary> WriteWalFromBackend(const snapshot::EtcdBackend& backend,
                                                   const std::string& wal_dir_arg) {
  std::string wal_dir = wal_dir_arg;  // "<wal_dir>.importing" must be a sibling, not a child
  while (wal_dir.size() > 1 && wal_dir.back() == '/') wal_dir.pop_back();
  RETURN_IF_ERROR(CheckRecords(backend.keys));
  RETURN_IF_ERROR(CheckLeases(backend.leases));
  RETURN_IF_ERROR(CheckNoStreams(wal_dir));

  DataDirSummary summary;
  summary.compacted = backend.compacted_revision > 0 ? backend.compacted_revision : -1;
  summary.revision = std::max<int64_t>(
      {1, backend.keys.empty() ? 0 : backend.keys.back().main, summary.compacted});

  const std::string staging = wal_dir + ".importing";
  RETURN_IF_ERROR(RemoveTree(staging));  // left by an interrupted import
  RETURN_IF_ERROR(wal::MakeDirs(staging));
  absl::Status written = WriteStreams(backend, staging, &summary);
  if (written.ok()) written = Publish(staging, wal_dir);
  if (!written.ok()) {
    RemoveTree(staging).IgnoreError();  // best effort: the error that matters is `written`
    return written;
  }
  return summary;
}

}  // namespace rametcd::migrate
