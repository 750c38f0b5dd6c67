#include "server/cluster_service.h"

#include "base/etcd_errors.h"
#include "server/unary_call.h"

namespace rametcd::server {
namespace {

absl::Status SingleMember() {
  return absl::FailedPreconditionError(
      "rametcd: a single-member server: membership cannot be changed");
}

// Finishes at once with `status`, which is never OK here.
grpc::ServerUnaryReactor* Refuse(grpc::CallbackServerContext* ctx, const absl::Status& status) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

}  // namespace

absl::Status ClusterService::ForMember(uint64_t id, absl::Status own) const {
  return id == identity_.member_id ? own : etcd_errors::MemberNotFound();
}

grpc::ServerUnaryReactor* ClusterService::MemberList(grpc::CallbackServerContext* ctx,
                                                     const etcdserverpb::MemberListRequest* req,
                                                     etcdserverpb::MemberListResponse* resp) {
  identity_.FillMember(resp->add_members());
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  identity_.Fill(resp->mutable_header());
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* ClusterService::MemberAdd(grpc::CallbackServerContext* ctx,
                                                    const etcdserverpb::MemberAddRequest* req,
                                                    etcdserverpb::MemberAddResponse* resp) {
  return Refuse(ctx, SingleMember());
}

grpc::ServerUnaryReactor* ClusterService::MemberRemove(grpc::CallbackServerContext* ctx,
                                                       const etcdserverpb::MemberRemoveRequest* req,
                                                       etcdserverpb::MemberRemoveResponse* resp) {
  return Refuse(ctx, ForMember(req->id(), SingleMember()));
}

grpc::ServerUnaryReactor* ClusterService::MemberUpdate(grpc::CallbackServerContext* ctx,
                                                       const etcdserverpb::MemberUpdateRequest* req,
                                                       etcdserverpb::MemberUpdateResponse* resp) {
  return Refuse(ctx, ForMember(req->id(), SingleMember()));
}

grpc::ServerUnaryReactor* ClusterService::MemberPromote(
    grpc::CallbackServerContext* ctx, const etcdserverpb::MemberPromoteRequest* req,
    etcdserverpb::MemberPromoteResponse* resp) {
  return Refuse(ctx, ForMember(req->id(), etcd_errors::MemberNotLearner()));
}

}  // namespace rametcd::server
