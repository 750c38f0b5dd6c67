// MaintenanceService: the etcd v3 Maintenance gRPC service of a single in-memory member.
//
//  - Alarm: list, raise and disarm alarms (NOSPACE is raised by the durability layer when the
//    disk is full and by the space quota).
//  - Status: this member as leader; dbSize is the size of the MVCC data held (every retained
//    version: what the space quota counts), dbSizeInUse the size of the current versions only;
//    raftIndex = raftAppliedIndex = the revision (every applied write advances both); errors
//    lists raised alarms as etcd does.
//  - Hash and HashKV: a CRC32C of the MVCC state (Store::HashAt), stable across restarts; HashKV
//    takes a revision and answers etcd's compacted / future-revision errors.
//  - Defragment: rewrites the data dir's logs as checkpoints, in the background (memory of
//    compacted versions is released by the apply loop anyway).
//  - Snapshot: etcd's snapshot format, see snapshot_sender.h.
//  - MoveLeader: etcd's answers for a one-member cluster (success for this member, "bad leader
//    transferee" otherwise); Downgrade: "not capable".
//
// Ownership: borrows the ApplyLoop, which owns the store and the alarms, and the SnapshotSender.
// Thread safety: reactors on gRPC threads; state only on the apply loop.
#ifndef RAMETCD_SERVER_MAINTENANCE_SERVICE_H_
#define RAMETCD_SERVER_MAINTENANCE_SERVICE_H_

#include "etcd/api/etcdserverpb/rpc.grpc.pb.h"
#include "server/apply_loop.h"
#include "server/member_identity.h"
#include "server/snapshot_sender.h"

namespace rametcd::server {

class MaintenanceService final : public etcdserverpb::Maintenance::CallbackService {
 public:
  MaintenanceService(const MemberIdentity& identity, ApplyLoop* loop, SnapshotSender* snapshots)
      : identity_(identity), loop_(loop), snapshots_(snapshots) {}

  grpc::ServerUnaryReactor* Alarm(grpc::CallbackServerContext* ctx,
                                  const etcdserverpb::AlarmRequest* req,
                                  etcdserverpb::AlarmResponse* resp) override;
  grpc::ServerUnaryReactor* Status(grpc::CallbackServerContext* ctx,
                                   const etcdserverpb::StatusRequest* req,
                                   etcdserverpb::StatusResponse* resp) override;
  grpc::ServerUnaryReactor* Hash(grpc::CallbackServerContext* ctx,
                                 const etcdserverpb::HashRequest* req,
                                 etcdserverpb::HashResponse* resp) override;
  grpc::ServerUnaryReactor* HashKV(grpc::CallbackServerContext* ctx,
                                   const etcdserverpb::HashKVRequest* req,
                                   etcdserverpb::HashKVResponse* resp) override;
  grpc::ServerUnaryReactor* Defragment(grpc::CallbackServerContext* ctx,
                                       const etcdserverpb::DefragmentRequest* req,
                                       etcdserverpb::DefragmentResponse* resp) override;
  grpc::ServerWriteReactor<etcdserverpb::SnapshotResponse>* Snapshot(
      grpc::CallbackServerContext* ctx, const etcdserverpb::SnapshotRequest* req) override {
    return snapshots_->Start(ctx);
  }
  grpc::ServerUnaryReactor* MoveLeader(grpc::CallbackServerContext* ctx,
                                       const etcdserverpb::MoveLeaderRequest* req,
                                       etcdserverpb::MoveLeaderResponse* resp) override;
  grpc::ServerUnaryReactor* Downgrade(grpc::CallbackServerContext* ctx,
                                      const etcdserverpb::DowngradeRequest* req,
                                      etcdserverpb::DowngradeResponse* resp) override;

 private:
  const MemberIdentity identity_;
  ApplyLoop* const loop_;
  SnapshotSender* const snapshots_;
};

}  // namespace rametcd::server

#endif  // RAMETCD_SERVER_MAINTENANCE_SERVICE_H_
