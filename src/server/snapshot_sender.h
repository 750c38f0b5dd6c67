// SnapshotSender: Maintenance.Snapshot, which streams a consistent copy of the store in etcd's
// own snapshot format: a bbolt database in etcd's backend layout (snapshot/etcd_backend.h)
// followed by its sha256, in 32 KiB chunks with remaining_bytes, as etcd sends it. `etcdctl
// snapshot save` writes it to a file that `etcdctl snapshot status` and `snapshot restore` accept.
//
// Data flow: the RPC submits a task to the apply loop, which copies the MVCC state at that moment
// (BackendFromStore: one copy of every retained version, so the snapshot is point-in-time while
// writes go on); the sender's worker thread writes the bbolt file into the data dir, unlinks it
// and reads it back in chunks into the stream's queue; the stream's reactor writes them one at a
// time. Neither the loop nor a gRPC thread touches the disk.
//
// Bounds: one worker thread, so one snapshot file is written at a time (later requests wait in
// order); at most `kMaxStreams` streams at once, more get "too many requests"; at most 8 chunks
// (256 KiB) queued per stream: a slow client holds the worker, not memory.
//
// Ownership: owns the worker thread and, through the streams' shared transfer state, the queued
// chunks; borrows the ApplyLoop. Stop() (after gRPC has shut down, before the loop stops) ends
// the worker; streams still open are cancelled by gRPC's shutdown.
#ifndef RAMETCD_SERVER_SNAPSHOT_SENDER_H_
#define RAMETCD_SERVER_SNAPSHOT_SENDER_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "etcd/api/etcdserverpb/rpc.grpc.pb.h"
#include "server/apply_loop.h"
#include "server/member_identity.h"
#include "snapshot/etcd_backend.h"

namespace rametcd::server {

class SnapshotSender {
 public:
  static constexpr int kMaxStreams = 4;

  // Snapshot files are written under `dir` (the data dir) and removed once open; files left by
  // a crash are removed here.
  SnapshotSender(std::string dir, const MemberIdentity& identity, ApplyLoop* loop);
  ~SnapshotSender();
  SnapshotSender(const SnapshotSender&) = delete;
  SnapshotSender& operator=(const SnapshotSender&) = delete;

  // Serves one Snapshot RPC.
  grpc::ServerWriteReactor<etcdserverpb::SnapshotResponse>* Start(grpc::CallbackServerContext* ctx);
  void Stop();

  struct Transfer;  // one stream's state, shared by its reactor and the worker

 private:
  // A stream's OnDone.
  void StreamDone();

  struct Job {
    std::shared_ptr<Transfer> transfer;
    std::unique_ptr<snapshot::EtcdBackend> backend;
  };
  void Run();
  // Writes the file for `job` and feeds its chunks to the stream.
  absl::Status Send(Job& job);

  const std::string dir_;
  const MemberIdentity identity_;
  ApplyLoop* const loop_;

  absl::Mutex mu_;
  std::deque<Job> jobs_ ABSL_GUARDED_BY(mu_);
  int streams_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t files_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::atomic<bool> stop_flag_{false};  // stopping_, for waits under a stream's lock
  std::thread worker_;
};

}  // namespace rametcd::server

#endif  // RAMETCD_SERVER_SNAPSHOT_SENDER_H_
