#include "server/kv_service.h"

#include <utility>

#include "base/etcd_errors.h"
#include "server/grpc_status.h"
#include "server/request_checks.h"

namespace rametcd::server {

KvService::KvService(const MemberIdentity& identity, const Limits& limits, ApplyLoop* loop)
    : identity_(identity), limits_(limits), loop_(loop) {}

template <typename Response, typename Apply>
grpc::ServerUnaryReactor* KvService::Submit(grpc::CallbackServerContext* ctx,
                                            const absl::Status& check, Response* resp,
                                            Apply apply) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  if (!check.ok()) {
    reactor->Finish(ToGrpcStatus(check));
    return reactor;
  }
  bool queued = loop_->Submit([this, reactor, resp, apply = std::move(apply)](
                                  mvcc::Store& store, watch::WatchHub&) mutable {
    absl::Status status = apply(store, resp);
    if (status.ok()) identity_.Fill(resp->mutable_header());
    reactor->Finish(ToGrpcStatus(status));
  });
  if (!queued) reactor->Finish(ToGrpcStatus(etcd_errors::TooManyRequests()));
  return reactor;
}

absl::Status KvService::CheckProposalSize(const google::protobuf::Message& req) const {
  if (ProposalSize(static_cast<int64_t>(req.ByteSizeLong())) > limits_.max_request_bytes) {
    return etcd_errors::RequestTooLarge();
  }
  return absl::OkStatus();
}

grpc::ServerUnaryReactor* KvService::Range(grpc::CallbackServerContext* ctx,
                                           const etcdserverpb::RangeRequest* req,
                                           etcdserverpb::RangeResponse* resp) {
  return Submit(ctx, CheckRangeRequest(*req), resp,
                [req](mvcc::Store& store, etcdserverpb::RangeResponse* out) {
                  return store.Range(*req, out);
                });
}

// The apply tasks of Put and Txn move values out of the request instead of copying them: gRPC
// owns the request until Finish() and nothing else reads it after validation.
grpc::ServerUnaryReactor* KvService::Put(grpc::CallbackServerContext* ctx,
                                         const etcdserverpb::PutRequest* req,
                                         etcdserverpb::PutResponse* resp) {
  absl::Status check = CheckPutRequest(*req);
  if (check.ok()) check = CheckProposalSize(*req);
  auto* owned = const_cast<etcdserverpb::PutRequest*>(req);
  return Submit(ctx, check, resp, [owned](mvcc::Store& store, etcdserverpb::PutResponse* out) {
    return store.Put(owned, out);
  });
}

grpc::ServerUnaryReactor* KvService::DeleteRange(grpc::CallbackServerContext* ctx,
                                                 const etcdserverpb::DeleteRangeRequest* req,
                                                 etcdserverpb::DeleteRangeResponse* resp) {
  absl::Status check = CheckDeleteRequest(*req);
  if (check.ok()) check = CheckProposalSize(*req);
  return Submit(ctx, check, resp,
                [req](mvcc::Store& store, etcdserverpb::DeleteRangeResponse* out) {
                  return store.DeleteRange(*req, out);
                });
}

grpc::ServerUnaryReactor* KvService::Txn(grpc::CallbackServerContext* ctx,
                                         const etcdserverpb::TxnRequest* req,
                                         etcdserverpb::TxnResponse* resp) {
  absl::Status check = CheckTxnRequest(*req, limits_.max_txn_ops);
  // Read-only txns are served without a raft proposal in etcd, so only writes are size-checked.
  if (check.ok() && IsWriteTxn(*req)) check = CheckProposalSize(*req);
  auto* owned = const_cast<etcdserverpb::TxnRequest*>(req);
  return Submit(ctx, check, resp, [owned](mvcc::Store& store, etcdserverpb::TxnResponse* out) {
    return store.Txn(owned, out);
  });
}

grpc::ServerUnaryReactor* KvService::Compact(grpc::CallbackServerContext* ctx,
                                             const etcdserverpb::CompactionRequest* req,
                                             etcdserverpb::CompactionResponse* resp) {
  return Submit(ctx, CheckProposalSize(*req), resp,
                [req](mvcc::Store& store, etcdserverpb::CompactionResponse* out) {
                  absl::Status status = store.Compact(req->revision());
                  out->mutable_header()->set_revision(store.revision());
                  return status;
                });
}

}  // namespace rametcd::server
