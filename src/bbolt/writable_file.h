// WritableFile: where a bbolt Writer puts its bytes. The Writer appends pages and finally
// overwrites the two meta pages at the start, so a file whose writing stopped half-way has no
// valid meta page and is rejected by every reader. Tests implement this interface to inject
// faults (short writes, ENOSPC, failing fsync).
//
// Thread safety: none; one writer uses a file.
#ifndef RAMETCD_BBOLT_WRITABLE_FILE_H_
#define RAMETCD_BBOLT_WRITABLE_FILE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace rametcd::bbolt {

class WritableFile {
 public:
  virtual ~WritableFile() = default;
  // Writes `data` after everything appended so far.
  virtual absl::Status Append(std::string_view data) = 0;
  // Overwrites bytes that were appended before. REQUIRES: offset + data.size() <= bytes appended.
  virtual absl::Status WriteAt(uint64_t offset, std::string_view data) = 0;
  // Makes everything written durable (fdatasync). A failure is permanent.
  virtual absl::Status Sync() = 0;
  virtual absl::Status Close() = 0;
};

// A new file at `path` (truncated if it exists), written with pwrite(2). Errors name the path:
// ResourceExhausted for ENOSPC, Internal for other I/O errors.
absl::StatusOr<std::unique_ptr<WritableFile>> NewPosixWritableFile(const std::string& path);

}  // namespace rametcd::bbolt

#endif  // RAMETCD_BBOLT_WRITABLE_FILE_H_
