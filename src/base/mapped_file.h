// MappedFile: a whole file's bytes, memory-mapped read-only (private mapping), so that a reader of
// a large file (a bbolt database, a WAL segment or checkpoint) touches only the pages it reads and
// holds no copy of the file.
//
// The mapping reflects the file's size when it was opened. If another process truncates the
// file while it is mapped, touching the lost pages raises SIGBUS: callers map only files that no
// one is changing (snapshots, stopped servers' data).
//
// Thread safety: immutable after Open; data() may be read from any thread.
#ifndef RAMETCD_BASE_MAPPED_FILE_H_
#define RAMETCD_BASE_MAPPED_FILE_H_

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace rametcd {

class MappedFile {
 public:
  // How the mapping will be read: kSequential asks the kernel for aggressive read-ahead.
  enum class Access { kRandom, kSequential };

  // Errors: NotFound, PermissionDenied or Internal, naming the path; InvalidArgument for what is
  // not a regular file.
  static absl::StatusOr<std::unique_ptr<MappedFile>> Open(const std::string& path,
                                                          Access access = Access::kRandom);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  std::string_view data() const { return {static_cast<const char*>(addr_), size_}; }

 private:
  MappedFile(void* addr, size_t size) : addr_(addr), size_(size) {}

  void* addr_;  // nullptr for an empty file
  size_t size_;
};

}  // namespace rametcd

#endif  // RAMETCD_BASE_MAPPED_FILE_H_
