// KvService: the etcd v3 KV gRPC service (Range, Put, DeleteRange, Txn, Compact).
//
// Each RPC runs on a gRPC callback reactor: the request is validated there (request_checks.h and
// the --max-request-bytes limit), then handed to the ApplyLoop, which applies it to the store,
// fills the response and finishes the RPC. Reactors never wait for the store.
//
// Ownership: borrows the ApplyLoop, which must outlive the service. Requests and responses are
// owned by gRPC until Finish(); the apply task may move values out of a request (see Put).
//
// Thread safety: all methods may run concurrently on gRPC threads.
#ifndef RAMETCD_SERVER_KV_SERVICE_H_
#define RAMETCD_SERVER_KV_SERVICE_H_

#include <cstdint>

#include "etcd/api/etcdserverpb/rpc.grpc.pb.h"
#include "server/apply_loop.h"
#include "server/member_identity.h"

namespace rametcd::server {

class KvService final : public etcdserverpb::KV::CallbackService {
 public:
  struct Limits {
    int64_t max_request_bytes = 1536 * 1024;
    int64_t max_txn_ops = 128;
  };

  KvService(const MemberIdentity& identity, const Limits& limits, ApplyLoop* loop);

  grpc::ServerUnaryReactor* Range(grpc::CallbackServerContext* ctx,
                                  const etcdserverpb::RangeRequest* req,
                                  etcdserverpb::RangeResponse* resp) override;
  grpc::ServerUnaryReactor* Put(grpc::CallbackServerContext* ctx,
                                const etcdserverpb::PutRequest* req,
                                etcdserverpb::PutResponse* resp) override;
  grpc::ServerUnaryReactor* DeleteRange(grpc::CallbackServerContext* ctx,
                                        const etcdserverpb::DeleteRangeRequest* req,
                                        etcdserverpb::DeleteRangeResponse* resp) override;
  grpc::ServerUnaryReactor* Txn(grpc::CallbackServerContext* ctx,
                                const etcdserverpb::TxnRequest* req,
                                etcdserverpb::TxnResponse* resp) override;
  grpc::ServerUnaryReactor* Compact(grpc::CallbackServerContext* ctx,
                                    const etcdserverpb::CompactionRequest* req,
                                    etcdserverpb::CompactionResponse* resp) override;

 private:
  // etcd's --max-request-bytes check for requests that are proposed through raft (writes).
  absl::Status CheckProposalSize(const google::protobuf::Message& req) const;

  const MemberIdentity identity_;
  const Limits limits_;
  ApplyLoop* const loop_;
};

}  // namespace rametcd::server

#endif  // RAMETCD_SERVER_KV_SERVICE_H_
