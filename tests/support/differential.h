// Differential testing: sends each KV request to a real etcd 3.4 and to rametcd, and compares the
// gRPC status (code and message) and the response field by field. Only the top-level header's
// cluster_id, member_id and raft_term are ignored: they legitimately differ between servers.
//
// Both servers start empty and receive the same requests in the same order, so their revisions
// stay in lockstep for the life of the harness.
#ifndef RAMETCD_TESTS_SUPPORT_DIFFERENTIAL_H_
#define RAMETCD_TESTS_SUPPORT_DIFFERENTIAL_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <type_traits>

#include "absl/status/statusor.h"
#include "etcd/api/etcdserverpb/rpc.grpc.pb.h"
#include "support/server_process.h"

namespace rametcd::testing {

class Differential {
 public:
  static absl::StatusOr<std::unique_ptr<Differential>> Start();

  // Each returns "" when both servers answered alike, else a report of both answers.
  std::string Range(const etcdserverpb::RangeRequest& req);
  std::string Put(const etcdserverpb::PutRequest& req);
  std::string DeleteRange(const etcdserverpb::DeleteRangeRequest& req);
  std::string Txn(const etcdserverpb::TxnRequest& req);
  std::string Compact(const etcdserverpb::CompactionRequest& req);
  std::string LeaseGrant(const etcdserverpb::LeaseGrantRequest& req);
  std::string LeaseRevoke(const etcdserverpb::LeaseRevokeRequest& req);

  // The revision of the last successful answer (etcd's), and how many requests were compared.
  int64_t revision() const { return revision_; }
  int64_t compared() const { return compared_; }

  const ServerProcess& etcd() const { return *etcd_; }
  const ServerProcess& rametcd() const { return *rametcd_; }

  // Any unary RPC of `Service` (Maintenance, Cluster, Auth, ...). `normalize` runs on both
  // responses before they are compared, to clear fields that legitimately differ (versions,
  // sizes, hashes); the header IDs are always cleared.
  template <typename Stub, typename Req, typename Resp>
  std::string Unary(grpc::Status (Stub::*method)(grpc::ClientContext*, const Req&, Resp*),
                    const Req& req,
                    const std::type_identity_t<std::function<void(Resp*)>>& normalize = nullptr) {
    Stub etcd(etcd_->channel());
    Stub rametcd(rametcd_->channel());
    return Call(method, &etcd, &rametcd, req, normalize);
  }

 private:
  template <typename Stub, typename Req, typename Resp>
  std::string Call(grpc::Status (Stub::*method)(grpc::ClientContext*, const Req&, Resp*),
                   Stub* etcd, Stub* rametcd, const Req& req,
                   const std::type_identity_t<std::function<void(Resp*)>>& normalize = nullptr) {
    ++compared_;
    Trace(req);
    Resp etcd_resp, rametcd_resp;
    grpc::ClientContext etcd_ctx, rametcd_ctx;
    etcd_ctx.set_deadline(Deadline());
    rametcd_ctx.set_deadline(Deadline());
    grpc::Status etcd_status = (etcd->*method)(&etcd_ctx, req, &etcd_resp);
    grpc::Status rametcd_status = (rametcd->*method)(&rametcd_ctx, req, &rametcd_resp);
    if (etcd_status.ok()) revision_ = etcd_resp.header().revision();
    for (Resp* r : {&etcd_resp, &rametcd_resp}) {
      if (normalize) normalize(r);
      if (!r->has_header()) continue;
      r->mutable_header()->clear_cluster_id();
      r->mutable_header()->clear_member_id();
      r->mutable_header()->clear_raft_term();
    }
    return Verdict(req, etcd_status, etcd_resp, rametcd_status, rametcd_resp);
  }
  // RAMETCD_DIFF_TRACE=1 prints every request before it is sent, to replay a failing seed.
  void Trace(const google::protobuf::Message& req) const;
  static std::chrono::system_clock::time_point Deadline();
  // "" when both answers are alike, else a report of both.
  static std::string Verdict(const google::protobuf::Message& req, const grpc::Status& etcd_status,
                             const google::protobuf::Message& etcd_resp,
                             const grpc::Status& rametcd_status,
                             const google::protobuf::Message& rametcd_resp);

  std::unique_ptr<ServerProcess> etcd_;
  std::unique_ptr<ServerProcess> rametcd_;
  std::unique_ptr<etcdserverpb::KV::Stub> etcd_kv_;
  std::unique_ptr<etcdserverpb::KV::Stub> rametcd_kv_;
  std::unique_ptr<etcdserverpb::Lease::Stub> etcd_lease_;
  std::unique_ptr<etcdserverpb::Lease::Stub> rametcd_lease_;
  int64_t revision_ = 1;
  int64_t compared_ = 0;
};

// Request builders for readable tests.
etcdserverpb::RangeRequest Get(const std::string& key, const std::string& range_end = "");
etcdserverpb::PutRequest Put(const std::string& key, const std::string& value, int64_t lease = 0);
etcdserverpb::DeleteRangeRequest Delete(const std::string& key, const std::string& range_end = "");
etcdserverpb::Compare Cmp(const std::string& key, etcdserverpb::Compare::CompareTarget target,
                          etcdserverpb::Compare::CompareResult result, int64_t operand);
etcdserverpb::Compare CmpValue(const std::string& key, etcdserverpb::Compare::CompareResult result,
                               const std::string& value);
etcdserverpb::RequestOp Op(const etcdserverpb::RangeRequest& r);
etcdserverpb::RequestOp Op(const etcdserverpb::PutRequest& r);
etcdserverpb::RequestOp Op(const etcdserverpb::DeleteRangeRequest& r);
etcdserverpb::RequestOp Op(const etcdserverpb::TxnRequest& r);
etcdserverpb::CompactionRequest CompactTo(int64_t revision);

}  // namespace rametcd::testing

#endif  // RAMETCD_TESTS_SUPPORT_DIFFERENTIAL_H_
