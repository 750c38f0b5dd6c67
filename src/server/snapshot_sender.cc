#include "server/snapshot_sender.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/etcd_errors.h"
#include "base/logging.h"
#include "base/thread_name.h"
#include "openssl/evp.h"
#include "server/grpc_status.h"
#include "snapshot/backend_from_store.h"

namespace rametcd::server {
namespace {

// etcd's chunk size.
constexpr size_t kChunkBytes = 32 * 1024;
constexpr size_t kMaxQueuedChunks = 8;
constexpr char kFilePrefix[] = "snapshot-";
constexpr char kFileSuffix[] = ".tmp";

}  // namespace

// One Snapshot stream: the gRPC reactor and the chunk queue the worker fills. It owns itself
// (self_) until gRPC is done with it; the worker may hold it longer. After Finish, it never
// touches gRPC again (`finished_`), so a late Pump from the worker is harmless.
struct SnapshotSender::Transfer : public grpc::ServerWriteReactor<etcdserverpb::SnapshotResponse> {
  explicit Transfer(SnapshotSender* sender) : sender(sender) {}

  // Starts the next write or the Finish, if one is due and none is in flight.
  void Pump() {
    enum class Action { kNone, kWrite, kFinish } action = Action::kNone;
    grpc::Status status;
    {
      absl::MutexLock lock(&mu);
      if (finished_ || writing_) return;
      if (cancelled) {
        finished_ = true;
        action = Action::kFinish;
        status = grpc::Status::CANCELLED;
      } else if (!chunks.empty()) {
        current_ = std::move(chunks.front());
        chunks.pop_front();
        writing_ = true;
        action = Action::kWrite;
      } else if (produced) {
        finished_ = true;
        action = Action::kFinish;
        status = ToGrpcStatus(error);
      }
    }
    if (action == Action::kWrite) StartWrite(&current_);
    if (action == Action::kFinish) Finish(status);
  }

  // Worker: queues a chunk, waiting while the queue is full. False if the stream is gone.
  bool Push(etcdserverpb::SnapshotResponse chunk, const std::atomic<bool>& stopping) {
    {
      absl::MutexLock lock(&mu);
      auto room = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
        return chunks.size() < kMaxQueuedChunks || cancelled;
      };
      while (!mu.AwaitWithTimeout(absl::Condition(&room), absl::Milliseconds(100))) {
        if (stopping.load()) return false;
      }
      if (cancelled) return false;
      chunks.push_back(std::move(chunk));
    }
    Pump();
    return true;
  }

  // Worker: no more chunks; `status` is how the stream ends.
  void Close(absl::Status status) {
    {
      absl::MutexLock lock(&mu);
      produced = true;
      error = std::move(status);
    }
    Pump();
  }

  void OnWriteDone(bool ok) override {
    {
      absl::MutexLock lock(&mu);
      writing_ = false;
      if (!ok) cancelled = true;
    }
    Pump();
  }
  void OnCancel() override {
    {
      absl::MutexLock lock(&mu);
      cancelled = true;
    }
    Pump();
  }
  void OnDone() override {
    sender->StreamDone();
    auto last = std::move(self);  // may destroy this on return
  }

  SnapshotSender* const sender;
  std::shared_ptr<Transfer> self;
  absl::Mutex mu;
  std::deque<etcdserverpb::SnapshotResponse> chunks ABSL_GUARDED_BY(mu);
  bool produced ABSL_GUARDED_BY(mu) = false;
  bool cancelled ABSL_GUARDED_BY(mu) = false;
  absl::Status error ABSL_GUARDED_BY(mu);

 private:
  bool writing_ ABSL_GUARDED_BY(mu) = false;
  bool finished_ ABSL_GUARDED_BY(mu) = false;
  etcdserverpb::SnapshotResponse current_;  // the write in flight
};

SnapshotSender::SnapshotSender(std::string dir, const MemberIdentity& identity, ApplyLoop* loop)
    : dir_(std::move(dir)), identity_(identity), loop_(loop) {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir_, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.starts_with(kFilePrefix) && name.ends_with(kFileSuffix)) {
      std::filesystem::remove(entry.path(), ec);
    }
  }
  worker_ = std::thread([this] {
    NameThisThread("snapshot");
    Run();
  });
}

SnapshotSender::~SnapshotSender() { Stop(); }

void SnapshotSender::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  stop_flag_.store(true);
  if (worker_.joinable()) worker_.join();
}

void SnapshotSender::StreamDone() {
  absl::MutexLock lock(&mu_);
  --streams_;
}

grpc::ServerWriteReactor<etcdserverpb::SnapshotResponse>* SnapshotSender::Start(
    grpc::CallbackServerContext* ctx) {
  auto transfer = std::make_shared<Transfer>(this);
  transfer->self = transfer;
  bool admitted = false;
  {
    absl::MutexLock lock(&mu_);
    ++streams_;  // every stream, admitted or not, ends with OnDone's StreamDone
    admitted = streams_ <= kMaxStreams && !stopping_;
  }
  if (!admitted) {
    transfer->Close(etcd_errors::TooManyRequests());
    return transfer.get();
  }
  Transfer* reactor = transfer.get();
  const bool queued = loop_->Submit([this, transfer](ApplyLoop::Engine& engine) mutable {
    snapshot::ClusterInfo cluster;
    snapshot::EtcdBackend::Member member;
    member.id = identity_.member_id;
    member.name = identity_.name;
    member.peer_urls = identity_.peer_urls;
    member.client_urls = identity_.client_urls;
    cluster.members.push_back(std::move(member));
    cluster.consistent_index = static_cast<uint64_t>(engine.store.revision());
    auto backend = std::make_unique<snapshot::EtcdBackend>(
        snapshot::BackendFromStore(engine.store, engine.lessor, absl::Now(), cluster));
    absl::MutexLock lock(&mu_);
    jobs_.push_back({std::move(transfer), std::move(backend)});
  });
  if (!queued) reactor->Close(etcd_errors::TooManyRequests());
  return reactor;
}

void SnapshotSender::Run() {
  while (true) {
    Job job;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]()
                       ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_ || !jobs_.empty(); };
      mu_.Await(absl::Condition(&ready));
      if (stopping_) {
        for (Job& left : jobs_)
          left.transfer->Close(absl::UnavailableError("etcdserver: server stopped"));
        jobs_.clear();
        return;
      }
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    absl::Status status = Send(job);
    if (!status.ok()) {
      Log(LogLevel::kWarn, "snapshot not sent", {{"error", std::string(status.message())}});
    }
    job.transfer->Close(std::move(status));
  }
}

absl::Status SnapshotSender::Send(Job& job) {
  std::string path;
  {
    absl::MutexLock lock(&mu_);
    path = absl::StrCat(dir_, "/", kFilePrefix, ++files_, kFileSuffix);
  }
  const absl::Time start = absl::Now();
  absl::Status written = snapshot::WriteEtcdBackend(*job.backend, path);
  const size_t keys = job.backend->keys.size();
  job.backend.reset();
  const int fd = written.ok() ? ::open(path.c_str(), O_RDONLY | O_CLOEXEC) : -1;
  const int open_errno = errno;
  ::unlink(path.c_str());
  if (!written.ok()) return written;
  if (fd < 0) {
    return absl::InternalError(absl::StrCat("open ", path, ": ", std::strerror(open_errno)));
  }
  struct stat st {};
  ::fstat(fd, &st);
  const auto size = static_cast<uint64_t>(st.st_size);
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> sha(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  EVP_DigestInit_ex(sha.get(), EVP_sha256(), nullptr);
  uint64_t sent = 0;
  absl::Status status;
  std::string buf(kChunkBytes, '\0');
  while (sent < size) {
    const ssize_t n = ::pread(fd, buf.data(), std::min<uint64_t>(kChunkBytes, size - sent),
                              static_cast<off_t>(sent));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      status = absl::InternalError(
          absl::StrCat("read snapshot file: ", n < 0 ? std::strerror(errno) : "unexpected end"));
      break;
    }
    EVP_DigestUpdate(sha.get(), buf.data(), static_cast<size_t>(n));
    sent += static_cast<uint64_t>(n);
    etcdserverpb::SnapshotResponse chunk;
    chunk.set_remaining_bytes(size - sent);
    chunk.set_blob(buf.data(), static_cast<size_t>(n));
    if (!job.transfer->Push(std::move(chunk), stop_flag_)) {
      status = absl::CancelledError("the client went away");
      break;
    }
  }
  ::close(fd);
  if (!status.ok()) return status;
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_len = 0;
  EVP_DigestFinal_ex(sha.get(), digest, &digest_len);
  etcdserverpb::SnapshotResponse last;
  last.set_remaining_bytes(0);
  last.set_blob(reinterpret_cast<const char*>(digest), digest_len);
  if (!job.transfer->Push(std::move(last), stop_flag_)) {
    return absl::CancelledError("the client went away");
  }
  Log(LogLevel::kInfo, "snapshot sent",
      {{"bytes", std::to_string(size)},
       {"versions", std::to_string(keys)},
       {"took", absl::FormatDuration(absl::Now() - start)}});
  return absl::OkStatus();
}

}  // namespace rametcd::server
