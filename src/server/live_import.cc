#include "server/live_import.h"

#include <algorithm>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "base/etcd_errors.h"
#include "base/logging.h"
#include "base/status_macros.h"
#include "migrate/data_dir_from_backend.h"
#include "wal/layout.h"

namespace rametcd::server {
namespace {

// Keys per page of the initial copy (kube-apiserver pages lists by 500 too).
constexpr int64_t kPageKeys = 500;
// Attempts at the initial copy when the source compacts the revision being read meanwhile.
constexpr int kCopyAttempts = 5;
constexpr absl::Duration kPollInterval = absl::Seconds(1);
constexpr int kLeaseSyncEveryPolls = 5;
constexpr int kLogEveryPolls = 10;
constexpr absl::Duration kMaxReconnectDelay = absl::Seconds(5);

// Reads the source's state at its oldest readable revision into `backend`.
absl::Status ReadInitialState(SourceEtcd& source, snapshot::EtcdBackend* backend) {
  ASSIGN_OR_RETURN(int64_t current, source.CurrentRevision());
  ASSIGN_OR_RETURN(int64_t oldest, source.OldestReadableRevision(current));
  backend->keys.clear();
  RETURN_IF_ERROR(source.RangeAll(oldest, kPageKeys, [&](std::vector<mvccpb::KeyValue>& page) {
    for (mvccpb::KeyValue& kv : page) {
      snapshot::EtcdBackend::KeyRecord& record = backend->keys.emplace_back();
      record.main = kv.mod_revision();
      record.kv = std::move(kv);
    }
    return absl::OkStatus();
  }));
  // etcd's key bucket order: by revision; the changes of one revision get sub-revisions in key
  // order (the order etcd made them in is not visible through a read).
  std::sort(backend->keys.begin(), backend->keys.end(), [](const auto& a, const auto& b) {
    return a.main != b.main ? a.main < b.main : a.kv.key() < b.kv.key();
  });
  for (size_t i = 0; i < backend->keys.size(); ++i) {
    backend->keys[i].sub = i > 0 && backend->keys[i - 1].main == backend->keys[i].main
                               ? backend->keys[i - 1].sub + 1
                               : 0;
  }
  // Revision 1 readable: never compacted, and the history from 2 on is all in the watch.
  backend->compacted_revision = oldest > 1 ? oldest : 0;
  int64_t leases_at = 0;
  ASSIGN_OR_RETURN(std::vector<SourceEtcd::Lease> leases, source.Leases(&leases_at));
  backend->leases.clear();
  for (const SourceEtcd::Lease& lease : leases) {
    backend->leases.push_back({lease.id, lease.granted_ttl});
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status LiveImport::CopyInitialState(SourceEtcd& source, const std::string& wal_dir) {
  ASSIGN_OR_RETURN(std::vector<wal::StreamFiles> streams, wal::ListStreams(wal_dir));
  if (!streams.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "--import-from needs an empty data dir, but ", wal_dir,
        " already holds data (an earlier import or a member's own data): start without "
        "--import-from to serve it, or empty the data dir to import again"));
  }
  const absl::Time start = absl::Now();
  snapshot::EtcdBackend backend;
  absl::Status read;
  for (int attempt = 1; attempt <= kCopyAttempts; ++attempt) {
    read = ReadInitialState(source, &backend);
    // The source compacted the revision being read: find the new oldest one and read again.
    if (read.ok() || read.message() != etcd_errors::Compacted().message()) break;
  }
  if (!read.ok()) {
    return absl::Status(
        read.code(), absl::StrCat("cannot copy the etcd at ", source.url(), ": ", read.message()));
  }
  ASSIGN_OR_RETURN(migrate::DataDirSummary written, migrate::WriteWalFromBackend(backend, wal_dir));
  Log(LogLevel::kInfo, "live import: copied the source",
      {{"source", source.url()},
       {"revision", std::to_string(written.revision)},
       {"compact-revision", std::to_string(written.compacted)},
       {"keys", std::to_string(written.keys)},
       {"leases", std::to_string(written.leases)},
       {"bytes", std::to_string(written.bytes)},
       {"took", absl::FormatDuration(absl::Now() - start)}});
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<LiveImport>> LiveImport::Start(std::unique_ptr<SourceEtcd> source,
                                                              ApplyLoop* loop,
                                                              metrics::Registry* registry) {
  const std::string reason =
      absl::StrCat("rametcd: read-only: following the etcd at ", source->url(),
                   " (live import); writes are accepted once it is promoted (SIGUSR1)");
  int64_t revision = 0;
  RETURN_IF_ERROR(loop->RunAndWait([&](ApplyLoop::Engine& engine) {
    engine.read_only = reason;
    revision = engine.store.revision();
    return absl::OkStatus();
  }));
  std::unique_ptr<LiveImport> import(new LiveImport(std::move(source), loop, revision));
  LiveImport* self = import.get();
  import->metrics_.push_back(registry->AddCallbackGauge(
      "rametcd_import_source_revision", "The revision of the etcd being imported (live import).",
      [self] { return static_cast<double>(self->source_revision_.load());
}));
  import->metrics_.push_back(registry->AddCallbackGauge(
      "rametcd_import_applied_revision", "The source's revisions applied here so far.",
      [self] { return static_cast<double>(self->applied_.load());
  }  // namespace rametcd::server
));
  import->metrics_.push_back(registry->AddCallbackGauge(
      "rametcd_import_lag_revisions", "Revisions the source has that are not applied here yet.",
      [self] { return static_cast<double>(self->lag());
  }));
  import->metrics_.push_back(registry->AddCallbackGauge(
      "rametcd_import_following",
      "1 while this member follows the source (read-only), 0 once promoted or failed.",
      [self] { return self->promoted_ || self->failed_ ? 0.0 : 1.0;
  }));
  import->metrics_.push_back(registry->AddCallbackGauge(
      "rametcd_import_failed", "1 when following stopped for good (see the log).",
      [self] { return self->failed_ ? 1.0 : 0.0;
  }));
  import->follower_ = std::thread([self] { self->Follow();
  });
  import->poller_ = std::thread([self] { self->Poll();
  });
  Log(LogLevel::kInfo, "live import: following the source read-only",
      {{"source", self->source_->url()}, {"from-revision", std::to_string(revision + 1)}});
  return import;
  }

  LiveImport::LiveImport(std::unique_ptr<SourceEtcd> source, ApplyLoop* loop, int64_t applied)
      : source_(std::move(source)), loop_(loop), applied_(applied), source_revision_(applied) {}

  LiveImport::~LiveImport() { Stop(); }

  void LiveImport::Stop() {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
      if (watch_ != nullptr) watch_->Cancel();
    }
    if (follower_.joinable()) follower_.join();
    if (poller_.joinable()) poller_.join();
  }

  int64_t LiveImport::lag() const { return std::max<int64_t>(0, source_revision_ - applied_); }

  bool LiveImport::SleepFor(absl::Duration d) {
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithTimeout(absl::Condition(&stopping_), d);
    return !stopping_;
  }

  void LiveImport::Follow() {
    absl::Duration delay = absl::Milliseconds(100);
    while (true) {
      auto watch = source_->OpenWatch();
      {
        absl::MutexLock lock(&mu_);
        if (stopping_) return;
        watch_ = watch.get();
      }
      absl::Status status = watch->Start(applied_ + 1);
      bool fatal = false;
      while (status.ok()) {
        absl::StatusOr<etcdserverpb::WatchResponse> response = watch->Read();
        if (!response.ok()) {
          status = response.status();
          break;
        }
        delay = absl::Milliseconds(100);
        if (response->compact_revision() != 0 || response->canceled()) {
          status = absl::DataLossError(
              absl::StrCat("the source compacted revision ", response->compact_revision(),
                           " before it was imported (applied revision ", applied_.load(),
                           "); the import cannot continue: empty the data dir and import again"));
          fatal = true;
          break;
        }
        source_revision_ = std::max(source_revision_.load(), response->header().revision());
        if (response->events().empty()) continue;
        status = Apply(*response);
        fatal = !status.ok();
      }
      {
        absl::MutexLock lock(&mu_);
        watch_ = nullptr;
        if (stopping_) return;
      }
      if (fatal) {
        failed_ = true;
        Log(LogLevel::kError, "live import: following stopped; serving reads at the last revision",
            {{"source", source_->url()},
             {"applied-revision", std::to_string(applied_)},
             {"error", std::string(status.message())}});
        return;
      }
      Log(LogLevel::kWarn, "live import: the watch on the source broke; reconnecting",
          {{"source", source_->url()},
           {"error", std::string(status.message())},
           {"retry-in", absl::FormatDuration(delay)}});
      if (!SleepFor(delay)) return;
      delay = std::min(2 * delay, kMaxReconnectDelay);
    }
  }

  absl::Status LiveImport::Apply(etcdserverpb::WatchResponse& response) {
    auto& events = *response.mutable_events();
    // Leases the events attach keys to must exist first; ask the source for the ones missing here.
    absl::flat_hash_set<int64_t> referenced;
    for (const mvccpb::Event& e : events) {
      if (e.type() == mvccpb::Event::PUT && e.kv().lease() != 0) referenced.insert(e.kv().lease());
    }
    std::vector<int64_t> missing;
    if (!referenced.empty()) {
      RETURN_IF_ERROR(loop_->RunAndWait([&](ApplyLoop::Engine& engine) {
        for (int64_t id : referenced) {
          if (!engine.store.LeaseExists(id)) missing.push_back(id);
        }
        return absl::OkStatus();
      }));
    }
    std::vector<SourceEtcd::Lease> grants;
    for (int64_t id : missing) {
      ASSIGN_OR_RETURN(std::optional<int64_t> ttl, source_->GrantedTtl(id));
      // A lease already revoked on the source: its keys come unattached, and their deletion
      // follows.
      if (ttl) grants.push_back({id, *ttl});
    }
    int64_t last = 0;
    size_t orphans = 0;
    bool backlogged = false;
    auto apply = [&](ApplyLoop::Engine& engine) -> absl::Status {
      // The WAL's backlog bounds imported changes as it bounds client writes: wait for the disk.
      if (absl::Status admit = engine.wal == nullptr ? absl::OkStatus() : engine.wal->Admit();
          !admit.ok()) {
        if (engine.wal->stats().failed) return admit;
        backlogged = true;
        return absl::OkStatus();
      }
      backlogged = false;
      for (const SourceEtcd::Lease& lease : grants) {
        if (!engine.store.LeaseExists(lease.id)) {
          RETURN_IF_ERROR(engine.lessor.Grant(lease.id, lease.granted_ttl, absl::Now()).status());
        }
      }
      // One ApplyReplicated per revision: events of a revision are consecutive.
      std::vector<mvccpb::Event> changes;
      for (int i = 0; i < events.size();) {
        const int64_t revision = events[i].kv().mod_revision();
        changes.clear();
        for (; i < events.size() && events[i].kv().mod_revision() == revision; ++i) {
          changes.push_back(std::move(events[i]));
        }
        RETURN_IF_ERROR(engine.store.ApplyReplicated(revision, changes, &orphans));
        last = revision;
      }
      return absl::OkStatus();
    };
    do {
      RETURN_IF_ERROR(loop_->RunAndWait(apply));
    } while (backlogged && SleepFor(absl::Milliseconds(10)));
    if (backlogged) return absl::CancelledError("stopped while the WAL was backlogged");
    if (orphans > 0) {
      Log(LogLevel::kWarn, "live import: keys of a lease the source no longer has",
          {{"keys", std::to_string(orphans)}, {"revision", std::to_string(last)}});
    }
    applied_ = last;
    return absl::OkStatus();
  }

  void LiveImport::Poll() {
    for (int poll = 1; SleepFor(kPollInterval); ++poll) {
      absl::StatusOr<int64_t> revision = source_->CurrentRevision();
      if (revision.ok()) source_revision_ = std::max(source_revision_.load(), *revision);
      if (poll % kLeaseSyncEveryPolls == 0 && !failed_) {
        if (absl::Status s = SyncLeases(); !s.ok()) {
          Log(LogLevel::kWarn, "live import: cannot sync leases with the source",
              {{"error", std::string(s.message())}});
        }
      }
      if (poll % kLogEveryPolls == 0) {
        Log(LogLevel::kInfo, failed_ ? "live import: failed, read-only" : "live import: following",
            {{"source", source_->url()},
             {"source-revision", std::to_string(source_revision_)},
             {"applied-revision", std::to_string(applied_)},
             {"lag", std::to_string(lag())},
             {"source-reachable", revision.ok() ? "true" : "false"}});
      }
    }
  }

  absl::Status LiveImport::SyncLeases() {
    int64_t listed_at = 0;
    ASSIGN_OR_RETURN(std::vector<SourceEtcd::Lease> leases, source_->Leases(&listed_at));
    return loop_->RunAndWait([&](ApplyLoop::Engine& engine) -> absl::Status {
      absl::flat_hash_set<int64_t> listed;
      for (const SourceEtcd::Lease& lease : leases) {
        listed.insert(lease.id);
        if (!engine.store.LeaseExists(lease.id)) {
          RETURN_IF_ERROR(engine.lessor.Grant(lease.id, lease.granted_ttl, absl::Now()).status());
        }
      }
      // A lease the source revoked before `listed_at` had its keys deleted by then; dropping it
      // here deletes nothing more (no revision), as long as those deletions are applied.
      if (engine.store.revision() < listed_at) return absl::OkStatus();
      for (int64_t id : engine.lessor.Leases()) {
        if (!listed.contains(id) && engine.store.LeaseKeys(id).empty()) {
          RETURN_IF_ERROR(engine.lessor.Revoke(id));
        }
      }
      return absl::OkStatus();
    });
  }

  absl::Status LiveImport::Promote(absl::Duration catch_up) {
    if (promoted_) return absl::FailedPreconditionError("the live import was already promoted");
    absl::StatusOr<int64_t> target = source_->CurrentRevision();
    if (target.ok()) {
      source_revision_ = std::max(source_revision_.load(), *target);
      const absl::Time deadline = absl::Now() + catch_up;
      while (applied_ < *target && !failed_ && absl::Now() < deadline) {
        absl::SleepFor(absl::Milliseconds(10));
      }
    }
    Stop();
    if (target.ok()) {
      if (absl::Status s = SyncLeases(); !s.ok()) {
        Log(LogLevel::kWarn, "live import: cannot sync leases before promotion",
            {{"error", std::string(s.message())}});
      }
    }
    if (!target.ok() || applied_ < *target) {
      Log(LogLevel::kWarn, "live import: promoting without having caught up with the source",
          {{"applied-revision", std::to_string(applied_)},
           {"source-revision", target.ok() ? std::to_string(*target) : "unknown"},
           {"error", target.ok() ? "" : std::string(target.status().message())}});
    }
    int64_t leases = 0;
    RETURN_IF_ERROR(loop_->RunAndWait([&](ApplyLoop::Engine& engine) {
      // Leases get their full TTL from now, as etcd gives them when a member restarts.
      const absl::Time now = absl::Now();
      for (int64_t id : engine.lessor.Leases()) {
        engine.lessor.Restore(id, engine.lessor.Remaining(id, now).granted, now);
        ++leases;
      }
      engine.read_only.clear();
      return absl::OkStatus();
    }));
    promoted_ = true;
    Log(LogLevel::kInfo, "live import: promoted; accepting writes",
        {{"source", source_->url()},
         {"revision", std::to_string(applied_)},
         {"leases", std::to_string(leases)}});
    return absl::OkStatus();
  }

  }  // namespace rametcd::server
