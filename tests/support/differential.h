// Differential testing: sends each KV request to a real etcd 3.4 and to rametcd, and compares the
// gRPC status (code and message) and the response field by field. Only the top-level header's
// cluster_id, member_id and raft_term are ignored: they legitimately differ between servers.
//
// Both servers start empty and receive the same requests in the same order, so their revisions
// stay in lockstep for the life of the harness.
#ifndef RAMETCD_TESTS_SUPPORT_DIFFERENTIAL_H_
#define RAMETCD_TESTS_SUPPORT_DIFFERENTIAL_H_

#include <cstdint>
#include <memory>
#include <string>

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

 private:
  template <typename Stub, typename Req, typename Resp>
  std::string Call(grpc::Status (Stub::*method)(grpc::ClientContext*, const Req&, Resp*),
                   Stub* etcd, Stub* rametcd, const Req& req);

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
etcdserverpb::PutRequest Put(const std::string& key, const std::string& value);
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
