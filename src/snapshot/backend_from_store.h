// BackendFromStore: rametcd's in-memory state as etcd's backend would hold it, ready for
// WriteEtcdBackend (etcd_backend.h) to produce an etcd-compatible snapshot.
//
// Every version the store retains that etcd would also have kept after the same compaction
// (tombstones included) becomes one "key" record, in revision order. etcd numbers the changes of
// one write transaction 0, 1, ... in the order they were made; rametcd does not keep that order,
// so the changes of one revision are numbered in key order (a key changed twice in one revision
// keeps its two versions in their order). Reads and `etcdctl snapshot status` do not depend on
// this numbering; only watch events replayed from inside such a revision may come in a different
// order than etcd would have sent them.
//
// The result holds one copy of every retained key and value.
//
// Thread safety: reads `store` and `lessor`, which belong to the apply thread: call it there.
#ifndef RAMETCD_SNAPSHOT_BACKEND_FROM_STORE_H_
#define RAMETCD_SNAPSHOT_BACKEND_FROM_STORE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "lease/lessor.h"
#include "mvcc/store.h"
#include "snapshot/etcd_backend.h"

namespace rametcd::snapshot {

// What the backend records about the cluster, which the store does not know.
struct ClusterInfo {
  std::vector<EtcdBackend::Member> members;
  uint64_t consistent_index = 0;
  std::string cluster_version = "3.4.0";
};

// Leases get the TTL they were granted (as etcd persists them), read from `lessor` at `now`.
EtcdBackend BackendFromStore(const mvcc::Store& store, const lease::Lessor& lessor, absl::Time now,
                             const ClusterInfo& cluster);

}  // namespace rametcd::snapshot

#endif  // RAMETCD_SNAPSHOT_BACKEND_FROM_STORE_H_
