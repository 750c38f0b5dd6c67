// LiveImport: moving a running etcd onto rametcd without losing a revision (`--import-from`).
//
//  1. CopyInitialState(), before the server recovers: finds the oldest revision F the source can
//     still read (its compaction point), reads every key at F, and writes that state, the leases
//     and the compaction point F into the (empty) data dir, exactly as `rametcd-recover
//     import-etcd` writes a snapshot. Recovery then loads it as any data dir.
//  2. Start(): the member serves reads but refuses writes (Engine::read_only), and a follower
//     thread watches every key of the source from F+1, applying each revision's events at their
//     original revision (Store::ApplyReplicated), so revisions, versions, create revisions and the
//     history after F are the source's own; watches on rametcd see the same events. Leases the
//     events use are fetched from the source first; a poller thread reads the source's revision
//     every second (the lag) and syncs the lease list every few seconds.
//  3. Promote() (SIGUSR1): waits until the source's current revision is applied, stops following,
//     refreshes every lease's TTL (as etcd does on restart) and lets writes in.
//
// A broken connection is retried from the next revision. If the source compacted revisions the
// follower has not read yet, following stops for good ("failed"): reads keep working at the last
// applied revision, and the operator starts over.
//
// Ownership: owns the SourceEtcd client and both threads; borrows the apply loop and the metrics
// registry, which must outlive it. Thread safety: Promote() and Stop() from one thread (main).
#ifndef RAMETCD_SERVER_LIVE_IMPORT_H_
#define RAMETCD_SERVER_LIVE_IMPORT_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "metrics/registry.h"
#include "server/apply_loop.h"
#include "server/source_etcd.h"

namespace rametcd::server {

class LiveImport {
 public:
  // Step 1. Errors: `wal_dir` already holds data, the source cannot be read, or it kept
  // compacting away the revision being copied.
  static absl::Status CopyInitialState(SourceEtcd& source, const std::string& wal_dir);

  // Step 2, once recovery loaded the copy: marks the loop read-only and starts following.
  // Errors: the loop stopped.
  static absl::StatusOr<std::unique_ptr<LiveImport>> Start(std::unique_ptr<SourceEtcd> source,
                                                           ApplyLoop* loop,
                                                           metrics::Registry* registry);
  ~LiveImport();
  LiveImport(const LiveImport&) = delete;
  LiveImport& operator=(const LiveImport&) = delete;

  // Step 3. Waits up to `catch_up` for the source's current revision to be applied (promoting
  // anyway, with a warning naming the lag, if it is not or the source cannot be asked). Errors:
  // already promoted.
  absl::Status Promote(absl::Duration catch_up);
  // Stops following (the member stays read-only if it was not promoted).
  void Stop();

 private:
  LiveImport(std::unique_ptr<SourceEtcd> source, ApplyLoop* loop, int64_t applied);

  // Follower thread: watch from applied+1, apply, reconnect on errors.
  void Follow();
  // Applies one watch response (whole revisions, as etcd never splits one across responses).
  absl::Status Apply(etcdserverpb::WatchResponse& response);
  // Poller thread: the source's revision every second, the lease list every few seconds.
  void Poll();
  // Grants the source's leases this member lacks, and once the source's list is not newer than
  // the applied revision, drops leases the source no longer has (their keys are gone by then).
  absl::Status SyncLeases();
  // Waits on mu_ for `d` or until stopping; returns false when stopping.
  bool SleepFor(absl::Duration d);
  int64_t lag() const;

  const std::unique_ptr<SourceEtcd> source_;
  ApplyLoop* const loop_;
  std::atomic<int64_t> applied_;
  std::atomic<int64_t> source_revision_;
  std::atomic<bool> failed_{false};
  std::atomic<bool> promoted_{false};

  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  SourceEtcd::Watch* watch_ ABSL_GUARDED_BY(mu_) = nullptr;  // the follower's, to cancel it

  std::vector<metrics::CallbackHandle> metrics_;
  std::thread follower_;
  std::thread poller_;
};

}  // namespace rametcd::server

#endif  // RAMETCD_SERVER_LIVE_IMPORT_H_
