// Recovery: rebuilds the store and the leases from the data dir at startup.
//
// Every stream is read (stream_reader.h); checkpoints are installed key by key, then each stream's
// logged transactions in its order (a key lives in one stream, so its versions come oldest
// first), so versions, create revisions, leases and the current revision come back exactly; the
// watch history is rebuilt from the retained versions. Only whole WAL batches are loaded
// (batches.h): if a crash left a batch with a part missing in some stream, or a part without its
// end, that batch and everything after it are dropped and cut off the files (none of it was
// acknowledged in fsync mode), so the state loaded is the history up to a point, never a later
// write without an earlier one. Torn tails are cut off with a warning. Leases come back with
// their full TTL (as etcd's do); the compaction point is restored.
//
// Ownership: writes into the caller's Store and Lessor, before they serve anything.
#ifndef RAMETCD_WAL_RECOVERY_H_
#define RAMETCD_WAL_RECOVERY_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "lease/lessor.h"
#include "mvcc/store.h"
#include "wal/layout.h"

namespace rametcd::wal {

struct RecoveryOptions {
  std::string wal_dir;
  // Load what is readable past corrupt records instead of refusing to start.
  bool skip_damaged = false;
};

// What the writer needs to continue a stream.
struct RecoveredStream {
  StreamFiles files;      // after recovery's truncations and deletions
  uint64_t last_log_end;  // valid length of files.logs.back(), if any
  uint64_t log_bytes;     // bytes in log segments since the checkpoint
  uint64_t checkpoint_bytes;
};

struct RecoverySummary {
  std::vector<RecoveredStream> streams;
  int64_t revision = 1;
  int64_t compacted = -1;
  size_t keys = 0;  // live keys
  size_t leases = 0;
  uint64_t records = 0;
  uint64_t bytes = 0;
  size_t torn_tails = 0;  // cut off
  // Why an incomplete batch (and what followed it) was cut off, one line per finding.
  std::vector<std::string> incomplete_batches;
  uint64_t last_batch = 0;           // the newest WAL batch loaded; the writer continues after it
  size_t orphan_lease_keys = 0;      // keys whose lease was not found
  std::vector<std::string> skipped;  // corruption skipped with skip_damaged
  absl::Duration took;
};

absl::StatusOr<RecoverySummary> Recover(const RecoveryOptions& options, mvcc::Store* store,
                                        lease::Lessor* lessor, absl::Time now);

}  // namespace rametcd::wal

#endif  // RAMETCD_WAL_RECOVERY_H_
