// KeyEntry: everything the store keeps about one key: its retained versions, oldest first.
//
// A version with `version == 0` is a tombstone: the key was deleted at `mod_revision`. Versions
// are kept until compaction removes them, so that reads at any revision >= the compaction point
// see the key exactly as it was. Several versions may share a mod_revision only when one write
// transaction both put and then deleted the key (etcd allows that across sibling nested txns), or
// deleted and put it again (a delete to the end of the key space, which etcd's duplicate-key check
// does not see); the later one wins.
//
// Thread safety: none; owned by the Store, which is used by one thread at a time.
#ifndef RAMETCD_MVCC_KEY_ENTRY_H_
#define RAMETCD_MVCC_KEY_ENTRY_H_

#include <algorithm>
#include <cstdint>
#include <string_view>

#include "absl/container/inlined_vector.h"
#include "base/shared_bytes.h"
#include "etcd/api/mvccpb/kv.pb.h"

namespace rametcd::mvcc {

struct KeyVersion {
  int64_t mod_revision = 0;
  int64_t create_revision = 0;
  int64_t version = 0;  // 0: tombstone
  int64_t lease = 0;
  SharedBytes value;  // shared with the history ring's events of this version

  bool IsTombstone() const { return version == 0; }
};

struct KeyEntry {
  // Oldest first; never empty while the entry is in the store.
  absl::InlinedVector<KeyVersion, 1> versions;

  // The version visible at `revision`, or nullptr when the key did not exist then (not yet
  // created, deleted, or its history was compacted away).
  const KeyVersion* At(int64_t revision) const {
    auto it =
        std::upper_bound(versions.begin(), versions.end(), revision,
                         [](int64_t rev, const KeyVersion& v) { return rev < v.mod_revision; });
    if (it == versions.begin()) return nullptr;
    const KeyVersion& v = *(it - 1);
    return v.IsTombstone() ? nullptr : &v;
  }

  // The newest version if the key currently exists, else nullptr.
  const KeyVersion* Live() const {
    const KeyVersion& v = versions.back();
    return v.IsTombstone() ? nullptr : &v;
  }
};

// The version a logged or checkpointed KeyValue describes (its key aside).
inline KeyVersion VersionFromProto(const mvccpb::KeyValue& kv) {
  KeyVersion v;
  v.mod_revision = kv.mod_revision();
  v.create_revision = kv.create_revision();
  v.version = kv.version();
  v.lease = kv.lease();
  v.value = SharedBytes(kv.value());
  return v;
}

// The etcd KeyValue of `key` at version `v`.
inline void FillKeyValue(std::string_view key, const KeyVersion& v, bool keys_only,
                         mvccpb::KeyValue* out) {
  out->set_key(key.data(), key.size());
  out->set_create_revision(v.create_revision);
  out->set_mod_revision(v.mod_revision);
  out->set_version(v.version);
  if (!keys_only) out->set_value(v.value.data(), v.value.size());
  out->set_lease(v.lease);
}

}  // namespace rametcd::mvcc

#endif  // RAMETCD_MVCC_KEY_ENTRY_H_
