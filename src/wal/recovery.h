// Recovery: rebuilds the store and the leases from the data dir at startup.
//
// Every stream is read (stream_reader.h); checkpoints are installed key by key, then each stream's
// logged transactions in its order (a key lives in one stream, so its versions come oldest
// first), so versions, create revisions, leases and the current revision come back exactly; the
// watch history is rebuilt from the retained versions. A transaction that wrote several streams is
// applied only if every part is found (or lies inside that stream's checkpoint); if a part is
// missing (a crash between two files' appends), the transaction and everything after it in the
// streams holding its other parts are dropped and cut off the files: it was never acknowledged
// in fsync mode, and the rest of that batch goes with it. Torn tails are cut off with a warning.
// Leases come back with their full TTL (as etcd's do); the compaction point is restored.
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
  size_t torn_tails = 0;             // cut off
  size_t dropped_txns = 0;           // incomplete multi-stream transactions cut off
  size_t orphan_lease_keys = 0;      // keys whose lease was not found
  std::vector<std::string> skipped;  // corruption skipped with skip_damaged
  absl::Duration took;
};

absl::StatusOr<RecoverySummary> Recover(const RecoveryOptions& options, mvcc::Store* store,
                                        lease::Lessor* lessor, absl::Time now);

}  // namespace rametcd::wal

#endif  // RAMETCD_WAL_RECOVERY_H_
