// RunUnary: the shape of every unary etcd RPC in rametcd. If the stateless `check` failed, the
// RPC finishes at once with it; otherwise `apply(engine, response)` runs on the apply loop, the
// response header (if apply set one: etcd 3.4 answers Alarm and Defragment without) gets the
// member's IDs, and the RPC finishes with apply's status once the
// response may be sent (after the fsync of fsync-mode changes, see Engine::Respond). A full queue
// answers etcd's "too many requests". The reactor never waits: a request whose cost is bounded
// (Cost::kPoint: one key per op) runs on the reactor's thread when the loop is idle
// (ApplyLoop::Execute, which saves the hand-off); any other is queued for the loop thread.
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

enum class Cost { kUnbounded, kPoint };

template <typename Response, typename Apply>
grpc::ServerUnaryReactor* RunUnary(grpc::CallbackServerContext* ctx, ApplyLoop* loop,
                                   const MemberIdentity& identity, const absl::Status& check,
                                   Response* resp, Apply apply, Cost cost = Cost::kUnbounded) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  if (!check.ok()) {
    reactor->Finish(ToGrpcStatus(check));
    return reactor;
  }
  ApplyLoop::Task task = [&identity, reactor, resp,
                          apply = std::move(apply)](ApplyLoop::Engine& engine) mutable {
    absl::Status status = apply(engine, resp);
    if (status.ok() && resp->has_header()) identity.Fill(resp->mutable_header());
    engine.Respond(std::move(status),
                   [reactor](absl::Status done) { reactor->Finish(ToGrpcStatus(done)); });
  };
  const bool queued =
      cost == Cost::kPoint ? loop->Execute(std::move(task)) : loop->Submit(std::move(task));
  if (!queued) reactor->Finish(ToGrpcStatus(etcd_errors::TooManyRequests()));
  return reactor;
}

}  // namespace rametcd::server

#endif  // RAMETCD_SERVER_UNARY_CALL_H_
