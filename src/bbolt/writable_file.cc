#include "bbolt/writable_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/absl_view.h"

namespace rametcd::bbolt {
namespace {

absl::Status Errno(std::string_view what, const std::string& path, int err) {
  std::string msg = absl::StrCat(AbslView(what), " ", path, ": ", std::strerror(err));
  if (err == ENOSPC || err == EDQUOT) return absl::ResourceExhaustedError(msg);
  return absl::InternalError(msg);
}

class PosixWritableFile final : public WritableFile {
 public:
  PosixWritableFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  ~PosixWritableFile() override {
    if (fd_ >= 0) ::close(fd_);
  }

  absl::Status Append(std::string_view data) override {
    if (fd_ < 0) return Closed();
    absl::Status s = WriteFully(size_, data);
    if (s.ok()) size_ += data.size();
    return s;
  }

  absl::Status WriteAt(uint64_t offset, std::string_view data) override {
    if (fd_ < 0) return Closed();
    if (offset + data.size() > size_) {
      return absl::InvalidArgumentError(
          absl::StrCat("write at ", offset, "+", data.size(), " past the end of ", path_));
    }
    return WriteFully(offset, data);
  }

  absl::Status Sync() override {
    if (fd_ < 0) return Closed();
    if (::fdatasync(fd_) != 0) return Errno("fdatasync", path_, errno);
    return absl::OkStatus();
  }

  absl::Status Close() override {
    if (fd_ < 0) return absl::OkStatus();
    const int rc = ::close(std::exchange(fd_, -1));
    if (rc != 0) return Errno("close", path_, errno);
    return absl::OkStatus();
  }

 private:
  absl::Status Closed() const { return absl::FailedPreconditionError(path_ + ": file is closed"); }

  absl::Status WriteFully(uint64_t offset, std::string_view data) {
    while (!data.empty()) {
      const ssize_t n = ::pwrite(fd_, data.data(), data.size(), static_cast<off_t>(offset));
      if (n < 0) {
        if (errno == EINTR) continue;
        return Errno("write", path_, errno);
      }
      if (n == 0) return Errno("write", path_, EIO);
      data.remove_prefix(static_cast<size_t>(n));
      offset += static_cast<uint64_t>(n);
    }
    return absl::OkStatus();
  }

  const std::string path_;
  int fd_;
  uint64_t size_ = 0;
};

}  // namespace

absl::StatusOr<std::unique_ptr<WritableFile>> NewPosixWritableFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Errno("create", path, errno);
  return std::make_unique<PosixWritableFile>(path, fd);
}

}  // namespace rametcd::bbolt
