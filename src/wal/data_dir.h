// DataDir: the member's data directory, created if missing and locked for the life of the
// process so that two servers never share one (etcd locks its WAL the same way); the offline
// commands of rametcd-recover take the same lock before they change files.
//
// Thread safety: immutable after Open().
#ifndef RAMETCD_WAL_DATA_DIR_H_
#define RAMETCD_WAL_DATA_DIR_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace rametcd::wal {

class DataDir {
 public:
  // Creates `path` (and parents) if needed and takes an exclusive lock on `path`/rametcd.lock.
  static absl::StatusOr<std::unique_ptr<DataDir>> Open(const std::string& path);
  ~DataDir();
  DataDir(const DataDir&) = delete;
  DataDir& operator=(const DataDir&) = delete;

  const std::string& path() const { return path_; }

 private:
  DataDir(std::string path, int lock_fd) : path_(std::move(path)), lock_fd_(lock_fd) {}

  const std::string path_;
  const int lock_fd_;  // holds the flock; closed on destruction
};

}  // namespace rametcd::wal

#endif  // RAMETCD_WAL_DATA_DIR_H_
