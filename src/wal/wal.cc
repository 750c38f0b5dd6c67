#include "wal/wal.h"

#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <utility>

#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"
#include "base/etcd_errors.h"
#include "base/logging.h"
#include "base/status_macros.h"
#include "base/thread_name.h"
#include "rametcd/wal/record.pb.h"
#include "wal/checkpoint.h"
#include "wal/file_util.h"
#include "wal/frame.h"
#include "wal/layout.h"
#include "wal/record_codec.h"

namespace rametcd::wal {

Wal::Wal(Options options, std::unique_ptr<IoBackend> backend)
    : options_(std::move(options)),
      meta_mode_(options_.modes.meta_mode()),
      backend_(std::move(backend)) {}

absl::StatusOr<std::unique_ptr<Wal>> Wal::Start(Options options, std::unique_ptr<IoBackend> backend,
                                                const RecoverySummary& recovered) {
  std::unique_ptr<Wal> wal(new Wal(std::move(options), std::move(backend)));
  RETURN_IF_ERROR(MakeDirs(wal->options_.dir));
  for (const RecoveredStream& r : recovered.streams) RETURN_IF_ERROR(wal->Adopt(r));
  wal->compacted_ = recovered.compacted;
  wal->batch_ = recovered.last_batch;
  wal->writer_ = std::thread([w = wal.get()] {
    NameThisThread("wal-writer");
    w->Run();
  });
  wal->checkpointer_ = std::thread([w = wal.get()] {
    NameThisThread("wal-checkpoint");
    w->RunCheckpoints();
  });
  return wal;
}

absl::Status Wal::Adopt(const RecoveredStream& r) {
  const Mode mode = options_.modes.ForStream(r.files.stream);
  if (mode == Mode::kNone) {
    Log(LogLevel::kWarn, "stream is in mode none now: its loaded data lives in memory only",
        {{"stream", r.files.stream}, {"dir", r.files.dir}});
    std::error_code ec;
    std::filesystem::remove_all(r.files.dir, ec);
    if (ec) return absl::InternalError(absl::StrCat("remove ", r.files.dir, ": ", ec.message()));
    return SyncDir(options_.dir);
  }
  auto s = std::make_unique<Stream>();
  s->name = r.files.stream;
  s->mode = mode;
  s->files = r.files;
  s->log_bytes = r.log_bytes;
  s->checkpoint_bytes = r.checkpoint_bytes;
  disk_bytes_.fetch_add(r.log_bytes + r.checkpoint_bytes, std::memory_order_relaxed);
  if (!s->files.logs.empty() && r.last_log_end < options_.segment_bytes) {
    // Continue the newest segment where its valid records end.
    ASSIGN_OR_RETURN(s->fd, OpenForWrite(s->files.LogPath(s->files.logs.back()), false));
    s->size = r.last_log_end;
  }
  streams_[s->name] = std::move(s);
  return absl::OkStatus();
}

Wal::~Wal() { Stop(); }

void Wal::Stop() {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_ && !writer_.joinable()) return;
    stopping_ = true;
  }
  if (writer_.joinable()) writer_.join();
  if (checkpointer_.joinable()) checkpointer_.join();
  for (auto& [name, s] : streams_) {
    if (s->fd >= 0) ::close(s->fd);
    s->fd = -1;
  }
}

bool Wal::Persisted(std::string_view stream) const {
  return options_.modes.ForStream(stream) != Mode::kNone;
}

void Wal::Enqueue(Item item, bool sync) {
  if (failed_flag_.load(std::memory_order_relaxed)) return;  // nothing more is written
  if (sync) item.ticket = ++issued_ticket_;
  backlog_bytes_.fetch_add(item.bytes, std::memory_order_relaxed);
  absl::MutexLock lock(&mu_);
  if (sync) urgent_ = true;
  queue_.push_back(std::move(item));
}

void Wal::Committed(const std::shared_ptr<const mvcc::RevisionEvents>& entry) {
  bool persisted = false;
  bool sync = false;
  for (const mvcc::Event& e : entry->events) {
    const Mode mode = options_.modes.ForStream(StreamOfKey(e.key));
    persisted |= mode != Mode::kNone;
    sync |= mode == Mode::kFsync;
  }
  if (persisted) {
    Enqueue({Item::Kind::kTxn, entry->revision, 0, entry, 0, entry->bytes}, sync);
  } else if (meta_mode_ != Mode::kNone) {
    Enqueue({Item::Kind::kMark, entry->revision, 0, nullptr, 0, 32}, meta_mode_ == Mode::kFsync);
  }
}

void Wal::Compacted(int64_t revision) {
  if (meta_mode_ == Mode::kNone) return;
  Enqueue({Item::Kind::kCompaction, revision, 0, nullptr, 0, 32}, meta_mode_ == Mode::kFsync);
}

void Wal::LeaseGranted(int64_t id, int64_t ttl) {
  if (meta_mode_ == Mode::kNone) return;
  Enqueue({Item::Kind::kLeaseGrant, id, ttl, nullptr, 0, 32}, meta_mode_ == Mode::kFsync);
}

void Wal::LeaseRevoked(int64_t id) {
  if (meta_mode_ == Mode::kNone) return;
  Enqueue({Item::Kind::kLeaseRevoke, id, 0, nullptr, 0, 32}, meta_mode_ == Mode::kFsync);
}

absl::Status Wal::Admit() const {
  if (failed_flag_.load(std::memory_order_acquire)) {
    absl::MutexLock lock(&mu_);
    return failed_;
  }
  if (backlog_bytes_.load(std::memory_order_relaxed) > options_.max_backlog_bytes) {
    return etcd_errors::TooManyRequests();
  }
  return absl::OkStatus();
}

void Wal::AfterDurable(absl::AnyInvocable<void(absl::Status)> done) {
  const uint64_t wanted = issued_ticket_;
  if (wanted <= durable_ticket_.load(std::memory_order_acquire)) {
    std::move(done)(absl::OkStatus());
    return;
  }
  absl::Status status;
  {
    absl::MutexLock lock(&mu_);
    if (failed_.ok() && wanted > durable_ticket_.load(std::memory_order_relaxed)) {
      waiters_.emplace_back(wanted, std::move(done));
      return;
    }
    status = failed_;
  }
  std::move(done)(status);
}

Wal::Stats Wal::stats() const {
  absl::MutexLock lock(&mu_);
  Stats s = stats_;
  s.backlog_bytes = backlog_bytes_.load(std::memory_order_relaxed);
  s.disk_bytes = disk_bytes_.load(std::memory_order_relaxed);
  s.failed = !failed_.ok();
  return s;
}

Wal::Stream* Wal::StreamFor(std::string_view name) {
  auto it = streams_.find(name);
  if (it != streams_.end()) return it->second.get();
  auto s = std::make_unique<Stream>();
  s->name = std::string(name);
  s->mode = options_.modes.ForStream(name);
  s->files.stream = s->name;
  s->files.dir = absl::StrCat(options_.dir, "/", StreamDirName(name));
  Stream* raw = s.get();
  streams_[raw->name] = std::move(s);
  return raw;
}

absl::Status Wal::EnsureSegment(Stream& s) {
  if (s.fd >= 0) return absl::OkStatus();
  const bool new_dir = !std::filesystem::exists(s.files.dir);
  RETURN_IF_ERROR(MakeDirs(s.files.dir));
  if (!s.files.checkpoint && s.files.logs.empty()) {
    // A new stream starts with an empty checkpoint saying that it had no part in any batch
    // before this one, so that recovery does not look for one (a stream that was in mode none
    // for a while comes back this way too).
    StreamState empty;
    empty.batch = batch_ - 1;
    ASSIGN_OR_RETURN(const uint64_t bytes, WriteCheckpoint(s.files, 0, empty));
    s.files.checkpoint = 0;
    s.checkpoint_bytes = bytes;
    disk_bytes_.fetch_add(bytes, std::memory_order_relaxed);
  }
  const uint64_t seq =
      (s.files.logs.empty() ? s.files.checkpoint.value_or(0) : s.files.logs.back()) + 1;
  ASSIGN_OR_RETURN(s.fd, OpenForWrite(s.files.LogPath(seq), true));
  s.files.logs.push_back(seq);
  std::string header;
  AppendFileHeader({FileKind::kLog, seq, s.name}, &header);
  // The header goes first, on its own: a crash right after leaves a file recovery can read.
  // (A crash between create and this write leaves a headerless newest file, which recovery
  // treats as a torn tail.)
  if (::pwrite(s.fd, header.data(), header.size(), 0) != static_cast<ssize_t>(header.size())) {
    return absl::InternalError(
        absl::StrCat("write ", s.files.LogPath(seq), ": ", std::strerror(errno)));
  }
  s.size = header.size();
  s.log_bytes += header.size();
  disk_bytes_.fetch_add(header.size(), std::memory_order_relaxed);
  // The new file's name must survive a power loss before anything in it is acknowledged.
  RETURN_IF_ERROR(SyncDir(s.files.dir));
  if (new_dir) RETURN_IF_ERROR(SyncDir(options_.dir));
  return absl::OkStatus();
}

void Wal::Encode(std::vector<Item>& batch, uint64_t* ticket, size_t* bytes) {
  Record record;
  int64_t mark = 0;
  int64_t persisted_revision = 0;
  Stream* meta = meta_mode_ == Mode::kNone ? nullptr : StreamFor(kMetaStream);
  for (Item& item : batch) {
    *ticket = std::max(*ticket, item.ticket);
    *bytes += item.bytes;
    record.Clear();
    switch (item.kind) {
      case Item::Kind::kTxn: {
        // Group the changes by stream, keeping their order within each stream.
        absl::InlinedVector<std::pair<std::string_view, std::vector<const mvcc::Event*>>, 2> parts;
        for (const mvcc::Event& e : item.entry->events) {
          std::string_view stream = StreamOfKey(e.key);
          if (!Persisted(stream)) continue;
          auto part = std::find_if(parts.begin(), parts.end(),
                                   [&](const auto& p) { return p.first == stream; });
          if (part == parts.end())
            part = &parts.emplace_back(stream, std::vector<const mvcc::Event*>());
          part->second.push_back(&e);
        }
        for (const auto& [stream, changes] : parts) {
          AppendTxnRecord(item.a, changes, &StreamFor(stream)->pending);
        }
        persisted_revision = std::max(persisted_revision, item.a);
        break;
      }
      case Item::Kind::kMark:
        mark = std::max(mark, item.a);
        break;
      case Item::Kind::kCompaction:
        record.mutable_compaction()->set_revision(item.a);
        compacted_ = std::max(compacted_, item.a);
        break;
      case Item::Kind::kLeaseGrant:
        record.mutable_lease_grant()->set_id(item.a);
        record.mutable_lease_grant()->set_ttl(item.b);
        break;
      case Item::Kind::kLeaseRevoke:
        record.mutable_lease_revoke()->set_id(item.a);
        break;
    }
    if (record.body_case() != Record::BODY_NOT_SET && meta != nullptr) {
      AppendRecord(record, &meta->pending);
    }
  }
  if (mark > persisted_revision && meta != nullptr) {
    record.Clear();
    record.mutable_revision_mark()->set_revision(mark);
    AppendRecord(record, &meta->pending);
  }
  // End every stream's part of the batch, so that recovery can tell a whole batch (batches.h).
  absl::InlinedVector<Stream*, 4> written;
  for (auto& [name, s] : streams_) {
    if (!s->pending.empty()) written.push_back(s.get());
  }
  if (written.empty()) return;
  record.Clear();
  BatchEnd* end = record.mutable_batch_end();
  end->set_batch(++batch_);
  if (written.size() > 1) {
    for (const Stream* s : written) end->add_streams(s->name);
  }
  for (Stream* s : written) AppendRecord(record, &s->pending);
}

absl::Status Wal::WriteOut(bool sync_all) {
  // Each stream with something to do: its pending bytes, and whether it still owes a fdatasync.
  struct Work {
    Stream* stream;
    bool sync;
  };
  std::vector<Work> work;
  for (auto& [name, s] : streams_) {
    const bool has_data = !s->pending.empty();
    const bool sync = has_data ? sync_all || s->mode == Mode::kFsync : sync_all && s->fd >= 0;
    if (!has_data && !sync) continue;
    if (has_data) RETURN_IF_ERROR(EnsureSegment(*s));
    work.push_back({s.get(), sync});
  }
  std::vector<IoOp> ops;
  uint64_t bytes_written = 0;
  uint64_t fsyncs = 0;
  bool nospace_reported = false;
  while (!work.empty()) {
    ops.clear();
    for (const Work& w : work) {
      ops.push_back({w.stream->fd, w.stream->size, w.stream->pending, w.sync});
    }
    const absl::Time start = absl::Now();
    backend_->Run(ops);
    const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
    if (options_.write_seconds != nullptr) options_.write_seconds->Observe(seconds);
    if (options_.fsync_seconds != nullptr &&
        std::any_of(ops.begin(), ops.end(), [](const IoOp& op) { return op.sync; })) {
      options_.fsync_seconds->Observe(seconds);
    }
    bool nospace = false;
    for (size_t i = 0; i < work.size(); ++i) {
      Stream& s = *work[i].stream;
      const IoOp& op = ops[i];
      if (op.written < 0) {
        const int err = static_cast<int>(-op.written);
        const std::string path = s.files.LogPath(s.files.logs.back());
        if (err != ENOSPC) {
          return absl::InternalError(absl::StrCat("write ", path, ": ", std::strerror(err)));
        }
        if (!nospace_reported) {
          nospace_reported = true;
          Log(LogLevel::kError, "disk full: WAL writes are retried; NOSPACE alarm raised",
              {{"file", path}});
          if (options_.on_nospace) options_.on_nospace();
        }
        nospace = true;
        continue;
      }
      const auto written = static_cast<uint64_t>(op.written);
      s.pending.erase(0, written);
      s.size += written;
      s.log_bytes += written;
      disk_bytes_.fetch_add(written, std::memory_order_relaxed);
      bytes_written += written;
      if (!s.pending.empty()) continue;  // a short write: the rest, and the sync, next round
      if (op.sync_result < 0) {
        return absl::InternalError(absl::StrCat("fdatasync ", s.files.LogPath(s.files.logs.back()),
                                                ": ", std::strerror(-op.sync_result)));
      }
      if (op.sync_result == 0) {
        ++fsyncs;
        work[i].sync = false;
      }
    }
    work.erase(std::remove_if(work.begin(), work.end(),
                              [](const Work& w) { return w.stream->pending.empty() && !w.sync; }),
               work.end());
    if (nospace) {
      absl::MutexLock lock(&mu_);
      if (stopping_) {
        return absl::ResourceExhaustedError("disk full while stopping; unwritten changes lost");
      }
      mu_.AwaitWithTimeout(absl::Condition(&stopping_), options_.nospace_retry);
    }
  }
  absl::MutexLock lock(&mu_);
  stats_.bytes_written += bytes_written;
  stats_.fsyncs += fsyncs;
  return absl::OkStatus();
}

void Wal::Fail(absl::Status status) {
  Log(LogLevel::kError, "WAL failed: no further writes are accepted",
      {{"error", std::string(status.message())}});
  decltype(waiters_) waiters;
  absl::Status error = absl::UnavailableError(
      absl::StrCat("rametcd: write-ahead log failed, writes are refused: ", status.message()));
  {
    absl::MutexLock lock(&mu_);
    failed_ = error;
    waiters.swap(waiters_);
    queue_.clear();
  }
  failed_flag_.store(true, std::memory_order_release);
  for (auto& [ticket, done] : waiters) std::move(done)(error);
  for (auto& [name, s] : streams_) s->pending.clear();
}

void Wal::FinishBatch(uint64_t ticket, size_t bytes) {
  decltype(waiters_) ready;
  {
    absl::MutexLock lock(&mu_);
    ++stats_.batches;
    if (ticket > durable_ticket_.load(std::memory_order_relaxed)) {
      durable_ticket_.store(ticket, std::memory_order_release);
    }
    const uint64_t durable = durable_ticket_.load(std::memory_order_relaxed);
    while (!waiters_.empty() && waiters_.front().first <= durable) {
      ready.push_back(std::move(waiters_.front()));
      waiters_.pop_front();
    }
  }
  backlog_bytes_.fetch_sub(bytes, std::memory_order_relaxed);
  for (auto& [t, done] : ready) std::move(done)(absl::OkStatus());
}

void Wal::Defragment() {
  absl::MutexLock lock(&mu_);
  defragment_ = true;
}

void Wal::MaybeCheckpoint(Stream& s, bool force) {
  if (s.checkpointing || s.files.logs.empty()) return;
  // A compaction that the stream's checkpoint has not applied yet is worth a checkpoint soon.
  const bool compacted = compacted_ > s.checkpoint_compacted;
  const uint64_t threshold = force       ? 0
                             : compacted ? options_.checkpoint_after_compaction_bytes
                                         : std::max(options_.segment_bytes, s.checkpoint_bytes);
  const bool full = s.size >= options_.segment_bytes;
  if (!force && !full && !(compacted && s.log_bytes >= threshold)) return;
  // Close the current segment: it is complete, and the next write opens a new one.
  if (s.fd >= 0) ::close(s.fd);
  s.fd = -1;
  if (s.log_bytes < threshold) return;
  s.checkpointing = true;
  s.checkpoint_compacted = compacted_;
  absl::MutexLock lock(&mu_);
  checkpoint_jobs_.push_back({&s, s.files, s.files.logs.back(), compacted_});
}

void Wal::TakeCheckpointResults() {
  std::vector<CheckpointDone> done;
  {
    absl::MutexLock lock(&mu_);
    done.swap(checkpoint_done_);
    for (const CheckpointDone& d : done) {
      if (d.bytes.ok()) ++stats_.checkpoints;
    }
  }
  for (CheckpointDone& d : done) {
    Stream& s = *d.stream;
    s.checkpointing = false;
    if (!d.bytes.ok()) {
      Log(LogLevel::kError, "checkpoint failed; the stream's log segments are kept",
          {{"stream", s.name}, {"error", std::string(d.bytes.status().message())}});
      continue;
    }
    s.files.checkpoint = d.seq;
    s.files.logs.erase(s.files.logs.begin(),
                       std::upper_bound(s.files.logs.begin(), s.files.logs.end(), d.seq));
    const uint64_t before = s.checkpoint_bytes + s.log_bytes;
    s.checkpoint_bytes = *d.bytes;
    s.log_bytes -= std::min(s.log_bytes, d.replaced_log_bytes);
    const uint64_t after = s.checkpoint_bytes + s.log_bytes;
    if (after >= before) {
      disk_bytes_.fetch_add(after - before, std::memory_order_relaxed);
    } else {
      disk_bytes_.fetch_sub(before - after, std::memory_order_relaxed);
    }
  }
}

void Wal::Run() {
  std::vector<Item> batch;
  while (true) {
    bool stop = false;
    bool defragment = false;
    {
      absl::MutexLock lock(&mu_);
      auto has_work = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return !queue_.empty() || stopping_ || !checkpoint_done_.empty() || defragment_;
      };
      mu_.Await(absl::Condition(&has_work));
      // Let buffered changes gather for the flush interval unless an fsync waiter is queued.
      auto urgent = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return urgent_ || stopping_; };
      if (!queue_.empty() && !urgent()) {
        mu_.AwaitWithTimeout(absl::Condition(&urgent), options_.flush_interval);
      }
      batch.swap(queue_);
      urgent_ = false;
      stop = stopping_;
      defragment = std::exchange(defragment_, false);
    }
    TakeCheckpointResults();
    if (failed_flag_.load(std::memory_order_acquire)) {
      batch.clear();
      if (stop) return;
      continue;
    }
    uint64_t ticket = 0;
    size_t bytes = 0;
    Encode(batch, &ticket, &bytes);
    batch.clear();
    absl::Status status = WriteOut(stop);
    if (!status.ok()) {
      backlog_bytes_.fetch_sub(bytes, std::memory_order_relaxed);
      Fail(status);
      if (stop) return;
      continue;
    }
    FinishBatch(ticket, bytes);
    if (stop) {
      absl::MutexLock lock(&mu_);
      if (queue_.empty()) return;
      continue;
    }
    for (auto& [name, s] : streams_) {
      if (s->fd >= 0 || defragment) MaybeCheckpoint(*s, defragment);
    }
  }
}

Wal::CheckpointDone Wal::RunCheckpoint(const CheckpointJob& job) {
  const absl::Time start = absl::Now();
  CheckpointDone done{job.stream, job.seq, absl::UnknownError("not run"), 0};
  {
    auto state = ReplayStream(job.files, job.seq, /*skip_damaged=*/false);
    if (!state.ok()) {
      done.bytes = state.status();
      return done;
    }
    CompactState(job.compacted, &*state);
    done.replaced_log_bytes = state->read.log_bytes;
    done.bytes = WriteCheckpoint(job.files, job.seq, *state);
    if (done.bytes.ok()) {
      Log(LogLevel::kInfo, "stream checkpointed",
          {{"stream", job.files.stream},
           {"keys", std::to_string(state->keys.size())},
           {"bytes", std::to_string(*done.bytes)},
           {"replaced_log_bytes", std::to_string(done.replaced_log_bytes)},
           {"took", absl::FormatDuration(absl::Now() - start)}});
    }
  }
  // The replayed state (a whole stream's data) is freed now; glibc would keep its pages in this
  // thread's arena, so the process's resident memory would stay at its peak.
  ::malloc_trim(0);
  return done;
}

void Wal::RunCheckpoints() {
  while (true) {
    CheckpointJob job;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return !checkpoint_jobs_.empty() || stopping_;
      };
      mu_.Await(absl::Condition(&ready));
      if (checkpoint_jobs_.empty()) return;
      job = std::move(checkpoint_jobs_.front());
      checkpoint_jobs_.pop_front();
    }
    CheckpointDone done = RunCheckpoint(job);
    absl::MutexLock lock(&mu_);
    checkpoint_done_.push_back(std::move(done));
  }
}

}  // namespace rametcd::wal
