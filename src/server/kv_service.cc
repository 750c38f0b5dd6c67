#include "server/kv_service.h"

#include <utility>

#include "base/etcd_errors.h"
#include "base/status_macros.h"
#include "server/grpc_status.h"
#include "server/request_checks.h"
#include "server/unary_call.h"

namespace rametcd::server {

KvService::KvService(const MemberIdentity& identity, const Limits& limits, ApplyLoop* loop)
    : identity_(identity), limits_(limits), loop_(loop) {}

absl::Status KvService::CheckProposalSize(const google::protobuf::Message& req) const {
  if (ProposalSize(static_cast<int64_t>(req.ByteSizeLong())) > limits_.max_request_bytes) {
    return etcd_errors::RequestTooLarge();
  }
  return absl::OkStatus();
}

grpc::ServerUnaryReactor* KvService::Range(grpc::CallbackServerContext* ctx,
                                           const etcdserverpb::RangeRequest* req,
                                           etcdserverpb::RangeResponse* resp) {
  return RunUnary(
      ctx, loop_, identity_, CheckRangeRequest(*req), resp,
      [req](ApplyLoop::Engine& engine, etcdserverpb::RangeResponse* out) {
        ++engine.counters.ranges;
        return engine.store.Range(*req, out);
      },
      req->range_end().empty() ? Cost::kPoint : Cost::kUnbounded);
}

grpc::ServerUnaryReactor* KvService::Put(grpc::CallbackServerContext* ctx,
                                         const etcdserverpb::PutRequest* req,
                                         etcdserverpb::PutResponse* resp) {
  absl::Status check = CheckPutRequest(*req);
  if (check.ok()) check = CheckProposalSize(*req);
  return RunUnary(
      ctx, loop_, identity_, check, resp,
      [req](ApplyLoop::Engine& engine, etcdserverpb::PutResponse* out) {
        ++engine.counters.puts;
        RETURN_IF_ERROR(
            engine.AdmitWrite(static_cast<int64_t>(req->key().size() + req->value().size()) + 1));
        return engine.store.Put(*req, out);
      },
      Cost::kPoint);
}

grpc::ServerUnaryReactor* KvService::DeleteRange(grpc::CallbackServerContext* ctx,
                                                 const etcdserverpb::DeleteRangeRequest* req,
                                                 etcdserverpb::DeleteRangeResponse* resp) {
  absl::Status check = CheckDeleteRequest(*req);
  if (check.ok()) check = CheckProposalSize(*req);
  return RunUnary(
      ctx, loop_, identity_, check, resp,
      [req](ApplyLoop::Engine& engine, etcdserverpb::DeleteRangeResponse* out) {
        ++engine.counters.deletes;
        RETURN_IF_ERROR(engine.AdmitWrite(0));
        return engine.store.DeleteRange(*req, out);
      },
      req->range_end().empty() ? Cost::kPoint : Cost::kUnbounded);
}

grpc::ServerUnaryReactor* KvService::Txn(grpc::CallbackServerContext* ctx,
                                         const etcdserverpb::TxnRequest* req,
                                         etcdserverpb::TxnResponse* resp) {
  absl::Status check = CheckTxnRequest(*req, limits_.max_txn_ops);
  // Read-only txns are served without a raft proposal in etcd, so only writes are size-checked.
  if (check.ok() && IsWriteTxn(*req)) check = CheckProposalSize(*req);
  const bool writes = IsWriteTxn(*req);
  return RunUnary(
      ctx, loop_, identity_, check, resp,
      [req, writes](ApplyLoop::Engine& engine, etcdserverpb::TxnResponse* out) {
        ++engine.counters.txns;
        if (writes) {
          RETURN_IF_ERROR(engine.AdmitWrite(static_cast<int64_t>(req->ByteSizeLong()) + 1));
        }
        return engine.store.Txn(*req, out);
      },
      IsPointTxn(*req) ? Cost::kPoint : Cost::kUnbounded);
}

grpc::ServerUnaryReactor* KvService::Compact(grpc::CallbackServerContext* ctx,
                                             const etcdserverpb::CompactionRequest* req,
                                             etcdserverpb::CompactionResponse* resp) {
  return RunUnary(ctx, loop_, identity_, CheckProposalSize(*req), resp,
                  [req](ApplyLoop::Engine& engine, etcdserverpb::CompactionResponse* out) {
                    RETURN_IF_ERROR(engine.AdmitWrite(0));
                    absl::Status status = engine.store.Compact(req->revision());
                    out->mutable_header()->set_revision(engine.store.revision());
                    return status;
                  });
}

}  // namespace rametcd::server
