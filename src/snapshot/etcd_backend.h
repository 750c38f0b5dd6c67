// EtcdBackend: the state etcd 3.4 keeps in its bbolt backend (member/snap/db, and the file
// `etcdctl snapshot save` writes), and its conversion to and from such a file. This is what lets
// rametcd hand out snapshots that `etcdctl snapshot status|restore` accept and read data that
// etcd wrote. docs/bbolt-format.md describes the buckets; in short (integers big-endian):
//
//   key      <main:8><'_'><sub:8>['t']  -> mvccpb.KeyValue  ('t': a deletion; its KeyValue holds
//                                          only the key)
//   meta     consistent_index -> u64; finishedCompactRev, scheduledCompactRev -> <main:8>_<0:8>
//   lease    <id:8>                     -> leasepb.Lease{ID, TTL}
//   members  <id in hex>                -> member JSON (member_json.h)
//   cluster  clusterVersion             -> "3.4.0"
//   auth     authRevision               -> u64 1 (auth never enabled)
//   alarm, authRoles, authUsers, members_removed: empty
//
// Thread safety: the functions are safe to call concurrently on different files.
#ifndef RAMETCD_SNAPSHOT_ETCD_BACKEND_H_
#define RAMETCD_SNAPSHOT_ETCD_BACKEND_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "bbolt/reader.h"
#include "etcd/api/mvccpb/kv.pb.h"
#include "snapshot/member_json.h"

namespace rametcd::snapshot {

struct EtcdBackend {
  // One entry of the "key" bucket: one version of a key, written by the change `sub` (0, 1, ...)
  // of the write transaction with revision `main`.
  struct KeyRecord {
    int64_t main = 0;
    int64_t sub = 0;
    bool tombstone = false;
    // A live version: key, create_revision, mod_revision (== main), version, value, lease.
    // A tombstone: only the key is stored (other fields are ignored when writing).
    mvccpb::KeyValue kv;
  };
  std::vector<KeyRecord> keys;  // ascending (main, sub)
  // etcd's compaction point; 0: never compacted. When reading a file whose scheduled compaction
  // did not finish, this is the scheduled revision (etcd finishes it on start), and `keys` may
  // still hold versions that compaction would drop.
  int64_t compacted_revision = 0;
  // The raft index of the last applied entry (etcdctl snapshot restore resets it).
  uint64_t consistent_index = 0;

  struct Lease {
    int64_t id = 0;
    int64_t ttl = 0;  // granted TTL, seconds
    bool operator==(const Lease&) const = default;
  };
  std::vector<Lease> leases;

  using Member = MemberRecord;
  std::vector<Member> members;
  std::string cluster_version = "3.4.0";  // empty: no clusterVersion entry
};

// The "key" bucket's key for a revision: 8-byte big-endian main, '_', 8-byte big-endian sub, and
// a trailing 't' for a tombstone.
std::string RevisionKey(int64_t main, int64_t sub, bool tombstone);
// Errors: DataLoss when `key` is not 17 bytes with '_' at 8, or 18 ending in 't'.
absl::Status ParseRevisionKey(std::string_view key, int64_t* main, int64_t* sub, bool* tombstone);

// Writes `backend` as a new bbolt file at `path` (replacing any file there) and syncs it. The
// file has no trailing sha256; `etcdctl snapshot restore` wants one appended (or
// --skip-hash-check). Errors: InvalidArgument when the keys are not strictly ascending by
// (main, sub), a revision is not positive, a live record's mod_revision is not its main
// revision, or member IDs repeat; I/O errors from the file.
absl::Status WriteEtcdBackend(const EtcdBackend& backend, const std::string& path);

// Reads an etcd backend or snapshot file (a trailing sha256 is ignored). Only what EtcdBackend
// holds is read; the alarm, auth and members_removed buckets are not. Errors: DataLoss for a
// damaged file or entries that are not etcd's encodings (naming bucket and entry), NotFound for
// a missing file.
absl::StatusOr<EtcdBackend> ReadEtcdBackend(const std::string& path);
// The same from an opened bbolt file (e.g. Reader::FromBytes); `name` stands for the file in
// error messages. Errors: DataLoss.
absl::StatusOr<EtcdBackend> ReadEtcdBackend(const bbolt::Reader& reader, std::string_view name);

}  // namespace rametcd::snapshot

#endif  // RAMETCD_SNAPSHOT_ETCD_BACKEND_H_
