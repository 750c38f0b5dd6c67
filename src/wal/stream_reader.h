// ReadStream: every record of one stream's live files, in order (its checkpoint, then its log
// segments), with the damage policy recovery and the tools share:
//   - a checkpoint must be whole: valid header, no damage, ending with CheckpointEnd;
//   - a torn tail is expected only at the end of the newest log segment (a crash during an
//     append) and is reported for truncation;
//   - any other damage is corruption: reading stops with DataLoss naming the file and offset,
//     unless `skip_damaged`, in which case the damaged bytes are skipped and reported;
//   - so is a valid record of a kind that does not belong in its file (docs/wal-format.md: keys
//     only in data streams, leases, compactions and marks only in _meta), that names a revision
//     or version outside [-1, 2^62], or a key that is empty or of another stream; with
//     `skip_damaged` such a record in a log is skipped (not visited) and reported.
// Txn revisions and BatchEnd batches must increase through the logs and lie above the
// checkpoint's coverage.
//
// Thread safety: none needed; works on files only.
#ifndef RAMETCD_WAL_STREAM_READER_H_
#define RAMETCD_WAL_STREAM_READER_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "rametcd/wal/record.pb.h"
#include "wal/frame.h"
#include "wal/layout.h"

namespace rametcd::wal {

// Where a record was read from.
struct RecordPlace {
  bool checkpoint = false;
  uint64_t seq = 0;     // segment (or checkpoint) sequence number
  uint64_t offset = 0;  // of the record's frame
};

struct StreamRead {
  int64_t checkpoint_covered = 0;     // revisions <= this are in the checkpoint
  int64_t checkpoint_compacted = -1;  // the compaction point the checkpoint was written at
  uint64_t checkpoint_batch = 0;      // WAL batches <= this are in the checkpoint
  uint64_t checkpoint_bytes = 0;
  uint64_t log_bytes = 0;     // valid bytes in the log segments
  uint64_t records = 0;       // valid records, checkpoint included
  uint64_t last_log_end = 0;  // valid length of the newest log segment
  // A torn tail at the end of the newest log segment: cut at this offset.
  std::optional<Damage> torn_tail;
  // The newest log segment ends inside its own file header (a crash right after creating it):
  // it holds nothing and is to be removed.
  bool headerless_newest = false;
  // Corruption that was skipped (only with skip_damaged), as DescribeDamage() lines.
  std::vector<std::string> skipped;
};

using StreamVisitor = absl::FunctionRef<absl::Status(const RecordPlace& place, Record& record)>;

absl::StatusOr<StreamRead> ReadStream(const StreamFiles& files, bool skip_damaged,
                                      StreamVisitor visit);

}  // namespace rametcd::wal

#endif  // RAMETCD_WAL_STREAM_READER_H_
