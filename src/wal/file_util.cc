#include "wal/file_util.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "base/absl_view.h"

namespace rametcd::wal {
namespace {

constexpr size_t kFlushBytes = 4 << 20;

absl::Status Errno(std::string_view what, const std::string& path, int err) {
  std::string msg = absl::StrCat(AbslView(what), " ", path, ": ", std::strerror(err));
  if (err == ENOSPC) return absl::ResourceExhaustedError(msg);
  return absl::InternalError(msg);
}

}  // namespace

absl::Status SyncDir(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Errno("open", dir, errno);
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  return rc == 0 ? absl::OkStatus() : Errno("fsync", dir, err);
}

absl::Status TruncateFile(const std::string& path, uint64_t size) {
  if (::truncate(path.c_str(), static_cast<off_t>(size)) != 0)
    return Errno("truncate", path, errno);
  return absl::OkStatus();
}

absl::Status RemoveFile(const std::string& path) {
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return Errno("remove", path, errno);
  return absl::OkStatus();
}

absl::Status MakeDirs(const std::string& path) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) return absl::InternalError(absl::StrCat("create ", path, ": ", ec.message()));
  return absl::OkStatus();
}

absl::StatusOr<int> OpenForWrite(const std::string& path, bool create) {
  const int flags = O_WRONLY | O_CLOEXEC | (create ? O_CREAT | O_EXCL : 0);
  const int fd = ::open(path.c_str(), flags, 0644);
  if (fd < 0) return Errno("open", path, errno);
  return fd;
}

absl::StatusOr<SequentialFile> SequentialFile::Create(const std::string& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Errno("create", path, errno);
  return SequentialFile(path, fd);
}

SequentialFile::SequentialFile(SequentialFile&& other) noexcept
    : path_(std::move(other.path_)),
      fd_(std::exchange(other.fd_, -1)),
      pending_(std::move(other.pending_)),
      size_(other.size_) {}

SequentialFile::~SequentialFile() {
  if (fd_ >= 0) ::close(fd_);
}

absl::Status SequentialFile::Append(std::string* buffer) {
  size_ += buffer->size();
  if (pending_.empty()) {
    pending_.swap(*buffer);
  } else {
    pending_.append(*buffer);
  }
  buffer->clear();
  return pending_.size() >= kFlushBytes ? WritePending() : absl::OkStatus();
}

absl::Status SequentialFile::WritePending() {
  size_t done = 0;
  while (done < pending_.size()) {
    ssize_t n = ::write(fd_, pending_.data() + done, pending_.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno("write", path_, errno);
    }
    done += static_cast<size_t>(n);
  }
  pending_.clear();
  return absl::OkStatus();
}

absl::Status SequentialFile::SyncAndClose() {
  if (absl::Status s = WritePending(); !s.ok()) return s;
  if (::fdatasync(fd_) != 0) return Errno("fdatasync", path_, errno);
  const int fd = std::exchange(fd_, -1);
  if (::close(fd) != 0) return Errno("close", path_, errno);
  return absl::OkStatus();
}

}  // namespace rametcd::wal
