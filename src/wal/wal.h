// Wal: the durability layer's writer. The Store reports each change (mvcc::ChangeLog) on the
// apply thread; the Wal routes it to its stream (resource prefix), queues it, and one writer
// thread encodes the queued changes into per-stream buffers and writes them out as one batch
// through the IoBackend (io_uring: one submission for all files, fdatasync linked after the
// write of every fsync-mode file). Batches are numbered, and each stream's part of one ends with
// a BatchEnd record, so that recovery loads whole batches only (batches.h).
//
// When: buffered changes wait at most `flush_interval`; a change in an fsync-mode stream wakes
// the writer at once, and every change that arrives while a batch is on its way joins the next
// one, so concurrent fsync writers share one fsync (group commit). AfterDurable() lets the apply
// loop hold a response until every fsync-mode change committed before it is on disk.
//
// Bounds: the queued and unwritten bytes are counted; past `max_backlog_bytes` Admit() refuses
// new writes ("too many requests") until the disk catches up. Segments rotate at
// `segment_bytes`; a checkpointer thread rewrites a stream as one checkpoint once its log
// segments outgrow its last checkpoint (and after compactions), so disk use follows live data.
//
// Errors: a write that fails with ENOSPC keeps its data, raises the NOSPACE alarm (on_nospace)
// and is retried every second: nothing is lost and fsync waiters keep waiting. Any other write
// or fsync error is permanent: the Wal fails, every waiter and every later Admit() gets the
// error, and nothing more is written (a failed fsync leaves the page cache in an unknown state).
//
// Ownership: owns the writer and checkpointer threads, the stream files' descriptors and the
// buffers. Thread safety: the ChangeLog methods, Admit() and AfterDurable() are for the apply
// thread; Stop() for the owner; stats() for anyone.
#ifndef RAMETCD_WAL_WAL_H_
#define RAMETCD_WAL_WAL_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "base/string_hash.h"
#include "metrics/histogram.h"
#include "mvcc/change_log.h"
#include "wal/io_backend.h"
#include "wal/modes.h"
#include "wal/recovery.h"

namespace rametcd::wal {

class Wal : public mvcc::ChangeLog {
 public:
  struct Options {
    std::string dir;  // <data-dir>/wal
    ModeTable modes;
    absl::Duration flush_interval = absl::Milliseconds(2);
    size_t max_backlog_bytes = size_t{256} << 20;
    uint64_t segment_bytes = uint64_t{64} << 20;
    // A stream is checkpointed after a compaction once its logs hold this much.
    uint64_t checkpoint_after_compaction_bytes = uint64_t{1} << 20;
    absl::Duration nospace_retry = absl::Seconds(1);
    // Called on the writer thread when a write fails for lack of space.
    std::function<void()> on_nospace;
    // If set: the duration of every batch written (one submission to the backend), and of those
    // that included an fdatasync (the sync is linked to the write, so this is write + sync).
    metrics::Histogram* write_seconds = nullptr;
    metrics::Histogram* fsync_seconds = nullptr;
  };

  struct Stats {
    uint64_t batches = 0;
    uint64_t bytes_written = 0;
    uint64_t fsyncs = 0;
    uint64_t checkpoints = 0;
    size_t backlog_bytes = 0;
    // Bytes of the data dir's log segments and checkpoints.
    uint64_t disk_bytes = 0;
    bool failed = false;
  };

  // Continues the streams recovery found and starts the threads. Files of streams whose mode is
  // now none are deleted (their content was loaded and lives in memory only from now on).
  static absl::StatusOr<std::unique_ptr<Wal>> Start(Options options,
                                                    std::unique_ptr<IoBackend> backend,
                                                    const RecoverySummary& recovered);
  ~Wal() override;
  Wal(const Wal&) = delete;
  Wal& operator=(const Wal&) = delete;

  // mvcc::ChangeLog, apply thread.
  void Committed(const std::shared_ptr<const mvcc::RevisionEvents>& entry) override;
  void Compacted(int64_t revision) override;
  void LeaseGranted(int64_t id, int64_t ttl) override;
  void LeaseRevoked(int64_t id) override;

  // Apply thread: OK if a new write may be accepted now.
  absl::Status Admit() const;
  // Apply thread: runs `done` once every fsync-mode change committed so far is durable (at once
  // if none is pending), with the Wal's error if it failed. May run `done` on the writer thread.
  void AfterDurable(absl::AnyInvocable<void(absl::Status)> done);

  // Writes out everything queued (fdatasync on every file) and stops the threads.
  void Stop();
  // Any thread: soon rewrites every stream that has logs as one checkpoint, so its files hold
  // only the retained data (etcd's Defragment). Returns at once.
  void Defragment();
  Stats stats() const;
  std::string_view backend_name() const { return backend_->name(); }

 private:
  struct Item {
    enum class Kind : uint8_t { kTxn, kLeaseGrant, kLeaseRevoke, kCompaction, kMark };
    Kind kind;
    int64_t a = 0;  // revision, or lease ID
    int64_t b = 0;  // lease TTL
    std::shared_ptr<const mvcc::RevisionEvents> entry;
    uint64_t ticket = 0;  // nonzero: someone may wait for this item's fsync
    size_t bytes = 0;     // counted in the backlog
  };
  // One stream's files; touched by the writer thread only.
  struct Stream {
    std::string name;
    Mode mode;
    StreamFiles files;
    int fd = -1;        // current log segment, -1 when the next write opens a new one
    uint64_t size = 0;  // of the current segment
    uint64_t log_bytes = 0;
    uint64_t checkpoint_bytes = 0;
    std::string pending;  // encoded, not yet written
    bool checkpointing = false;
    int64_t checkpoint_compacted = -1;  // the compaction its newest checkpoint (job) applied
  };
  struct CheckpointJob {
    Stream* stream;
    StreamFiles files;
    uint64_t seq;
    int64_t compacted;
  };
  struct CheckpointDone {
    Stream* stream;
    uint64_t seq;
    absl::StatusOr<uint64_t> bytes;
    uint64_t replaced_log_bytes;
  };

  Wal(Options options, std::unique_ptr<IoBackend> backend);
  absl::Status Adopt(const RecoveredStream& recovered);
  void Enqueue(Item item, bool sync);
  bool Persisted(std::string_view stream) const;

  // Writer thread.
  void Run();
  void Encode(std::vector<Item>& batch, uint64_t* ticket, size_t* bytes);
  Stream* StreamFor(std::string_view name);
  // Prepares `s` to take records: opens a new segment when there is none.
  absl::Status EnsureSegment(Stream& s);
  // Writes every stream's pending bytes; `sync_all` fdatasyncs every written file.
  absl::Status WriteOut(bool sync_all);
  void Fail(absl::Status status);
  void FinishBatch(uint64_t ticket, size_t bytes);
  // Closes a full segment and queues a checkpoint when the stream's logs outgrew its last one,
  // or once they hold checkpoint_after_compaction_bytes after a compaction it has not applied.
  // `force`: checkpoint whatever the logs' size (Defragment).
  void MaybeCheckpoint(Stream& s, bool force = false);
  void TakeCheckpointResults();

  // Checkpointer thread.
  void RunCheckpoints();
  CheckpointDone RunCheckpoint(const CheckpointJob& job);

  const Options options_;
  const Mode meta_mode_;
  std::unique_ptr<IoBackend> backend_;

  // Apply thread only.
  uint64_t issued_ticket_ = 0;
  std::atomic<uint64_t> durable_ticket_{0};
  std::atomic<bool> failed_flag_{false};
  std::atomic<size_t> backlog_bytes_{0};
  std::atomic<uint64_t> disk_bytes_{0};  // updated by the writer thread, read by stats()

  mutable absl::Mutex mu_;
  std::vector<Item> queue_ ABSL_GUARDED_BY(mu_);
  bool urgent_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool defragment_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status failed_ ABSL_GUARDED_BY(mu_);
  std::deque<std::pair<uint64_t, absl::AnyInvocable<void(absl::Status)>>> waiters_
      ABSL_GUARDED_BY(mu_);
  std::deque<CheckpointJob> checkpoint_jobs_ ABSL_GUARDED_BY(mu_);
  std::vector<CheckpointDone> checkpoint_done_ ABSL_GUARDED_BY(mu_);
  Stats stats_ ABSL_GUARDED_BY(mu_);

  // Writer thread only (and Start(), before the threads run).
  absl::flat_hash_map<std::string, std::unique_ptr<Stream>, StringViewHash, StringViewEq> streams_;
  int64_t compacted_ = -1;
  uint64_t batch_ = 0;  // the newest batch numbered (batches.h)

  std::thread writer_;
  std::thread checkpointer_;
};

}  // namespace rametcd::wal

#endif  // RAMETCD_WAL_WAL_H_
