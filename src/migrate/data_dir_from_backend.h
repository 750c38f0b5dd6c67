// WriteWalFromBackend: turns etcd's backend state (an EtcdBackend read from an etcd snapshot or a
// stopped etcd's member/snap/db, or one built from a Range at one revision by the live cut-over)
// into a rametcd data dir's WAL, so that a server started on it recovers exactly what etcd held:
// the same keys with the same values, create/mod revisions, versions and leases, every version
// etcd retained (reads at old revisions down to the compaction point work), the compaction point
// and the current revision. Leases come back with their granted TTL, as etcd refreshes them on
// start.
//
// What is written (docs/wal-format.md): one checkpoint (sequence 1) per stream (wal/layout.h's
// StreamOfKey): each key's retained versions, oldest first, tombstones as version 0; the _meta
// stream's checkpoint holds the leases, the compaction point and the revision. Nothing is logged,
// so the server continues each stream with a new log segment.
//
// etcd's rules applied here: a compaction that etcd scheduled but did not finish (a crash during
// it) is finished, as etcd finishes it on start; the revision is max(the newest record's main
// revision, the compaction point, 1), as etcd's restore computes it. An EtcdBackend compaction
// point of 0 means "never compacted" (rametcd's -1).
//
// Atomicity: the streams are written under `<wal_dir>.importing` (a stale one from an interrupted
// run is removed first), synced, and then renamed to `wal_dir` in one step, so a crash leaves
// either no WAL or the whole one, never a partial import that a server would start on.
//
// Memory: `backend` plus the state of one stream at a time.
//
// Thread safety: none needed; works on files only. The caller holds the data dir's lock
// (wal/data_dir.h), so that no server or other tool uses `wal_dir` meanwhile.
#ifndef RAMETCD_MIGRATE_DATA_DIR_FROM_BACKEND_H_
#define RAMETCD_MIGRATE_DATA_DIR_FROM_BACKEND_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "snapshot/etcd_backend.h"

namespace rametcd::migrate {

// What WriteWalFromBackend wrote.
struct DataDirSummary {
  size_t keys = 0;      // live keys (at the revision)
  size_t versions = 0;  // retained versions, tombstones included
  size_t leases = 0;
  size_t streams = 0;  // checkpoints written, _meta included
  int64_t revision = 1;
  int64_t compacted = -1;  // -1: never compacted
  uint64_t bytes = 0;      // checkpoint bytes
};

// Writes `backend` as a rametcd data dir's WAL under `wal_dir` (<data-dir>/wal, created if
// missing; must hold no streams yet: FailedPrecondition otherwise): one checkpoint per stream
// (layout.h's StreamOfKey), holding every retained version of every key (tombstones as version
// 0), the compaction point (etcd's, applying CompactState so a scheduled-but-unfinished etcd
// compaction is finished), the leases (ID -> granted TTL) and the revision (max of the newest
// record's main revision and the compaction point; etcd's rule). Durable (fsync) when it returns.
// REQUIRES: the caller holds the data dir's lock.
// Errors: FailedPrecondition when `wal_dir` holds streams or files that are not rametcd's;
// InvalidArgument when `backend` is not what etcd keeps (records not ascending by (main, sub), a
// revision that is not positive, an empty key, a live record whose mod_revision is not its main
// revision or whose version is not positive, lease ID 0 or a repeated lease ID), naming the
// record; I/O errors naming the file. On error nothing is left under `wal_dir`.
absl::StatusOr<DataDirSummary> WriteWalFromBackend(const snapshot::EtcdBackend& backend,
                                                   const std::string& wal_dir);

}  // namespace rametcd::migrate

#endif  // RAMETCD_MIGRATE_DATA_DIR_FROM_BACKEND_H_
