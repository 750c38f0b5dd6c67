#include "server/request_checks.h"

#include <algorithm>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "base/etcd_errors.h"
#include "base/status_macros.h"

namespace rametcd::server {
namespace {

using etcdserverpb::RequestOp;
using Ops = google::protobuf::RepeatedPtrField<RequestOp>;

absl::Status CheckRequestOp(const RequestOp& op, int64_t max_txn_ops) {
  switch (op.request_case()) {
    case RequestOp::kRequestRange:
      return CheckRangeRequest(op.request_range());
    case RequestOp::kRequestPut:
      return CheckPutRequest(op.request_put());
    case RequestOp::kRequestDeleteRange:
      return CheckDeleteRequest(op.request_delete_range());
    case RequestOp::kRequestTxn:
      return CheckTxnRequest(op.request_txn(), max_txn_ops);
    case RequestOp::REQUEST_NOT_SET:
      break;
  }
  return etcd_errors::KeyNotFound();  // etcd's answer to an empty op
}

// A deleted key interval as etcd's checkIntervals sees it: [begin, end), where a single key is
// [key, key + "\0"). An interval whose end is not above its begin (e.g. range_end "\0") holds
// nothing, exactly as in etcd's interval tree.
struct DeletedInterval {
  std::string_view begin;
  std::string_view end;
  bool single;

  bool Contains(std::string_view key) const {
    return single ? key == begin : (begin <= key && key < end);
  }
};

struct Writes {
  absl::flat_hash_set<std::string_view> puts;
  std::vector<DeletedInterval> deletes;

  bool Deleted(std::string_view key) const {
    return std::any_of(deletes.begin(), deletes.end(),
                       [key](const DeletedInterval& d) { return d.Contains(key); });
  }
};

// etcd's checkIntervals: within one branch, a key may be put once and not both put and deleted,
// counting nested txns (whose then/else branches may put the same key).
absl::Status CheckIntervals(const Ops& ops, Writes* out) {
  for (const RequestOp& op : ops) {
    if (!op.has_request_delete_range()) continue;
    const auto& del = op.request_delete_range();
    out->deletes.push_back({del.key(), del.range_end(), del.range_end().empty()});
  }
  for (const RequestOp& op : ops) {
    if (!op.has_request_txn()) continue;
    Writes then_writes, else_writes;
    RETURN_IF_ERROR(CheckIntervals(op.request_txn().success(), &then_writes));
    RETURN_IF_ERROR(CheckIntervals(op.request_txn().failure(), &else_writes));
    for (std::string_view key : then_writes.puts) {
      if (out->puts.contains(key) || out->Deleted(key)) return etcd_errors::DuplicateKey();
      out->puts.insert(key);
    }
    for (std::string_view key : else_writes.puts) {
      if (out->puts.contains(key) && !then_writes.puts.contains(key)) {
        return etcd_errors::DuplicateKey();
      }
      if (out->Deleted(key)) return etcd_errors::DuplicateKey();
      out->puts.insert(key);
    }
    for (Writes* child : {&then_writes, &else_writes}) {
      out->deletes.insert(out->deletes.end(), child->deletes.begin(), child->deletes.end());
    }
  }
  for (const RequestOp& op : ops) {
    if (!op.has_request_put()) continue;
    std::string_view key = op.request_put().key();
    if (out->puts.contains(key) || out->Deleted(key)) return etcd_errors::DuplicateKey();
    out->puts.insert(key);
  }
  return absl::OkStatus();
}

absl::Status CheckTxnShape(const etcdserverpb::TxnRequest& req, int64_t max_txn_ops) {
  const int64_t ops = std::max({req.compare_size(), req.success_size(), req.failure_size()});
  if (ops > max_txn_ops) return etcd_errors::TooManyOps();
  for (const auto& cmp : req.compare()) {
    if (cmp.key().empty()) return etcd_errors::EmptyKey();
  }
  for (const Ops* branch : {&req.success(), &req.failure()}) {
    for (const RequestOp& op : *branch) RETURN_IF_ERROR(CheckRequestOp(op, max_txn_ops - ops));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckRangeRequest(const etcdserverpb::RangeRequest& req) {
  if (req.key().empty()) return etcd_errors::EmptyKey();
  // An unknown sort order means no sorting (etcd 3.4 and 3.5 agree). An unknown sort target
  // crashes etcd 3.4; 3.5 refuses it, and so do we.
  if (!etcdserverpb::RangeRequest::SortTarget_IsValid(req.sort_target())) {
    return etcd_errors::InvalidSortOption();
  }
  return absl::OkStatus();
}

absl::Status CheckPutRequest(const etcdserverpb::PutRequest& req) {
  if (req.key().empty()) return etcd_errors::EmptyKey();
  if (req.ignore_value() && !req.value().empty()) return etcd_errors::ValueProvided();
  if (req.ignore_lease() && req.lease() != 0) return etcd_errors::LeaseProvided();
  return absl::OkStatus();
}

absl::Status CheckDeleteRequest(const etcdserverpb::DeleteRangeRequest& req) {
  if (req.key().empty()) return etcd_errors::EmptyKey();
  return absl::OkStatus();
}

absl::Status CheckTxnRequest(const etcdserverpb::TxnRequest& req, int64_t max_txn_ops) {
  RETURN_IF_ERROR(CheckTxnShape(req, max_txn_ops));
  Writes then_writes, else_writes;
  RETURN_IF_ERROR(CheckIntervals(req.success(), &then_writes));
  return CheckIntervals(req.failure(), &else_writes);
}

bool IsWriteTxn(const etcdserverpb::TxnRequest& req) {
  for (const Ops* branch : {&req.success(), &req.failure()}) {
    for (const RequestOp& op : *branch) {
      if (op.has_request_put() || op.has_request_delete_range()) return true;
      if (op.has_request_txn() && IsWriteTxn(op.request_txn())) return true;
    }
  }
  return false;
}

bool IsPointTxn(const etcdserverpb::TxnRequest& req) {
  for (const Ops* branch : {&req.success(), &req.failure()}) {
    for (const RequestOp& op : *branch) {
      if (op.has_request_put()) continue;
      if (op.has_request_range() && op.request_range().range_end().empty()) continue;
      if (op.has_request_delete_range() && op.request_delete_range().range_end().empty()) continue;
      return false;
    }
  }
  return true;
}

int64_t ProposalSize(int64_t request_bytes) {
  // Field tag + length varint around the request, plus the proposal header: a 2-byte tag, a
  // length byte and a 64-bit request ID (tag + up to 10 varint bytes).
  int64_t length_bytes = 1;
  for (int64_t n = request_bytes; n >= 0x80; n >>= 7) ++length_bytes;
  constexpr int64_t kHeaderBytes = 2 + 1 + 1 + 10;
  return kHeaderBytes + 1 + length_bytes + request_bytes;
}

}  // namespace rametcd::server
