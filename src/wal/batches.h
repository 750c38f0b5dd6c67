// Batches: the WAL writer's unit of atomicity across streams, and the check that recovery loads
// whole batches only.
//
// The writer numbers the batches it writes 1, 2, ... and writes each stream's part of a batch as
// one append that ends with a BatchEnd record (the batch's number and, when it wrote more than
// one stream, all their names). A crash while a batch is being written can leave some streams'
// parts on disk and not others, or a part without its end (the writer starts a batch only once
// the previous one is written, so after a process crash only the newest batch can be
// incomplete). Loading what is there would keep a later write and lose an earlier one, or half
// of a transaction: a state that never existed.
//
// StreamBatches collects one stream's parts while its logs are read; CutIncompleteBatches()
// finds the oldest batch with a part missing and where each stream has to be cut so that what
// stays is every batch before it, whole. A part counts as present when the stream's checkpoint
// holds it (CheckpointEnd.batch). A stream whose directory holds no files cannot be checked and
// counts as holding its part (its prefix was switched to mode none, then back).
//
// Thread safety: plain values and a pure function.
#ifndef RAMETCD_WAL_BATCHES_H_
#define RAMETCD_WAL_BATCHES_H_

#include <cstdint>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "rametcd/wal/record.pb.h"
#include "wal/stream_reader.h"

namespace rametcd::wal {

// A record's place in a stream's logs.
struct LogPlace {
  uint64_t seq = 0;
  uint64_t offset = 0;
  bool operator<(const LogPlace& o) const {
    return std::tie(seq, offset) < std::tie(o.seq, o.offset);
  }
  bool operator==(const LogPlace& o) const = default;
};

class StreamBatches {
 public:
  StreamBatches() = default;
  explicit StreamBatches(std::string stream) : stream_(std::move(stream)) {}

  // Every record read from the stream's log segments, in order.
  void Add(const RecordPlace& place, const Record& record);
  // What reading the stream's files found: its checkpoint's batch, and whether it has any file.
  void SetRead(const StreamRead& read, bool has_files);

  struct Part {
    uint64_t batch;
    LogPlace start;                    // its first record
    std::vector<std::string> streams;  // all of the batch's streams, or empty: only this one
  };
  const std::string& stream() const { return stream_; }
  const std::vector<Part>& parts() const { return parts_; }
  // Where the records after the last BatchEnd start (a part whose end was never written).
  const std::optional<LogPlace>& unended() const { return unended_; }
  uint64_t checkpoint_batch() const { return checkpoint_batch_; }
  bool has_files() const { return has_files_; }

 private:
  std::string stream_;
  std::vector<Part> parts_;
  std::optional<LogPlace> unended_;
  uint64_t checkpoint_batch_ = 0;
  bool has_files_ = true;
};

struct BatchCuts {
  // Per stream (same order as the input): cut its logs here, dropping everything from it on.
  std::vector<std::optional<LogPlace>> at;
  // The oldest incomplete batch (0: none), and one line per finding for the operator.
  uint64_t batch = 0;
  std::vector<std::string> findings;
  // The newest batch that stays, over all streams (the writer continues after it).
  uint64_t last_batch = 0;
};

BatchCuts CutIncompleteBatches(const std::vector<StreamBatches>& streams);

}  // namespace rametcd::wal

#endif  // RAMETCD_WAL_BATCHES_H_
