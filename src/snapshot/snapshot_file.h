// The sha256 trailer of an etcd snapshot file: `etcdctl snapshot save` (and the Snapshot RPC it
// reads) end the bbolt file with the 32-byte SHA-256 of everything before it, and `etcdctl
// snapshot restore` checks it. etcdctl's rule for noticing the trailer: a bbolt file is a whole
// number of pages (multiples of 512 bytes), so a file whose size % 512 == 32 has one; a file
// without it (a member's member/snap/db) is read as it is.
//
// The functions work on the caller's files only; they do not own or keep anything.
//
// Thread safety: safe to call concurrently on different files.
#ifndef RAMETCD_SNAPSHOT_SNAPSHOT_FILE_H_
#define RAMETCD_SNAPSHOT_SNAPSHOT_FILE_H_

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace rametcd::snapshot {

inline constexpr size_t kSha256TrailerBytes = 32;

// Appends the SHA-256 of the file's content (as etcd's Snapshot RPC does) and fsyncs the file.
// Errors name the path: NotFound for a missing file, Internal for other I/O errors.
absl::Status AppendSha256Trailer(const std::string& path);

// Whether the file ends in a sha256 trailer (etcdctl's size rule), checking it when it does.
// Errors name the path: DataLoss when the trailer does not match the content (naming both
// hashes), NotFound for a missing file, Internal for other I/O errors.
absl::StatusOr<bool> VerifySha256Trailer(const std::string& path);

}  // namespace rametcd::snapshot

#endif  // RAMETCD_SNAPSHOT_SNAPSHOT_FILE_H_
