// AuthService: the etcd v3 Auth gRPC service with authentication disabled, answering as an etcd
// with auth disabled and no users or roles: Authenticate fails with "authentication is not
// enabled", AuthEnable with "root user does not exist", lookups of users and roles with "user
// name not found" / "role name not found", lists are empty, AuthStatus says disabled, and
// AuthDisable succeeds.
//
// Creating users and roles (UserAdd, RoleAdd) is refused with a clear FailedPrecondition rather
// than accepted and forgotten: rametcd does not store or enforce them (full auth is later work).
// Empty names get etcd's own InvalidArgument errors there; lookups check no names (as etcd).
//
// Ownership: borrows the ApplyLoop (for header revisions). Thread safety: reactors on gRPC
// threads; the store only on the apply loop.
#ifndef RAMETCD_SERVER_AUTH_SERVICE_H_
#define RAMETCD_SERVER_AUTH_SERVICE_H_

#include "etcd/api/etcdserverpb/rpc.grpc.pb.h"
#include "server/apply_loop.h"
#include "server/member_identity.h"

namespace rametcd::server {

class AuthService final : public etcdserverpb::Auth::CallbackService {
 public:
  AuthService(const MemberIdentity& identity, ApplyLoop* loop) : identity_(identity), loop_(loop) {}

#define RAMETCD_AUTH_RPC(Method, Request, Response)                                                \
  grpc::ServerUnaryReactor* Method(grpc::CallbackServerContext* ctx,                               \
                                   const etcdserverpb::Request* req, etcdserverpb::Response* resp) \
      override;
  RAMETCD_AUTH_RPC(AuthEnable, AuthEnableRequest, AuthEnableResponse)
  RAMETCD_AUTH_RPC(AuthDisable, AuthDisableRequest, AuthDisableResponse)
  RAMETCD_AUTH_RPC(AuthStatus, AuthStatusRequest, AuthStatusResponse)
  RAMETCD_AUTH_RPC(Authenticate, AuthenticateRequest, AuthenticateResponse)
  RAMETCD_AUTH_RPC(UserAdd, AuthUserAddRequest, AuthUserAddResponse)
  RAMETCD_AUTH_RPC(UserGet, AuthUserGetRequest, AuthUserGetResponse)
  RAMETCD_AUTH_RPC(UserList, AuthUserListRequest, AuthUserListResponse)
  RAMETCD_AUTH_RPC(UserDelete, AuthUserDeleteRequest, AuthUserDeleteResponse)
  RAMETCD_AUTH_RPC(UserChangePassword, AuthUserChangePasswordRequest,
                   AuthUserChangePasswordResponse)
  RAMETCD_AUTH_RPC(UserGrantRole, AuthUserGrantRoleRequest, AuthUserGrantRoleResponse)
  RAMETCD_AUTH_RPC(UserRevokeRole, AuthUserRevokeRoleRequest, AuthUserRevokeRoleResponse)
  RAMETCD_AUTH_RPC(RoleAdd, AuthRoleAddRequest, AuthRoleAddResponse)
  RAMETCD_AUTH_RPC(RoleGet, AuthRoleGetRequest, AuthRoleGetResponse)
  RAMETCD_AUTH_RPC(RoleList, AuthRoleListRequest, AuthRoleListResponse)
  RAMETCD_AUTH_RPC(RoleDelete, AuthRoleDeleteRequest, AuthRoleDeleteResponse)
  RAMETCD_AUTH_RPC(RoleGrantPermission, AuthRoleGrantPermissionRequest,
                   AuthRoleGrantPermissionResponse)
  RAMETCD_AUTH_RPC(RoleRevokePermission, AuthRoleRevokePermissionRequest,
                   AuthRoleRevokePermissionResponse)
#undef RAMETCD_AUTH_RPC

 private:
  // Finishes with `status` if it is an error, else with a header at the current revision.
  template <typename Response>
  grpc::ServerUnaryReactor* Answer(grpc::CallbackServerContext* ctx, absl::Status status,
                                   Response* resp);

  const MemberIdentity identity_;
  ApplyLoop* const loop_;
};

}  // namespace rametcd::server

#endif  // RAMETCD_SERVER_AUTH_SERVICE_H_
