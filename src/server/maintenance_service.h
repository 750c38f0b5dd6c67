// MaintenanceService: the etcd v3 Maintenance gRPC service. So far it serves Alarm (list, raise,
// disarm; NOSPACE is raised by the durability layer when the disk is full); the other
// Maintenance RPCs answer UNIMPLEMENTED until the operability work adds them.
//
// Ownership: borrows the ApplyLoop, which owns the alarm list. Thread safety: reactors on gRPC
// threads; alarms only on the apply loop.
#ifndef RAMETCD_SERVER_MAINTENANCE_SERVICE_H_
#define RAMETCD_SERVER_MAINTENANCE_SERVICE_H_

#include "etcd/api/etcdserverpb/rpc.grpc.pb.h"
#include "server/apply_loop.h"
#include "server/member_identity.h"

namespace rametcd::server {

class MaintenanceService final : public etcdserverpb::Maintenance::CallbackService {
 public:
  MaintenanceService(const MemberIdentity& identity, ApplyLoop* loop)
      : identity_(identity), loop_(loop) {}

  grpc::ServerUnaryReactor* Alarm(grpc::CallbackServerContext* ctx,
                                  const etcdserverpb::AlarmRequest* req,
                                  etcdserverpb::AlarmResponse* resp) override;

 private:
  const MemberIdentity identity_;
  ApplyLoop* const loop_;
};

}  // namespace rametcd::server

#endif  // RAMETCD_SERVER_MAINTENANCE_SERVICE_H_
