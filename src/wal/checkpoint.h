// Checkpoints: a stream's files rewritten as one compact file, so that disk use and restart time
// follow the live data rather than the whole history.
//
// ReplayStream() rebuilds a stream's state from its checkpoint and log segments up to a given
// segment; CompactState() drops the versions a compaction released; WriteCheckpoint() writes the
// state as `<seq>.ckpt` (through a .tmp file, fdatasync, rename, directory fsync) and only then
// deletes the files it replaces, so a crash at any point leaves either the old files or the new
// checkpoint (plus garbage that the next start removes).
//
// Used online by the WAL's checkpointer thread (on segments the writer has closed) and offline
// by `rametcd-recover compact`. Memory: the state of one stream at a time.
//
// Thread safety: none needed; works on files only. Callers must not checkpoint one stream from
// two threads at once.
#ifndef RAMETCD_WAL_CHECKPOINT_H_
#define RAMETCD_WAL_CHECKPOINT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/status/statusor.h"
#include "etcd/api/mvccpb/kv.pb.h"
#include "wal/layout.h"
#include "wal/stream_reader.h"

namespace rametcd::wal {

struct StreamState {
  // Data streams: every retained version per key, oldest first (version 0 = tombstone).
  absl::btree_map<std::string, std::vector<mvccpb::KeyValue>> keys;
  // Meta stream: live leases, ID -> TTL.
  absl::btree_map<int64_t, int64_t> leases;
  int64_t compacted = -1;
  int64_t revision = 0;  // the highest revision the stream's records mention
  uint64_t batch = 0;    // the newest WAL batch the stream's records hold a part of
  StreamRead read;       // what reading the files found
};

// Replays the checkpoint and the log segments with seq <= `up_to_seq`.
absl::StatusOr<StreamState> ReplayStream(const StreamFiles& files, uint64_t up_to_seq,
                                         bool skip_damaged);

// Applies a compaction at `compacted` (a no-op for revisions <= the state's): each key keeps its
// newest version at or below it, unless that is a tombstone, and everything newer.
void CompactState(int64_t compacted, StreamState* state);

// Writes `state` as checkpoint `seq` of the stream in `files.dir` and deletes the older
// checkpoint and the log segments with seq <= `seq`. Returns the checkpoint's size in bytes.
absl::StatusOr<uint64_t> WriteCheckpoint(const StreamFiles& files, uint64_t seq,
                                         const StreamState& state);

}  // namespace rametcd::wal

#endif  // RAMETCD_WAL_CHECKPOINT_H_
