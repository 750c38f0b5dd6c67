// Small synchronous file helpers for the parts of the WAL that are not on the write path:
// checkpoints, segment creation and recovery's truncation. All return errors naming the path.
//
// Thread safety: none needed; each call or object works on its own file.
#ifndef RAMETCD_WAL_FILE_UTIL_H_
#define RAMETCD_WAL_FILE_UTIL_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace rametcd::wal {

// Makes `dir`'s entries (creations, renames, deletions) durable.
absl::Status SyncDir(const std::string& dir);
// Cuts the file to `size` bytes and makes that durable.
absl::Status TruncateFile(const std::string& path, uint64_t size);
absl::Status RemoveFile(const std::string& path);
absl::Status MakeDirs(const std::string& path);
// An O_WRONLY|O_APPEND-less descriptor for pwrite at known offsets. `create` fails if it exists.
absl::StatusOr<int> OpenForWrite(const std::string& path, bool create);

// Writes a new file sequentially through a bounded buffer (4 MiB).
class SequentialFile {
 public:
  static absl::StatusOr<SequentialFile> Create(const std::string& path);
  SequentialFile(SequentialFile&& other) noexcept;
  SequentialFile& operator=(SequentialFile&&) = delete;
  ~SequentialFile();

  // Takes `buffer`'s bytes (leaving it empty), writing them out once 4 MiB are pending.
  absl::Status Append(std::string* buffer);
  // Writes what is pending, fdatasyncs and closes.
  absl::Status SyncAndClose();
  uint64_t size() const { return size_; }

 private:
  SequentialFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  absl::Status WritePending();

  std::string path_;
  int fd_;
  std::string pending_;
  uint64_t size_ = 0;
};

}  // namespace rametcd::wal

#endif  // RAMETCD_WAL_FILE_UTIL_H_
