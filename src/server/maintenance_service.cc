#include "server/maintenance_service.h"

#include "server/unary_call.h"

namespace rametcd::server {

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
                    out->mutable_header()->set_revision(engine.store.revision());
                    return absl::OkStatus();
                  });
}

}  // namespace rametcd::server
