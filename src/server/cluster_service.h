// ClusterService: the etcd v3 Cluster gRPC service of a single-member cluster. MemberList shows
// this member (name, peer and client URLs); membership changes are refused: MemberRemove,
// MemberUpdate and MemberPromote answer etcd's own errors (unknown member, promoting a member that
// is not a learner), and anything that would change this member or add one is refused with a
// clear FailedPrecondition, because rametcd has no peers to replicate to.
//
// Thread safety: immutable; answers on the gRPC threads without touching the store (etcd's
// MemberList header carries no revision).
#ifndef RAMETCD_SERVER_CLUSTER_SERVICE_H_
#define RAMETCD_SERVER_CLUSTER_SERVICE_H_

#include "absl/status/status.h"
#include "etcd/api/etcdserverpb/rpc.grpc.pb.h"
#include "server/member_identity.h"

namespace rametcd::server {

class ClusterService final : public etcdserverpb::Cluster::CallbackService {
 public:
  explicit ClusterService(const MemberIdentity& identity) : identity_(identity) {}

  grpc::ServerUnaryReactor* MemberList(grpc::CallbackServerContext* ctx,
                                       const etcdserverpb::MemberListRequest* req,
                                       etcdserverpb::MemberListResponse* resp) override;
  grpc::ServerUnaryReactor* MemberAdd(grpc::CallbackServerContext* ctx,
                                      const etcdserverpb::MemberAddRequest* req,
                                      etcdserverpb::MemberAddResponse* resp) override;
  grpc::ServerUnaryReactor* MemberRemove(grpc::CallbackServerContext* ctx,
                                         const etcdserverpb::MemberRemoveRequest* req,
                                         etcdserverpb::MemberRemoveResponse* resp) override;
  grpc::ServerUnaryReactor* MemberUpdate(grpc::CallbackServerContext* ctx,
                                         const etcdserverpb::MemberUpdateRequest* req,
                                         etcdserverpb::MemberUpdateResponse* resp) override;
  grpc::ServerUnaryReactor* MemberPromote(grpc::CallbackServerContext* ctx,
                                          const etcdserverpb::MemberPromoteRequest* req,
                                          etcdserverpb::MemberPromoteResponse* resp) override;

 private:
  // Unknown IDs get etcd's "member not found"; this member's own ID gets `own`.
  absl::Status ForMember(uint64_t id, absl::Status own) const;

  const MemberIdentity identity_;
};

}  // namespace rametcd::server

#endif  // RAMETCD_SERVER_CLUSTER_SERVICE_H_
