// IoBackend: how the WAL writer thread puts bytes on disk. One call writes a batch: a write per
// stream file, each optionally followed by an fdatasync of that file.
//
// Two implementations: io_uring (liburing; the whole batch is one submission, each fsync linked
// to its write, so a batch costs one syscall however many files it touches) and plain
// pwrite/fdatasync, used when io_uring is unavailable (old kernel, seccomp) or asked for. Tests
// wrap either in a fault-injecting backend (short writes, EIO, ENOSPC, failed fsync).
//
// Thread safety: one thread (the WAL writer) uses a backend.
#ifndef RAMETCD_WAL_IO_BACKEND_H_
#define RAMETCD_WAL_IO_BACKEND_H_

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "absl/status/statusor.h"

namespace rametcd::wal {

struct IoOp {
  int fd = -1;
  uint64_t offset = 0;
  std::string_view data;
  bool sync = false;
  // Results: bytes written (may be short) or -errno; 0 or -errno for the fdatasync (left at 1
  // when the sync was not attempted because the write did not complete).
  int64_t written = 0;
  int sync_result = 1;
};

class IoBackend {
 public:
  virtual ~IoBackend() = default;
  virtual std::string_view name() const = 0;
  // Runs every op; ops on different files may run concurrently. Fills each op's results.
  virtual void Run(std::span<IoOp> ops) = 0;
};

enum class IoKind { kAuto, kUring, kPosix };

// Errors: InvalidArgument for an unknown name (auto, io_uring, posix).
absl::StatusOr<IoKind> ParseIoKind(std::string_view name);

// kAuto tries io_uring and falls back to posix, logging one line that says why. Errors: kUring
// when io_uring cannot be set up.
absl::StatusOr<std::unique_ptr<IoBackend>> MakeIoBackend(IoKind kind);

}  // namespace rametcd::wal

#endif  // RAMETCD_WAL_IO_BACKEND_H_
