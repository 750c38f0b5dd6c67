// Where rametcd's durable state lives under --data-dir, and the names of its streams.
//
//   <data-dir>/wal/<stream-dir>/<seq>.log    log segments of one stream, seq = 16 hex digits
//   <data-dir>/wal/<stream-dir>/<seq>.ckpt   a checkpoint: the stream's state up to segment seq
//   *.tmp                                    a file being written; ignored and removed on start
//
// A stream is one append-only series of segments. Its name is the Kubernetes resource prefix
// of its keys ("/registry/pods/", "/registry/apiextensions.k8s.io/customresourcedefinitions/"),
// "_other" for all keys outside a resource prefix, or "_meta" for leases, compactions and revision
// marks. Stream directory names are the stream names with every byte outside [A-Za-z0-9._-] written
// as %XX.
//
// A stream's live files are its newest checkpoint (if any) and every log segment with a higher
// seq; older files are garbage left by an interrupted checkpoint and are deleted on start.
//
// Thread safety: pure functions.
#ifndef RAMETCD_WAL_LAYOUT_H_
#define RAMETCD_WAL_LAYOUT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace rametcd::wal {

inline constexpr std::string_view kOtherStream = "_other";
inline constexpr std::string_view kMetaStream = "_meta";

// The stream that holds `key`.
std::string_view StreamOfKey(std::string_view key);

std::string WalDir(std::string_view data_dir);
std::string StreamDirName(std::string_view stream);
// Errors: InvalidArgument for a name that is not an encoded stream name.
absl::StatusOr<std::string> StreamNameFromDir(std::string_view dir_name);
std::string SegmentFileName(uint64_t seq, bool checkpoint);

// The files of one stream directory.
struct StreamFiles {
  std::string dir;                     // full path
  std::string stream;                  // decoded name
  std::optional<uint64_t> checkpoint;  // seq of the newest checkpoint
  std::vector<uint64_t> logs;          // seqs of live log segments, ascending
  std::vector<std::string> garbage;    // full paths of superseded and temporary files

  std::string LogPath(uint64_t seq) const;
  std::string CheckpointPath() const;
};

// Lists every stream under `wal_dir` (none if it does not exist), in stream-name order.
// Errors: unreadable directories, file names that are not rametcd's.
absl::StatusOr<std::vector<StreamFiles>> ListStreams(const std::string& wal_dir);

}  // namespace rametcd::wal

#endif  // RAMETCD_WAL_LAYOUT_H_
