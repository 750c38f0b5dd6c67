// Checks of an mvcc::Store for the fuzz targets that build one (request_fuzz from requests,
// wal_recovery_fuzz from files), on top of the store's own Store::CheckInvariants(): what its
// public read API answers must agree with a walk over every key's versions (ForEachKey), and
// what the Lessor holds with the store's lease index. Each check aborts through Require()
// (fuzz_support.h).
#ifndef RAMETCD_TESTS_FUZZ_STORE_CHECK_H_
#define RAMETCD_TESTS_FUZZ_STORE_CHECK_H_

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "base/absl_view.h"
#include "etcd/api/etcdserverpb/rpc.pb.h"
#include "fuzz_support.h"
#include "mvcc/resource_prefix.h"
#include "mvcc/store.h"

namespace rametcd::fuzz {

// A range over every key ("\0" to "\0", which no request validation refuses).
inline etcdserverpb::RangeRequest AllKeysRequest(int64_t revision = 0) {
  etcdserverpb::RangeRequest req;
  req.set_key(std::string(1, '\0'));
  req.set_range_end(std::string(1, '\0'));
  req.set_revision(revision);
  return req;
}

// Every live key at `revision` (0: current) with all its fields, as bytes: equal listings mean
// equal states.
inline absl::StatusOr<std::string> ListAll(mvcc::Store& store, int64_t revision) {
  etcdserverpb::RangeResponse resp;
  if (absl::Status s = store.Range(AllKeysRequest(revision), &resp); !s.ok()) return s;
  Require(resp.count() == resp.kvs_size(), "a range over all keys: count != number of kvs");
  resp.clear_header();
  return resp.SerializeAsString();
}

// Holds for any store, whatever the records it was restored from said: the size counters, a
// count-only range (prefix blocks' live counts), a listing (the index walk) and each prefix
// block's count agree with a walk over every key's versions.
inline void CheckStoreReads(mvcc::Store& store) {
  size_t versions = 0;
  int64_t retained_bytes = 0, live_bytes = 0, live = 0;
  std::map<std::string, int64_t, std::less<>> live_per_prefix;
  store.ForEachKey([&](std::string_view key, const mvcc::KeyEntry& entry) {
    for (const mvcc::KeyVersion& v : entry.versions) {
      ++versions;
      retained_bytes += static_cast<int64_t>(key.size() + v.value.size() + sizeof(v));
    }
    if (const mvcc::KeyVersion* v = entry.Live(); v != nullptr) {
      ++live;
      live_bytes += static_cast<int64_t>(key.size() + v->value.size() + sizeof(*v));
      ++live_per_prefix[std::string(mvcc::ResourcePrefixOf(key))];
    }
  });
  Require(versions == store.retained_versions() && retained_bytes == store.retained_bytes() &&
              live_bytes == store.live_bytes(),
          "retained_versions/retained_bytes/live_bytes != a walk over the versions");
  store.ForEachPrefix([&](std::string_view prefix, int64_t n) {
    auto it = live_per_prefix.find(prefix);
    Require(n == (it == live_per_prefix.end() ? 0 : it->second),
            absl::StrCat("prefix block ", AbslView(prefix), ": live count ", n, " != walk"));
  });
  etcdserverpb::RangeRequest count_req = AllKeysRequest();
  count_req.set_count_only(true);
  etcdserverpb::RangeResponse counted;
  Require(store.Range(count_req, &counted).ok() && counted.count() == live,
          absl::StrCat("count-only range: ", counted.count(), " keys, walk: ", live));
  absl::StatusOr<std::string> listed = ListAll(store, 0);
  etcdserverpb::RangeResponse listing;
  Require(listed.ok() && listing.ParseFromString(*listed) && listing.count() == live,
          "range over all keys: count != live keys walked", listed.status());
}

// `leases` (every lease the Lessor knows) are the store's leases, each with exactly the live keys
// that carry it; a key may carry a lease the store does not know (a restored orphan), attached to
// nothing then.
inline void CheckLeases(mvcc::Store& store, const std::vector<int64_t>& leases) {
  std::map<int64_t, std::vector<std::string>> leased;  // walked in key order, like LeaseKeys()
  store.ForEachKey([&](std::string_view key, const mvcc::KeyEntry& entry) {
    if (const mvcc::KeyVersion* v = entry.Live(); v != nullptr && v->lease != 0) {
      leased[v->lease].emplace_back(key);
    }
  });
  for (int64_t id : leases) {
    Require(store.LeaseExists(id), absl::StrCat("the store does not know lease ", id));
    Require(store.LeaseKeys(id) == leased[id], absl::StrCat("lease ", id, ": keys != walk"));
    leased.erase(id);
  }
  for (const auto& [id, keys] : leased) {
    Require(!store.LeaseExists(id) && store.LeaseKeys(id).empty(),
            absl::StrCat("lease ", id, " is the store's but not the Lessor's, or has keys"));
  }
}

// For a store that requests built: Store::CheckInvariants(), CheckStoreReads(), CheckLeases().
inline void CheckStore(mvcc::Store& store, const std::vector<int64_t>& leases) {
  const absl::Status invariants = store.CheckInvariants();
  Require(invariants.ok(), "Store::CheckInvariants", invariants);
  CheckStoreReads(store);
  CheckLeases(store, leases);
}

}  // namespace rametcd::fuzz

#endif  // RAMETCD_TESTS_FUZZ_STORE_CHECK_H_
