// LeaseService: the etcd v3 Lease gRPC service. Grant, Revoke, TimeToLive and Leases run on the
// apply loop (RunUnary); LeaseKeepAlive is a bidirectional stream that handles one request at a
// time: read, renew on the apply loop, write the answer, read the next (a client that floods
// keepalives is slowed to the server's pace, never buffered).
//
// Ownership: borrows the ApplyLoop. Keepalive reactors own themselves and delete themselves in
// OnDone, which cannot happen while their renewal task is queued (see the .cc).
// Thread safety: reactors on gRPC threads; lease state only on the apply loop.
#ifndef RAMETCD_SERVER_LEASE_SERVICE_H_
#define RAMETCD_SERVER_LEASE_SERVICE_H_

#include "etcd/api/etcdserverpb/rpc.grpc.pb.h"
#include "server/apply_loop.h"
#include "server/member_identity.h"

namespace rametcd::server {

// LeaseKeepAlive carries raw bytes, parsed and serialized by its reactor, so that a request that
// does not decode ends the stream with etcd's INTERNAL status (gRPC C++ would report it as the
// client's half-close, which ends the stream OK).
using LeaseServiceBase = etcdserverpb::Lease::WithCallbackMethod_LeaseGrant<
    etcdserverpb::Lease::WithCallbackMethod_LeaseRevoke<
        etcdserverpb::Lease::WithRawCallbackMethod_LeaseKeepAlive<
            etcdserverpb::Lease::WithCallbackMethod_LeaseTimeToLive<
                etcdserverpb::Lease::WithCallbackMethod_LeaseLeases<
                    etcdserverpb::Lease::Service>>>>>;

class LeaseService final : public LeaseServiceBase {
 public:
  LeaseService(const MemberIdentity& identity, ApplyLoop* loop)
      : identity_(identity), loop_(loop) {}

  grpc::ServerUnaryReactor* LeaseGrant(grpc::CallbackServerContext* ctx,
                                       const etcdserverpb::LeaseGrantRequest* req,
                                       etcdserverpb::LeaseGrantResponse* resp) override;
  grpc::ServerUnaryReactor* LeaseRevoke(grpc::CallbackServerContext* ctx,
                                        const etcdserverpb::LeaseRevokeRequest* req,
                                        etcdserverpb::LeaseRevokeResponse* resp) override;
  grpc::ServerUnaryReactor* LeaseTimeToLive(grpc::CallbackServerContext* ctx,
                                            const etcdserverpb::LeaseTimeToLiveRequest* req,
                                            etcdserverpb::LeaseTimeToLiveResponse* resp) override;
  grpc::ServerUnaryReactor* LeaseLeases(grpc::CallbackServerContext* ctx,
                                        const etcdserverpb::LeaseLeasesRequest* req,
                                        etcdserverpb::LeaseLeasesResponse* resp) override;
  grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* LeaseKeepAlive(
      grpc::CallbackServerContext* ctx) override;

 private:
  const MemberIdentity identity_;
  ApplyLoop* const loop_;
};

}  // namespace rametcd::server

#endif  // RAMETCD_SERVER_LEASE_SERVICE_H_
