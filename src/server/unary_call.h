// RunUnary: the shape of every unary etcd RPC in rametcd. If the stateless `check` failed, the
// RPC finishes at once with it; otherwise `apply(engine, response)` runs on the apply loop, the
// response header (if apply set one: etcd 3.4 answers Alarm and Defragment without) gets the
// member's IDs, and the RPC finishes with apply's status once the
// response may be sent (after the fsync of fsync-mode changes, see Engine::Respond). A full queue
// answers etcd's "too many requests". The reactor never waits.
#ifndef RAMETCD_SERVER_UNARY_CALL_H_
#define RAMETCD_SERVER_UNARY_CALL_H_

#include <utility>

#include "absl/status/status.h"
#include "base/etcd_errors.h"
#include "grpcpp/support/server_callback.h"
#include "server/apply_loop.h"
#include "server/grpc_status.h"
#include "server/member_identity.h"

namespace rametcd::server {

template <typename Response, typename Apply>
grpc::ServerUnaryReactor* RunUnary(grpc::CallbackServerContext* ctx, ApplyLoop* loop,
                                   const MemberIdentity& identity, const absl::Status& check,
                                   Response* resp, Apply apply) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  if (!check.ok()) {
    reactor->Finish(ToGrpcStatus(check));
    return reactor;
  }
  bool queued = loop->Submit(
      [&identity, reactor, resp, apply = std::move(apply)](ApplyLoop::Engine& engine) mutable {
        absl::Status status = apply(engine, resp);
        if (status.ok() && resp->has_header()) identity.Fill(resp->mutable_header());
        engine.Respond(std::move(status),
                       [reactor](absl::Status done) { reactor->Finish(ToGrpcStatus(done)); });
      });
  if (!queued) reactor->Finish(ToGrpcStatus(etcd_errors::TooManyRequests()));
  return reactor;
}

}  // namespace rametcd::server

#endif  // RAMETCD_SERVER_UNARY_CALL_H_
