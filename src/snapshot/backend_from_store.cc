#include "snapshot/backend_from_store.h"

#include <algorithm>
#include <utility>

namespace rametcd::snapshot {

EtcdBackend BackendFromStore(const mvcc::Store& store, const lease::Lessor& lessor, absl::Time now,
                             const ClusterInfo& cluster) {
  EtcdBackend backend;
  const int64_t compacted = store.compacted_revision();  // -1: never
  backend.compacted_revision = std::max<int64_t>(compacted, 0);
  backend.consistent_index = cluster.consistent_index;
  backend.cluster_version = cluster.cluster_version;
  backend.members = cluster.members;

  // Keys come in key order and each key's versions oldest first.
  std::vector<EtcdBackend::KeyRecord>& records = backend.keys;
  store.ForEachKey([&](std::string_view key, const mvcc::KeyEntry& entry) {
    const auto& versions = entry.versions;
    for (size_t i = 0; i < versions.size(); ++i) {
      const mvcc::KeyVersion& v = versions[i];
      // What etcd's compaction keeps: below the compaction point only each key's newest
      // version, and that only if it is not a deletion. (The store may still hold more while a
      // compaction is being carried out.)
      const bool superseded = i + 1 < versions.size() && versions[i + 1].mod_revision <= compacted;
      if (v.mod_revision <= compacted && (superseded || v.IsTombstone())) continue;
      EtcdBackend::KeyRecord r;
      r.main = v.mod_revision;
      r.tombstone = v.IsTombstone();
      if (r.tombstone) {
        r.kv.set_key(key.data(), key.size());
      } else {
        mvcc::FillKeyValue(key, v, /*keys_only=*/false, &r.kv);
      }
      records.push_back(std::move(r));
    }
  });
  // Revision order; within a revision the key order (and a key's version order) stays.
  std::stable_sort(records.begin(), records.end(),
                   [](const EtcdBackend::KeyRecord& a, const EtcdBackend::KeyRecord& b) {
                     return a.main < b.main;
                   });
  for (size_t i = 0; i < records.size(); ++i) {
    records[i].sub = i > 0 && records[i - 1].main == records[i].main ? records[i - 1].sub + 1 : 0;
  }

  for (int64_t id : lessor.Leases()) {
    backend.leases.push_back({id, lessor.Remaining(id, now).granted});
  }
  std::sort(backend.leases.begin(), backend.leases.end(),
            [](const auto& a, const auto& b) { return a.id < b.id; });
  return backend;
}

}  // namespace rametcd::snapshot
