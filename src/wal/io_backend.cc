#include "wal/io_backend.h"

#include <liburing.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "base/absl_view.h"
#include "base/logging.h"

namespace rametcd::wal {
namespace {

class PosixBackend : public IoBackend {
 public:
  std::string_view name() const override { return "posix"; }
  void Run(std::span<IoOp> ops) override {
    for (IoOp& op : ops) {
      ssize_t n = ::pwrite(op.fd, op.data.data(), op.data.size(), static_cast<off_t>(op.offset));
      op.written = n < 0 ? -errno : n;
      op.sync_result = 1;
      if (op.sync && op.written == static_cast<int64_t>(op.data.size())) {
        op.sync_result = ::fdatasync(op.fd) == 0 ? 0 : -errno;
      }
    }
  }
};

class UringBackend : public IoBackend {
 public:
  static constexpr unsigned kEntries = 256;

  ~UringBackend() override { io_uring_queue_exit(&ring_); }
  // Returns 0 or -errno.
  int Init() { return io_uring_queue_init(kEntries, &ring_, 0); }

  std::string_view name() const override { return "io_uring"; }

  void Run(std::span<IoOp> ops) override {
    // Each op takes one or two entries; submit in chunks that fit the ring.
    size_t next = 0;
    while (next < ops.size()) {
      unsigned queued = 0;
      const size_t first = next;
      while (next < ops.size() && queued + 2 <= kEntries) {
        IoOp& op = ops[next];
        op.written = 0;
        op.sync_result = 1;
        io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
        io_uring_prep_write(sqe, op.fd, op.data.data(), static_cast<unsigned>(op.data.size()),
                            op.offset);
        io_uring_sqe_set_data64(sqe, next << 1);
        ++queued;
        if (op.sync) {
          sqe->flags |= IOSQE_IO_LINK;  // a short or failed write cancels the fsync
          io_uring_sqe* sync = io_uring_get_sqe(&ring_);
          io_uring_prep_fsync(sync, op.fd, IORING_FSYNC_DATASYNC);
          io_uring_sqe_set_data64(sync, (next << 1) | 1);
          ++queued;
        }
        ++next;
      }
      int rc = io_uring_submit_and_wait(&ring_, queued);
      while (rc == -EINTR) rc = io_uring_submit_and_wait(&ring_, 0);
      if (rc < 0) {
        // The ring itself failed: report every op of the chunk as failed with that error.
        for (size_t i = first; i < next; ++i) ops[i].written = rc;
        return;
      }
      for (unsigned done = 0; done < queued; ++done) {
        io_uring_cqe* cqe = nullptr;
        int wait = io_uring_wait_cqe(&ring_, &cqe);
        if (wait < 0) {
          for (size_t i = first; i < next; ++i) ops[i].written = wait;
          return;
        }
        const uint64_t tag = io_uring_cqe_get_data64(cqe);
        IoOp& op = ops[tag >> 1];
        if (tag & 1) {
          // -ECANCELED after a short write means "not attempted".
          op.sync_result = cqe->res == -ECANCELED ? 1 : cqe->res;
        } else {
          op.written = cqe->res;
        }
        io_uring_cqe_seen(&ring_, cqe);
      }
    }
  }

 private:
  io_uring ring_{};
};

}  // namespace

absl::StatusOr<IoKind> ParseIoKind(std::string_view name) {
  if (name == "auto") return IoKind::kAuto;
  if (name == "io_uring") return IoKind::kUring;
  if (name == "posix") return IoKind::kPosix;
  return absl::InvalidArgumentError(absl::StrCat("invalid WAL I/O backend \"", AbslView(name),
                                                 "\" (want auto, io_uring or posix)"));
}

absl::StatusOr<std::unique_ptr<IoBackend>> MakeIoBackend(IoKind kind) {
  if (kind == IoKind::kPosix) return std::make_unique<PosixBackend>();
  auto uring = std::make_unique<UringBackend>();
  const int rc = uring->Init();
  if (rc == 0) return uring;
  const std::string why = absl::StrCat("io_uring is unavailable: ", std::strerror(-rc));
  if (kind == IoKind::kUring) return absl::FailedPreconditionError(why);
  Log(LogLevel::kWarn, "io_uring is unavailable; the WAL writes with pwrite and fdatasync",
      {{"reason", why}});
  return std::make_unique<PosixBackend>();
}

}  // namespace rametcd::wal
