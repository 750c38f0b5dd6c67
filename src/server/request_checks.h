// Stateless validation of KV requests, done in the gRPC reactor before a request is queued for
// the store. Mirrors etcd's API-layer checks (v3rpc key.go) in the same order, so the first error
// a client sees is the one etcd would return.
//
// Thread safety: pure functions.
#ifndef RAMETCD_SERVER_REQUEST_CHECKS_H_
#define RAMETCD_SERVER_REQUEST_CHECKS_H_

#include <cstdint>

#include "absl/status/status.h"
#include "etcd/api/etcdserverpb/rpc.pb.h"

namespace rametcd::server {

absl::Status CheckRangeRequest(const etcdserverpb::RangeRequest& req);
absl::Status CheckPutRequest(const etcdserverpb::PutRequest& req);
absl::Status CheckDeleteRequest(const etcdserverpb::DeleteRangeRequest& req);
// Op counts (each of compare/success/failure at most `max_txn_ops`; a nested txn gets what its
// parent leaves), empty keys, empty ops, then duplicate keys within each branch.
absl::Status CheckTxnRequest(const etcdserverpb::TxnRequest& req, int64_t max_txn_ops);

// True when any branch of the txn, at any depth, holds a Put or DeleteRange.
bool IsWriteTxn(const etcdserverpb::TxnRequest& req);
// Whether every op of the txn (both branches, no nested txns) names a single key: its cost is
// bounded by its op count, whatever the store holds.
bool IsPointTxn(const etcdserverpb::TxnRequest& req);

// The size etcd compares with --max-request-bytes for a write: the request wrapped in a raft
// proposal (etcd's InternalRaftRequest) with its header.
int64_t ProposalSize(int64_t request_bytes);

}  // namespace rametcd::server

#endif  // RAMETCD_SERVER_REQUEST_CHECKS_H_
