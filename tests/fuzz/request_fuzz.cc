// libFuzzer target: sequences of KV and lease requests applied to an mvcc::Store (with a
// lease::Lessor) the way the server applies them: each request goes through the request checks
// of server/request_checks.h and the proposal-size limit, as the KV service does in the gRPC
// reactor, and then to the store, as the apply loop runs it; between request batches the loop's
// housekeeping runs (a bounded compaction step). The write admission of the apply loop (space
// quota, WAL backlog, read-only) is not involved: this target has no quota and no WAL.
//
// Input (fuzz_inputs.h): a config byte (history ring bounds, compaction step, request size and
// txn op limits), then up to kMaxRequests chunks. A chunk's tag picks the request (Range, Put,
// DeleteRange, Txn, Compaction, LeaseGrant, LeaseRevoke, LeaseKeepAlive, or a clock tick that
// expires leases) and its bytes are that request's protobuf; bytes that do not parse never reach
// a server and are skipped. Tag bit kSameBatch keeps the next request in the same batch.
//
// Checks, after every request: an error is a Status with one of etcd's codes, and a failed
// request changed nothing (revision, HashAt); the revision never decreases and moves by one per
// effective write; a successful write's header revision is the store's revision; a Put reads back;
// a DeleteRange deletes what a count found and leaves the range empty; a Txn answers its chosen
// branch; a Range agrees with a walk over the store (count, and the listing when nothing limits or
// reorders it), holds only keys of its range in the requested order and limit, gives the same
// answer at revision 0 as at the current revision, and its count-only twin gives the same count;
// a compaction step leaves HashAt unchanged; after a tick no due lease is left; CheckStore
// (store_check.h) holds. At the end, a read at every revision compaction kept gives exactly the
// state recorded when that revision was current.
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "base/etcd_errors.h"
#include "etcd/api/etcdserverpb/rpc.pb.h"
#include "fuzz_inputs.h"
#include "fuzz_support.h"
#include "lease/lessor.h"
#include "mvcc/store.h"
#include "server/request_checks.h"
#include "store_check.h"

namespace rametcd::fuzz {
namespace {

using etcdserverpb::RangeRequest;
using etcdserverpb::RangeResponse;

constexpr size_t kMaxRequests = 64;
// How many leases the apply loop expires between two request batches (its expire_batch).
constexpr size_t kExpireBatch = 1000;

// The config byte picks a server setup: two bits each.
struct Config {
  mvcc::HistoryRing::Options history;
  size_t compaction_step_keys;
  int64_t max_request_bytes;  // --max-request-bytes
  int64_t max_txn_ops;        // --max-txn-ops
};

Config DecodeConfig(uint8_t b) {
  static constexpr mvcc::HistoryRing::Options kRings[] = {
      {}, {4, 1 << 20}, {1, 1 << 20}, {64, 512}};
  static constexpr size_t kSteps[] = {10000, 1, 2, 3};
  static constexpr int64_t kRequestBytes[] = {1536 * 1024, 1024, 100, 40};
  static constexpr int64_t kTxnOps[] = {128, 8, 2, 1};
  return {kRings[b & 3], kSteps[(b >> 2) & 3], kRequestBytes[(b >> 4) & 3], kTxnOps[b >> 6]};
}

// Codes the store, the lessor and the request checks answer with (etcd_errors.h).
bool IsEtcdCode(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kFailedPrecondition:
      return true;
    default:
      return false;
  }
}

// Whether `key` lies in the range of a request (key, range_end), written out independently of
// mvcc::KeyRange: an empty range_end is the single key, "\0" every key from `begin` on.
bool InRange(std::string_view key, std::string_view begin, std::string_view end) {
  if (end.empty()) return key == begin;
  if (end == std::string_view("\0", 1)) return key >= begin;
  return key >= begin && key < end;
}

// What the order of a range response must be: kvs by key unless the request sorts.
void CheckOrder(const RangeRequest& req, const RangeResponse& resp) {
  RangeRequest::SortOrder order = req.sort_order();
  const RangeRequest::SortTarget target = req.sort_target();
  if (target != RangeRequest::KEY && order == RangeRequest::NONE) order = RangeRequest::ASCEND;
  const bool sorted = order == RangeRequest::ASCEND || order == RangeRequest::DESCEND;
  for (int i = 1; i < resp.kvs_size(); ++i) {
    const mvccpb::KeyValue& a = resp.kvs(i - 1);
    const mvccpb::KeyValue& b = resp.kvs(i);
    if (!sorted || target == RangeRequest::KEY) {
      const bool descending = sorted && order == RangeRequest::DESCEND;
      Require(descending ? a.key() > b.key() : a.key() < b.key(), "range: kvs not in key order");
      continue;
    }
    // Sorted by another field: stable, so equal fields keep key order.
    int c = 0;
    switch (target) {
      case RangeRequest::VALUE:
        c = a.value().compare(b.value());
        break;
      case RangeRequest::VERSION:
        c = a.version() < b.version() ? -1 : a.version() > b.version();
        break;
      case RangeRequest::CREATE:
        c = a.create_revision() < b.create_revision() ? -1
                                                      : a.create_revision() > b.create_revision();
        break;
      default:
        c = a.mod_revision() < b.mod_revision() ? -1 : a.mod_revision() > b.mod_revision();
        break;
    }
    if (order == RangeRequest::DESCEND) c = -c;
    Require(c < 0 || (c == 0 && a.key() < b.key()), "range: kvs not in the requested order");
  }
}

class Harness {
 public:
  explicit Harness(const Config& config)
      : config_(config), store_(config.history), lessor_({}, &store_) {
    RecordListing();
  }

  void Run(InputReader& in) {
    for (size_t n = 0; n < kMaxRequests && !in.empty(); ++n) {
      uint8_t tag = 0;
      const std::string_view bytes = in.Chunk(&tag);
      Request(static_cast<RequestOp>((tag & ~kSameBatch) % kRequestOpCount), bytes);
      if ((tag & kSameBatch) == 0) Housekeeping();
      CheckStore(store_, lessor_.Leases());
    }
    // Reads at every revision compaction kept see exactly the state recorded at that revision.
    for (const auto& [rev, listing] : listings_) {
      if (rev < store_.compacted_revision()) continue;
      absl::StatusOr<std::string> now = ListAll(store_, rev);
      Require(now.ok(), absl::StrCat("a read at kept revision ", rev, " failed"), now.status());
      Require(*now == listing,
              absl::StrCat("a read at revision ", rev, " differs from the state recorded then"));
    }
  }

 private:
  // One request as the server handles it; checks what it did.
  void Request(RequestOp op, std::string_view bytes) {
    const int64_t before = store_.revision();
    const absl::StatusOr<uint32_t> hash_before = store_.HashAt(0);
    Require(hash_before.ok(), "HashAt(0)", hash_before.status());
    bool parsed = true;
    const absl::Status status = Dispatch(op, bytes, &parsed);
    Require(store_.revision() >= before, "the revision went backwards");
    if (!parsed) return;
    if (!status.ok()) {
      Require(IsEtcdCode(status.code()), "an error that is not one of etcd's", status);
      Require(store_.revision() == before && store_.HashAt(0).value() == *hash_before,
              "a failed request changed the store", status);
    }
    RecordListing();
  }

  // Parses `bytes` as the request `handle` takes and handles it; bytes that do not parse never
  // reach a server (*parsed false).
  template <typename Req>
  absl::Status Handle(std::string_view bytes, bool* parsed, absl::Status (Harness::*handle)(Req&)) {
    Req req;
    *parsed = req.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()));
    return *parsed ? (this->*handle)(req) : absl::OkStatus();
  }

  absl::Status Dispatch(RequestOp op, std::string_view bytes, bool* parsed) {
    switch (op) {
      case kRange:
        return Handle(bytes, parsed, &Harness::Range);
      case kPut:
        return Handle(bytes, parsed, &Harness::Put);
      case kDeleteRange:
        return Handle(bytes, parsed, &Harness::DeleteRange);
      case kTxn:
        return Handle(bytes, parsed, &Harness::Txn);
      case kCompaction:
        return Handle(bytes, parsed, &Harness::Compaction);
      case kLeaseGrant:
        return Handle(bytes, parsed, &Harness::LeaseGrant);
      case kLeaseRevoke:
        return Handle(bytes, parsed, &Harness::LeaseRevoke);
      case kLeaseKeepAlive:
        return Handle(bytes, parsed, &Harness::LeaseKeepAlive);
      case kTick:
        Tick(bytes);
        break;
      case kRequestOpCount:
        break;
    }
    return absl::OkStatus();
  }

  // The KV service's size limit for requests that become proposals.
  absl::Status CheckSize(const google::protobuf::Message& req) const {
    if (server::ProposalSize(static_cast<int64_t>(req.ByteSizeLong())) >
        config_.max_request_bytes) {
      return etcd_errors::RequestTooLarge();
    }
    return absl::OkStatus();
  }

  absl::Status Range(RangeRequest& req) {
    if (absl::Status s = server::CheckRangeRequest(req); !s.ok()) return s;
    RangeResponse resp;
    if (absl::Status s = store_.Range(req, &resp); !s.ok()) return s;
    const int64_t current = store_.revision();
    const int64_t rev = req.revision() > 0 ? req.revision() : current;
    Require(resp.header().revision() == current, "range: header revision != store revision");
    CheckOrder(req, resp);

    // A walk over the store: which keys of the range exist at `rev`.
    std::vector<std::pair<std::string, const mvcc::KeyVersion*>> walk;
    store_.ForEachKey([&](std::string_view key, const mvcc::KeyEntry& entry) {
      const mvcc::KeyVersion* v = entry.At(rev);
      if (v != nullptr && InRange(key, req.key(), req.range_end())) walk.emplace_back(key, v);
    });
    Require(resp.count() == static_cast<int64_t>(walk.size()),
            absl::StrCat("range: count ", resp.count(), ", walk ", walk.size()));
    const bool filtered = req.min_mod_revision() != 0 || req.max_mod_revision() != 0 ||
                          req.min_create_revision() != 0 || req.max_create_revision() != 0;
    const bool limited = req.limit() > 0 && resp.count() > req.limit();
    if (req.count_only()) {
      Require(resp.kvs_size() == 0 && !resp.more(), "count-only range returned kvs");
    } else if (!filtered) {
      Require(resp.kvs_size() == (limited ? req.limit() : resp.count()) && resp.more() == limited,
              "range: kvs or more do not match count and limit");
    }
    for (const mvccpb::KeyValue& kv : resp.kvs()) {
      Require(InRange(kv.key(), req.key(), req.range_end()), "range: a key outside the range");
      Require(kv.mod_revision() <= rev && kv.create_revision() <= kv.mod_revision(),
              "range: a version from after the read revision");
      Require(!req.keys_only() || kv.value().empty(), "keys-only range returned a value");
    }
    if (!filtered && !limited && !req.count_only() && req.sort_order() == RangeRequest::NONE &&
        req.sort_target() == RangeRequest::KEY) {
      for (int i = 0; i < resp.kvs_size(); ++i) {
        const mvccpb::KeyValue& kv = resp.kvs(i);
        const mvcc::KeyVersion& v = *walk[i].second;
        Require(kv.key() == walk[i].first && kv.mod_revision() == v.mod_revision &&
                    kv.create_revision() == v.create_revision && kv.version() == v.version &&
                    kv.lease() == v.lease && (req.keys_only() || kv.value() == v.value.view()),
                "range: a kv differs from the walk");
      }
    }

    // The same read named by revision 0 and by the current revision.
    if (req.revision() <= 0 || req.revision() == current) {
      RangeRequest twin = req;
      twin.set_revision(req.revision() <= 0 ? current : 0);
      RangeResponse twin_resp;
      Require(store_.Range(twin, &twin_resp).ok(), "range at the current revision failed");
      Require(twin_resp.SerializeAsString() == resp.SerializeAsString(),
              "a range at revision 0 and at the current revision differ");
    }
    // Its count-only twin counts the same.
    RangeRequest count_twin = req;
    count_twin.set_count_only(!req.count_only());
    RangeResponse count_resp;
    Require(store_.Range(count_twin, &count_resp).ok() && count_resp.count() == resp.count(),
            "a range and its count-only twin count differently");
    return absl::OkStatus();
  }

  absl::Status Put(etcdserverpb::PutRequest& req) {
    if (absl::Status s = server::CheckPutRequest(req); !s.ok()) return s;
    if (absl::Status s = CheckSize(req); !s.ok()) return s;
    // What the key must hold afterwards.
    etcdserverpb::RangeRequest get;
    get.set_key(req.key());
    etcdserverpb::RangeResponse old;
    Require(store_.Range(get, &old).ok(), "range of one key failed");
    const std::string value =
        req.ignore_value() && old.kvs_size() == 1 ? old.kvs(0).value() : req.value();
    const int64_t lease =
        req.ignore_lease() && old.kvs_size() == 1 ? old.kvs(0).lease() : req.lease();
    const int64_t before = store_.revision();
    etcdserverpb::PutResponse resp;
    if (absl::Status s = store_.Put(req, &resp); !s.ok()) return s;
    Require(store_.revision() == before + 1, "a put did not make one revision");
    Require(resp.header().revision() == store_.revision(), "put: header revision");
    Require(!req.prev_kv() || resp.prev_kv().SerializeAsString() ==
                                  (old.kvs_size() == 1 ? old.kvs(0).SerializeAsString() : ""),
            "put: prev_kv is not what the key held");
    etcdserverpb::RangeResponse now;
    Require(store_.Range(get, &now).ok() && now.kvs_size() == 1, "a put key does not read back");
    const mvccpb::KeyValue& kv = now.kvs(0);
    Require(kv.value() == value && kv.lease() == lease && kv.mod_revision() == store_.revision() &&
                kv.version() == (old.kvs_size() == 1 ? old.kvs(0).version() + 1 : 1),
            "a put key reads back with other fields");
    return absl::OkStatus();
  }

  absl::Status DeleteRange(etcdserverpb::DeleteRangeRequest& req) {
    if (absl::Status s = server::CheckDeleteRequest(req); !s.ok()) return s;
    if (absl::Status s = CheckSize(req); !s.ok()) return s;
    RangeRequest count;
    count.set_key(req.key());
    count.set_range_end(req.range_end());
    count.set_count_only(true);
    RangeResponse existing;
    Require(store_.Range(count, &existing).ok(), "count before a delete failed");
    const int64_t before = store_.revision();
    etcdserverpb::DeleteRangeResponse resp;
    if (absl::Status s = store_.DeleteRange(req, &resp); !s.ok()) return s;
    Require(resp.deleted() == existing.count(), "delete: deleted != keys counted before");
    Require(store_.revision() == before + (resp.deleted() > 0 ? 1 : 0),
            "a delete made a revision without deleting, or none when it did");
    Require(resp.header().revision() == store_.revision(), "delete: header revision");
    Require(!req.prev_kv() || resp.prev_kvs_size() == resp.deleted(), "delete: prev_kvs");
    RangeResponse left;
    Require(store_.Range(count, &left).ok() && left.count() == 0, "a deleted range is not empty");
    return absl::OkStatus();
  }

  absl::Status Txn(etcdserverpb::TxnRequest& req) {
    if (absl::Status s = server::CheckTxnRequest(req, config_.max_txn_ops); !s.ok()) return s;
    const bool writes = server::IsWriteTxn(req);
    if (writes) {
      if (absl::Status s = CheckSize(req); !s.ok()) return s;
    }
    const int success_ops = req.success_size(), failure_ops = req.failure_size();
    const int64_t before = store_.revision();
    etcdserverpb::TxnResponse resp;
    if (absl::Status s = store_.Txn(req, &resp); !s.ok()) return s;
    Require(store_.revision() == before || (writes && store_.revision() == before + 1),
            "a txn made more than one revision, or a read-only txn made one");
    Require(resp.header().revision() == store_.revision(), "txn: header revision");
    Require(resp.responses_size() == (resp.succeeded() ? success_ops : failure_ops),
            "txn: responses do not match the chosen branch");
    return absl::OkStatus();
  }

  absl::Status Compaction(etcdserverpb::CompactionRequest& req) {
    if (absl::Status s = CheckSize(req); !s.ok()) return s;
    if (absl::Status s = store_.Compact(req.revision()); !s.ok()) return s;
    Require(store_.compacted_revision() == req.revision(), "compaction: compacted revision");
    if (req.revision() > 1) {
      RangeResponse resp;
      const absl::Status below = store_.Range(AllKeysRequest(req.revision() - 1), &resp);
      Require(below.code() == absl::StatusCode::kOutOfRange, "a read below the compaction", below);
    }
    return absl::OkStatus();
  }

  absl::Status LeaseGrant(etcdserverpb::LeaseGrantRequest& req) {
    absl::StatusOr<lease::Lessor::Granted> granted = lessor_.Grant(req.id(), req.ttl(), now_);
    if (!granted.ok()) return granted.status();
    Require(store_.LeaseExists(granted->id) && (req.id() == 0 || granted->id == req.id()) &&
                granted->ttl >= req.ttl() && granted->ttl >= 1,
            "lease grant: the lease is not there as granted");
    return absl::OkStatus();
  }

  absl::Status LeaseRevoke(etcdserverpb::LeaseRevokeRequest& req) {
    const bool had_keys = !store_.LeaseKeys(req.id()).empty();
    const int64_t before = store_.revision();
    if (absl::Status s = lessor_.Revoke(req.id()); !s.ok()) return s;
    Require(!store_.LeaseExists(req.id()), "a revoked lease still exists");
    Require(store_.revision() == before + (had_keys ? 1 : 0),
            "a revoke makes one revision exactly when the lease had keys");
    return absl::OkStatus();
  }

  absl::Status LeaseKeepAlive(etcdserverpb::LeaseKeepAliveRequest& req) {
    const int64_t ttl = lessor_.KeepAlive(req.id(), now_);
    const lease::Lessor::TimeToLive left = lessor_.Remaining(req.id(), now_);
    Require((ttl > 0) == store_.LeaseExists(req.id()), "keepalive: TTL 0 iff the lease is unknown");
    Require(ttl == 0 ? left.remaining == -1 : (left.remaining == ttl && left.granted == ttl),
            "keepalive: the lease's remaining time is not its full TTL");
    return absl::OkStatus();
  }

  // Time passes; then the apply loop's expiry step: one lease per revision, up to its batch.
  void Tick(std::string_view bytes) {
    InputReader in(bytes);
    now_ += absl::Seconds(in.U16());
    for (size_t i = 0; i < kExpireBatch && lessor_.ExpireDue(now_, 1) == 1; ++i) RecordListing();
    Require(lessor_.NextExpiry() > now_, "a due lease was left after expiry");
  }

  // Between batches: one bounded step of an unfinished compaction, which releases memory only.
  void Housekeeping() {
    if (!store_.compaction_pending()) return;
    const int64_t probe = store_.compacted_revision() + 1;
    const uint32_t head = store_.HashAt(0).value();
    const absl::StatusOr<uint32_t> at_probe = store_.HashAt(probe);
    store_.CompactSome(config_.compaction_step_keys);
    Require(store_.HashAt(0).value() == head, "a compaction step changed HashAt(0)");
    const absl::StatusOr<uint32_t> again = store_.HashAt(probe);
    Require(at_probe.ok() == again.ok() && (!again.ok() || *again == *at_probe),
            "a compaction step changed HashAt(compacted + 1)");
  }

  void RecordListing() {
    const int64_t rev = store_.revision();
    if (!listings_.empty() && listings_.rbegin()->first == rev) return;
    Require(listings_.empty() || listings_.rbegin()->first == rev - 1,
            "a revision was skipped without being recorded");
    absl::StatusOr<std::string> listing = ListAll(store_, 0);
    Require(listing.ok(), "range over all keys failed", listing.status());
    listings_.emplace(rev, *std::move(listing));
  }

  const Config config_;
  mvcc::Store store_;
  lease::Lessor lessor_;
  absl::Time now_ = absl::UnixEpoch() + absl::Hours(24);
  std::map<int64_t, std::string> listings_;  // revision -> ListAll when it was current
};

}  // namespace
}  // namespace rametcd::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  rametcd::fuzz::InputReader in(std::string_view(reinterpret_cast<const char*>(data), size));
  rametcd::fuzz::Harness harness(rametcd::fuzz::DecodeConfig(in.U8()));
  harness.Run(in);
  return 0;
}
