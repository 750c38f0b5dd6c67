#include "lease/lessor.h"

#include <algorithm>

#include "base/etcd_errors.h"
#include "base/logging.h"

namespace rametcd::lease {
namespace {

constexpr int64_t kMaxTtlSeconds = 9'000'000'000;

}  // namespace

Lessor::Lessor(const Options& options, mvcc::Store* store)
    : options_(options),
      store_(store),
      ids_(static_cast<uint64_t>(absl::ToUnixNanos(absl::Now()))) {}

absl::StatusOr<Lessor::Granted> Lessor::Grant(int64_t id, int64_t ttl, absl::Time now) {
  if (ttl > kMaxTtlSeconds) return absl::OutOfRangeError("etcdserver: too large lease TTL");
  if (id == 0) {
    do {
      id = static_cast<int64_t>(ids_() >> 1);  // positive, as etcd's
    } while (id == 0 || store_->LeaseExists(id));
  }
  ttl = std::max(ttl, options_.min_ttl_seconds);
  absl::Status granted = store_->GrantLease(id, ttl);
  if (!granted.ok()) return granted;
  leases_[id] = State{ttl, now + absl::Seconds(ttl)};
  Schedule(id, now + absl::Seconds(ttl));
  return Granted{id, ttl};
}

void Lessor::Restore(int64_t id, int64_t ttl, absl::Time now) {
  leases_[id] = State{ttl, now + absl::Seconds(ttl)};
  Schedule(id, now + absl::Seconds(ttl));
}

absl::Status Lessor::Revoke(int64_t id) {
  absl::Status status = store_->RevokeLease(id);
  if (status.ok()) leases_.erase(id);
  return status;
}

int64_t Lessor::KeepAlive(int64_t id, absl::Time now) {
  auto it = leases_.find(id);
  if (it == leases_.end()) return 0;
  it->second.expiry = now + absl::Seconds(it->second.ttl);
  Schedule(id, it->second.expiry);
  return it->second.ttl;
}

Lessor::TimeToLive Lessor::Remaining(int64_t id, absl::Time now) const {
  auto it = leases_.find(id);
  if (it == leases_.end()) return {-1, 0};
  // Whole seconds left, truncated as etcd reports them.
  const int64_t remaining = absl::ToInt64Seconds(it->second.expiry - now);
  return {std::max<int64_t>(remaining, 0), it->second.ttl};
}

std::vector<int64_t> Lessor::Leases() const {
  std::vector<int64_t> ids;
  ids.reserve(leases_.size());
  for (const auto& [id, state] : leases_) ids.push_back(id);
  std::sort(ids.begin(), ids.end());
  return ids;
}

void Lessor::Schedule(int64_t id, absl::Time expiry) {
  heap_.push({expiry, id});
  // Keepalives leave stale entries behind; keep the heap within a small multiple of the leases.
  if (heap_.size() > 4 * leases_.size() + 1024) {
    std::vector<HeapEntry> live;
    while (!heap_.empty()) {
      HeapEntry e = heap_.top();
      heap_.pop();
      auto it = leases_.find(e.id);
      if (it != leases_.end() && it->second.expiry == e.expiry) live.push_back(e);
    }
    for (const HeapEntry& e : live) heap_.push(e);
  }
}

void Lessor::DropStale() {
  while (!heap_.empty()) {
    const HeapEntry& top = heap_.top();
    auto it = leases_.find(top.id);
    if (it != leases_.end() && it->second.expiry == top.expiry) return;
    heap_.pop();
  }
}

size_t Lessor::ExpireDue(absl::Time now, size_t max) {
  size_t revoked = 0;
  while (revoked < max) {
    DropStale();
    if (heap_.empty() || heap_.top().expiry > now) break;
    const int64_t id = heap_.top().id;
    heap_.pop();
    absl::Status status = Revoke(id);
    CHECK(status.ok());  // the Lessor and the Store agree on which leases exist
    ++revoked;
  }
  return revoked;
}

absl::Time Lessor::NextExpiry() {
  DropStale();
  return heap_.empty() ? absl::InfiniteFuture() : heap_.top().expiry;
}

}  // namespace rametcd::lease
