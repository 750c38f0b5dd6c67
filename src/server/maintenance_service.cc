#include "server/maintenance_service.h"

#include "absl/strings/str_cat.h"
#include "base/etcd_errors.h"
#include "server/unary_call.h"
#include "server/version.h"

namespace rametcd::server {
namespace {

// An alarm as etcd lists it in Status.errors (Go's compact protobuf text).
std::string AlarmText(uint64_t member, etcdserverpb::AlarmType type) {
  return absl::StrCat("memberID:", member, " alarm:", etcdserverpb::AlarmType_Name(type), " ");
}

}  // namespace

grpc::ServerUnaryReactor* MaintenanceService::Alarm(grpc::CallbackServerContext* ctx,
                                                    const etcdserverpb::AlarmRequest* req,
                                                    etcdserverpb::AlarmResponse* resp) {
  return RunUnary(ctx, loop_, identity_, absl::OkStatus(), resp,
                  [req](ApplyLoop::Engine& engine, etcdserverpb::AlarmResponse* out) {
                    const auto member = static_cast<uint64_t>(req->memberid());
                    auto add = [out](etcdserverpb::AlarmType type, uint64_t id) {
                      etcdserverpb::AlarmMember* m = out->add_alarms();
                      m->set_memberid(id);
                      m->set_alarm(type);
                    };
                    switch (req->action()) {
                      case etcdserverpb::AlarmRequest::GET:
                        for (const auto& [type, id] : engine.alarms.List(req->alarm())) {
                          add(type, id);
                        }
                        break;
                      case etcdserverpb::AlarmRequest::ACTIVATE:
                        if (req->alarm() != etcdserverpb::NONE) {
                          engine.alarms.Activate(member, req->alarm());
                          add(req->alarm(), member);
                        }
                        break;
                      case etcdserverpb::AlarmRequest::DEACTIVATE:
                        if (engine.alarms.Deactivate(member, req->alarm())) {
                          add(req->alarm(), member);
                        }
                        break;
                      default:
                        break;
                    }
                    return absl::OkStatus();  // no header, as etcd
                  });
}

grpc::ServerUnaryReactor* MaintenanceService::Status(grpc::CallbackServerContext* ctx,
                                                     const etcdserverpb::StatusRequest* req,
                                                     etcdserverpb::StatusResponse* resp) {
  return RunUnary(ctx, loop_, identity_, absl::OkStatus(), resp,
                  [this](ApplyLoop::Engine& engine, etcdserverpb::StatusResponse* out) {
                    const auto revision = static_cast<uint64_t>(engine.store.revision());
                    out->mutable_header()->set_revision(engine.store.revision());
                    out->set_version(kEtcdServerVersion);
                    out->set_dbsize(engine.store.retained_bytes());
                    out->set_dbsizeinuse(engine.store.live_bytes());
                    out->set_leader(identity_.member_id);
                    out->set_raftindex(revision);
                    out->set_raftappliedindex(revision);
                    out->set_raftterm(identity_.raft_term);
                    for (const auto& [type, member] : engine.alarms.List(etcdserverpb::NONE)) {
                      out->add_errors(AlarmText(member, type));
                    }
                    return absl::OkStatus();
                  });
}

grpc::ServerUnaryReactor* MaintenanceService::Hash(grpc::CallbackServerContext* ctx,
                                                   const etcdserverpb::HashRequest* req,
                                                   etcdserverpb::HashResponse* resp) {
  return RunUnary(ctx, loop_, identity_, absl::OkStatus(), resp,
                  [](ApplyLoop::Engine& engine, etcdserverpb::HashResponse* out) {
                    out->mutable_header()->set_revision(engine.store.revision());
                    out->set_hash(*engine.store.HashAt(0));
                    return absl::OkStatus();
                  });
}

grpc::ServerUnaryReactor* MaintenanceService::HashKV(grpc::CallbackServerContext* ctx,
                                                     const etcdserverpb::HashKVRequest* req,
                                                     etcdserverpb::HashKVResponse* resp) {
  return RunUnary(
      ctx, loop_, identity_, absl::OkStatus(), resp,
      [req](ApplyLoop::Engine& engine, etcdserverpb::HashKVResponse* out) -> absl::Status {
        absl::StatusOr<uint32_t> hash = engine.store.HashAt(req->revision());
        if (!hash.ok()) return hash.status();
        out->mutable_header()->set_revision(engine.store.revision());
        out->set_hash(*hash);
        out->set_compact_revision(engine.store.compacted_revision());
        out->set_hash_revision(req->revision() > 0 ? req->revision() : engine.store.revision());
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* MaintenanceService::Defragment(grpc::CallbackServerContext* ctx,
                                                         const etcdserverpb::DefragmentRequest* req,
                                                         etcdserverpb::DefragmentResponse* resp) {
  return RunUnary(ctx, loop_, identity_, absl::OkStatus(), resp,
                  [](ApplyLoop::Engine& engine, etcdserverpb::DefragmentResponse* out) {
                    if (engine.wal != nullptr) engine.wal->Defragment();
                    return absl::OkStatus();  // no header, as etcd
                  });
}

grpc::ServerUnaryReactor* MaintenanceService::MoveLeader(grpc::CallbackServerContext* ctx,
                                                         const etcdserverpb::MoveLeaderRequest* req,
                                                         etcdserverpb::MoveLeaderResponse* resp) {
  const absl::Status check = req->targetid() == identity_.member_id
                                 ? absl::OkStatus()
                                 : etcd_errors::BadLeaderTransferee();
  return RunUnary(ctx, loop_, identity_, check, resp,
                  [](ApplyLoop::Engine& engine, etcdserverpb::MoveLeaderResponse* out) {
                    out->mutable_header()->set_revision(engine.store.revision());
                    return absl::OkStatus();
                  });
}

grpc::ServerUnaryReactor* MaintenanceService::Downgrade(grpc::CallbackServerContext* ctx,
                                                        const etcdserverpb::DowngradeRequest* req,
                                                        etcdserverpb::DowngradeResponse* resp) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  reactor->Finish(ToGrpcStatus(etcd_errors::NotCapable()));
  return reactor;
}

}  // namespace rametcd::server
