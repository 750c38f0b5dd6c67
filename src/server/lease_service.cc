#include "server/lease_service.h"

#include "absl/time/clock.h"
#include "base/logging.h"
#include "base/status_macros.h"
#include "server/unary_call.h"
#include "server/undecodable_requests.h"

namespace rametcd::server {
namespace {

// What a lease grant adds to the data, for the space quota (etcd counts a fixed overhead too).
constexpr int64_t kLeaseBytes = 64;

using etcdserverpb::LeaseKeepAliveRequest;
using etcdserverpb::LeaseKeepAliveResponse;

// One LeaseKeepAlive stream. At most one renewal is in flight: the next request is read only
// after the answer to the previous one was written, so OnDone (which needs a finished RPC, and
// Finish happens only from a failed read or write) never runs while a renewal task holds `this`.
// Messages are parsed and serialized here (see LeaseService).
class KeepAliveReactor final : public grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  KeepAliveReactor(const MemberIdentity& identity, ApplyLoop* loop)
      : identity_(identity), loop_(loop) {
    StartRead(&request_bytes_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status::OK);  // the client closed its side, as etcd ends the RPC
      return;
    }
    if (!ParseRequest(&request_bytes_, &request_)) {
      Finish(UndecodableStreamMessage("etcdserverpb.LeaseKeepAliveRequest"));
      return;
    }
    bool queued = loop_->Submit([this](ApplyLoop::Engine& engine) {
      if (!engine.read_only.empty()) {
        Finish(ToGrpcStatus(absl::FailedPreconditionError(engine.read_only)));
        return;
      }
      response_.Clear();
      response_.set_id(request_.id());
      response_.set_ttl(engine.lessor.KeepAlive(request_.id(), absl::Now()));
      response_.mutable_header()->set_revision(engine.store.revision());
      identity_.Fill(response_.mutable_header());
      bool own_buffer = false;
      response_bytes_.Clear();  // the previous write completed
      grpc::Status serialized = grpc::SerializationTraits<LeaseKeepAliveResponse>::Serialize(
          response_, &response_bytes_, &own_buffer);
      CHECK(serialized.ok());
      StartWrite(&response_bytes_);
    });
    if (!queued) Finish(ToGrpcStatus(etcd_errors::TooManyRequests()));
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status::CANCELLED);
      return;
    }
    StartRead(&request_bytes_);
  }

  void OnDone() override { delete this; }

 private:
  const MemberIdentity& identity_;
  ApplyLoop* const loop_;
  grpc::ByteBuffer request_bytes_;
  LeaseKeepAliveRequest request_;
  LeaseKeepAliveResponse response_;
  grpc::ByteBuffer response_bytes_;
};

}  // namespace

grpc::ServerUnaryReactor* LeaseService::LeaseGrant(grpc::CallbackServerContext* ctx,
                                                   const etcdserverpb::LeaseGrantRequest* req,
                                                   etcdserverpb::LeaseGrantResponse* resp) {
  return RunUnary(ctx, loop_, identity_, absl::OkStatus(), resp,
                  [req](ApplyLoop::Engine& engine, etcdserverpb::LeaseGrantResponse* out) {
                    RETURN_IF_ERROR(engine.AdmitWrite(kLeaseBytes));
                    auto granted = engine.lessor.Grant(req->id(), req->ttl(), absl::Now());
                    if (!granted.ok()) return granted.status();
                    out->set_id(granted->id);
                    out->set_ttl(granted->ttl);
                    out->mutable_header()->set_revision(engine.store.revision());
                    return absl::OkStatus();
                  });
}

grpc::ServerUnaryReactor* LeaseService::LeaseRevoke(grpc::CallbackServerContext* ctx,
                                                    const etcdserverpb::LeaseRevokeRequest* req,
                                                    etcdserverpb::LeaseRevokeResponse* resp) {
  return RunUnary(ctx, loop_, identity_, absl::OkStatus(), resp,
                  [req](ApplyLoop::Engine& engine, etcdserverpb::LeaseRevokeResponse* out) {
                    RETURN_IF_ERROR(engine.AdmitWrite(0));
                    absl::Status status = engine.lessor.Revoke(req->id());
                    out->mutable_header()->set_revision(engine.store.revision());
                    return status;
                  });
}

grpc::ServerUnaryReactor* LeaseService::LeaseTimeToLive(
    grpc::CallbackServerContext* ctx, const etcdserverpb::LeaseTimeToLiveRequest* req,
    etcdserverpb::LeaseTimeToLiveResponse* resp) {
  return RunUnary(ctx, loop_, identity_, absl::OkStatus(), resp,
                  [req](ApplyLoop::Engine& engine, etcdserverpb::LeaseTimeToLiveResponse* out) {
                    auto ttl = engine.lessor.Remaining(req->id(), absl::Now());
                    out->set_id(req->id());
                    out->set_ttl(ttl.remaining);
                    out->set_grantedttl(ttl.granted);
                    if (req->keys() && ttl.remaining >= 0) {
                      for (std::string& key : engine.store.LeaseKeys(req->id())) {
                        out->add_keys(std::move(key));
                      }
                    }
                    out->mutable_header()->set_revision(engine.store.revision());
                    return absl::OkStatus();
                  });
}

grpc::ServerUnaryReactor* LeaseService::LeaseLeases(grpc::CallbackServerContext* ctx,
                                                    const etcdserverpb::LeaseLeasesRequest* req,
                                                    etcdserverpb::LeaseLeasesResponse* resp) {
  return RunUnary(ctx, loop_, identity_, absl::OkStatus(), resp,
                  [](ApplyLoop::Engine& engine, etcdserverpb::LeaseLeasesResponse* out) {
                    for (int64_t id : engine.lessor.Leases()) out->add_leases()->set_id(id);
                    out->mutable_header()->set_revision(engine.store.revision());
                    return absl::OkStatus();
                  });
}

grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* LeaseService::LeaseKeepAlive(
    grpc::CallbackServerContext* ctx) {
  return new KeepAliveReactor(identity_, loop_);
}

}  // namespace rametcd::server
