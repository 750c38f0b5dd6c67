#include "snapshot/snapshot_file.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace rametcd::snapshot {
namespace {

constexpr size_t kChunkBytes = 1 << 20;

absl::Status Errno(const char* what, const std::string& path, int err) {
  const std::string message = absl::StrCat(what, " ", path, ": ", std::strerror(err));
  return err == ENOENT ? absl::NotFoundError(message) : absl::InternalError(message);
}

absl::StatusOr<uint64_t> FileSize(int fd, const std::string& path) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return Errno("stat", path, errno);
  return static_cast<uint64_t>(st.st_size);
}

// The SHA-256 (32 raw bytes) of the first `length` bytes of the open file.
absl::StatusOr<std::string> Sha256OfPrefix(int fd, const std::string& path, uint64_t length) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (ctx == nullptr || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) {
    return absl::InternalError("cannot set up SHA-256 (OpenSSL)");
  }
  std::string buffer(kChunkBytes, '\0');
  for (uint64_t done = 0; done < length;) {
    const ssize_t n = ::pread(fd, buffer.data(), std::min<uint64_t>(kChunkBytes, length - done),
                              static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Errno("read", path, errno);
    if (n == 0) return absl::InternalError(absl::StrCat("read ", path, ": the file shrank"));
    EVP_DigestUpdate(ctx.get(), buffer.data(), static_cast<size_t>(n));
    done += static_cast<uint64_t>(n);
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_len = 0;
  EVP_DigestFinal_ex(ctx.get(), digest, &digest_len);
  return std::string(reinterpret_cast<const char*>(digest), digest_len);
}

}  // namespace

absl::Status AppendSha256Trailer(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return Errno("open", path, errno);
  absl::Cleanup close_fd = [fd] { ::close(fd); };
  ASSIGN_OR_RETURN(const uint64_t size, FileSize(fd, path));
  ASSIGN_OR_RETURN(const std::string digest, Sha256OfPrefix(fd, path, size));
  for (size_t written = 0; written < digest.size();) {
    const ssize_t n = ::pwrite(fd, digest.data() + written, digest.size() - written,
                               static_cast<off_t>(size + written));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Errno("write", path, errno);
    written += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) return Errno("fsync", path, errno);
  return absl::OkStatus();
}

absl::StatusOr<bool> VerifySha256Trailer(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Errno("open", path, errno);
  absl::Cleanup close_fd = [fd] { ::close(fd); };
  ASSIGN_OR_RETURN(const uint64_t size, FileSize(fd, path));
  if (size % 512 != kSha256TrailerBytes) return false;
  const uint64_t content = size - kSha256TrailerBytes;
  ASSIGN_OR_RETURN(const std::string want, Sha256OfPrefix(fd, path, content));
  std::string trailer(kSha256TrailerBytes, '\0');
  const ssize_t n = ::pread(fd, trailer.data(), trailer.size(), static_cast<off_t>(content));
  if (n < 0) return Errno("read", path, errno);
  if (static_cast<size_t>(n) != trailer.size()) {
    return absl::InternalError(absl::StrCat("read ", path, ": the file shrank"));
  }
  if (trailer != want) {
    return absl::DataLossError(
        absl::StrCat(path, ": the sha256 trailer does not match the content: the first ", content,
                     " bytes hash to ", absl::BytesToHexString(want), ", the trailer says ",
                     absl::BytesToHexString(trailer), " (a damaged or incomplete snapshot)"));
  }
  return true;
}

}  // namespace rametcd::snapshot
