#include "server/auth_service.h"

#include "base/etcd_errors.h"
#include "server/unary_call.h"

namespace rametcd::server {
namespace {

// etcd's AuthStatus on a fresh cluster.
constexpr uint64_t kAuthRevision = 1;

absl::Status NotStored(const char* what) {
  return absl::FailedPreconditionError(
      absl::StrCat("rametcd: ", what, " are not supported: authentication stays disabled"));
}

}  // namespace

template <typename Response>
grpc::ServerUnaryReactor* AuthService::Answer(grpc::CallbackServerContext* ctx, absl::Status status,
                                              Response* resp) {
  return RunUnary(ctx, loop_, identity_, status, resp,
                  [](ApplyLoop::Engine& engine, Response* out) {
                    out->mutable_header()->set_revision(engine.store.revision());
                    return absl::OkStatus();
                  });
}

grpc::ServerUnaryReactor* AuthService::AuthEnable(grpc::CallbackServerContext* ctx,
                                                  const etcdserverpb::AuthEnableRequest* req,
                                                  etcdserverpb::AuthEnableResponse* resp) {
  return Answer(ctx, etcd_errors::RootUserNotExist(), resp);
}

grpc::ServerUnaryReactor* AuthService::AuthDisable(grpc::CallbackServerContext* ctx,
                                                   const etcdserverpb::AuthDisableRequest* req,
                                                   etcdserverpb::AuthDisableResponse* resp) {
  return Answer(ctx, absl::OkStatus(), resp);
}

grpc::ServerUnaryReactor* AuthService::AuthStatus(grpc::CallbackServerContext* ctx,
                                                  const etcdserverpb::AuthStatusRequest* req,
                                                  etcdserverpb::AuthStatusResponse* resp) {
  resp->set_enabled(false);
  resp->set_authrevision(kAuthRevision);
  return Answer(ctx, absl::OkStatus(), resp);
}

grpc::ServerUnaryReactor* AuthService::Authenticate(grpc::CallbackServerContext* ctx,
                                                    const etcdserverpb::AuthenticateRequest* req,
                                                    etcdserverpb::AuthenticateResponse* resp) {
  return Answer(ctx, etcd_errors::AuthNotEnabled(), resp);
}

grpc::ServerUnaryReactor* AuthService::UserAdd(grpc::CallbackServerContext* ctx,
                                               const etcdserverpb::AuthUserAddRequest* req,
                                               etcdserverpb::AuthUserAddResponse* resp) {
  return Answer(ctx, req->name().empty() ? etcd_errors::UserEmpty() : NotStored("users"), resp);
}

grpc::ServerUnaryReactor* AuthService::UserGet(grpc::CallbackServerContext* ctx,
                                               const etcdserverpb::AuthUserGetRequest* req,
                                               etcdserverpb::AuthUserGetResponse* resp) {
  return Answer(ctx, etcd_errors::UserNotFound(), resp);
}

grpc::ServerUnaryReactor* AuthService::UserList(grpc::CallbackServerContext* ctx,
                                                const etcdserverpb::AuthUserListRequest* req,
                                                etcdserverpb::AuthUserListResponse* resp) {
  return Answer(ctx, absl::OkStatus(), resp);
}

grpc::ServerUnaryReactor* AuthService::UserDelete(grpc::CallbackServerContext* ctx,
                                                  const etcdserverpb::AuthUserDeleteRequest* req,
                                                  etcdserverpb::AuthUserDeleteResponse* resp) {
  return Answer(ctx, etcd_errors::UserNotFound(), resp);
}

grpc::ServerUnaryReactor* AuthService::UserChangePassword(
    grpc::CallbackServerContext* ctx, const etcdserverpb::AuthUserChangePasswordRequest* req,
    etcdserverpb::AuthUserChangePasswordResponse* resp) {
  return Answer(ctx, etcd_errors::UserNotFound(), resp);
}

grpc::ServerUnaryReactor* AuthService::UserGrantRole(
    grpc::CallbackServerContext* ctx, const etcdserverpb::AuthUserGrantRoleRequest* req,
    etcdserverpb::AuthUserGrantRoleResponse* resp) {
  return Answer(ctx, etcd_errors::UserNotFound(), resp);
}

grpc::ServerUnaryReactor* AuthService::UserRevokeRole(
    grpc::CallbackServerContext* ctx, const etcdserverpb::AuthUserRevokeRoleRequest* req,
    etcdserverpb::AuthUserRevokeRoleResponse* resp) {
  return Answer(ctx, etcd_errors::UserNotFound(), resp);
}

grpc::ServerUnaryReactor* AuthService::RoleAdd(grpc::CallbackServerContext* ctx,
                                               const etcdserverpb::AuthRoleAddRequest* req,
                                               etcdserverpb::AuthRoleAddResponse* resp) {
  return Answer(ctx, req->name().empty() ? etcd_errors::RoleEmpty() : NotStored("roles"), resp);
}

grpc::ServerUnaryReactor* AuthService::RoleGet(grpc::CallbackServerContext* ctx,
                                               const etcdserverpb::AuthRoleGetRequest* req,
                                               etcdserverpb::AuthRoleGetResponse* resp) {
  return Answer(ctx, etcd_errors::RoleNotFound(), resp);
}

grpc::ServerUnaryReactor* AuthService::RoleList(grpc::CallbackServerContext* ctx,
                                                const etcdserverpb::AuthRoleListRequest* req,
                                                etcdserverpb::AuthRoleListResponse* resp) {
  return Answer(ctx, absl::OkStatus(), resp);
}

grpc::ServerUnaryReactor* AuthService::RoleDelete(grpc::CallbackServerContext* ctx,
                                                  const etcdserverpb::AuthRoleDeleteRequest* req,
                                                  etcdserverpb::AuthRoleDeleteResponse* resp) {
  return Answer(ctx, etcd_errors::RoleNotFound(), resp);
}

grpc::ServerUnaryReactor* AuthService::RoleGrantPermission(
    grpc::CallbackServerContext* ctx, const etcdserverpb::AuthRoleGrantPermissionRequest* req,
    etcdserverpb::AuthRoleGrantPermissionResponse* resp) {
  return Answer(ctx, etcd_errors::RoleNotFound(), resp);
}

grpc::ServerUnaryReactor* AuthService::RoleRevokePermission(
    grpc::CallbackServerContext* ctx, const etcdserverpb::AuthRoleRevokePermissionRequest* req,
    etcdserverpb::AuthRoleRevokePermissionResponse* resp) {
  return Answer(ctx, etcd_errors::RoleNotFound(), resp);
}

}  // namespace rametcd::server
