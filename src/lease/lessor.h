// Lessor: lease TTLs and expiry. The Store knows which leases exist and which keys are attached;
// the Lessor knows when each lease expires, and revokes expired leases through the Store (each
// revocation deletes its keys in one revision, with DELETE watch events).
//
// Expiry uses a min-heap of (expiry, lease) with lazy deletion: a keepalive pushes a new entry and
// the stale one is skipped when it surfaces, so no tick scans all leases. ExpireDue() revokes at
// most `max` leases per call; the apply loop calls it between request batches, so a burst of
// expirations is spread out and never stalls other writes for long.
//
// Time is passed in by the caller (absl::Time), which keeps tests deterministic.
// Thread safety: none; owned by the apply thread.
#ifndef RAMETCD_LEASE_LESSOR_H_
#define RAMETCD_LEASE_LESSOR_H_

#include <cstdint>
#include <queue>
#include <random>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "mvcc/store.h"

namespace rametcd::lease {

class Lessor {
 public:
  struct Options {
    // Shorter TTLs are raised to this (etcd's default member: 2 s).
    int64_t min_ttl_seconds = 2;
  };

  struct Granted {
    int64_t id;
    int64_t ttl;
  };

  Lessor(const Options& options, mvcc::Store* store);

  // `id` 0 picks a new unique ID. Errors: OutOfRange "too large lease TTL", FailedPrecondition
  // "lease already exists".
  absl::StatusOr<Granted> Grant(int64_t id, int64_t ttl, absl::Time now);
  // Errors: NotFound "requested lease not found".
  absl::Status Revoke(int64_t id);
  // Recovery: a lease the store already knows (Store::FinishRestore) gets its full TTL again,
  // as etcd refreshes leases on restart.
  void Restore(int64_t id, int64_t ttl, absl::Time now);
  // The granted TTL after renewing, or 0 for an unknown lease (etcd answers TTL 0, no error).
  int64_t KeepAlive(int64_t id, absl::Time now);

  struct TimeToLive {
    int64_t remaining;  // seconds; -1 for an unknown lease
    int64_t granted;
  };
  TimeToLive Remaining(int64_t id, absl::Time now) const;
  std::vector<int64_t> Leases() const;

  // Revokes up to `max` leases whose expiry is <= now; returns how many it revoked.
  size_t ExpireDue(absl::Time now, size_t max);
  // When the next lease expires (InfiniteFuture when none).
  absl::Time NextExpiry();

  size_t size() const { return leases_.size(); }
  // Expiry-heap entries, stale ones included (bounded by 4x the leases + 1024).
  size_t heap_size() const { return heap_.size(); }

 private:
  struct State {
    int64_t ttl;
    absl::Time expiry;
  };
  struct HeapEntry {
    absl::Time expiry;
    int64_t id;
    bool operator>(const HeapEntry& o) const { return expiry > o.expiry; }
  };
  void Schedule(int64_t id, absl::Time expiry);
  // Drops heap entries that no longer match their lease's expiry.
  void DropStale();

  const Options options_;
  mvcc::Store* const store_;
  absl::flat_hash_map<int64_t, State> leases_;
  std::priority_queue<HeapEntry, std::vector<HeapEntry>, std::greater<HeapEntry>> heap_;
  std::mt19937_64 ids_;
};

}  // namespace rametcd::lease

#endif  // RAMETCD_LEASE_LESSOR_H_
