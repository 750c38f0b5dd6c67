// Encoding records into a stream buffer: framed (frame.h) protobuf payloads (record.proto).
//
// AppendTxnRecord() serializes a Txn straight from the history entry's events, each change as
// the KeyValue protobuf would encode it, without building messages: this is the WAL writer's hot
// path.
//
// Thread safety: pure functions. The events are immutable history-ring entries.
#ifndef RAMETCD_WAL_RECORD_CODEC_H_
#define RAMETCD_WAL_RECORD_CODEC_H_

#include <cstdint>
#include <span>
#include <string>

#include "mvcc/history_ring.h"
#include "rametcd/wal/record.pb.h"

namespace rametcd::wal {

// Appends a framed Record{txn: {revision, changes}}: each change is a KeyValue with the event's
// key and `kv` fields (a DELETE's is the key and mod_revision only, version 0).
void AppendTxnRecord(int64_t revision, std::span<const mvcc::Event* const> changes,
                     std::string* out);

// Appends any record, framed.
void AppendRecord(const Record& record, std::string* out);

}  // namespace rametcd::wal

#endif  // RAMETCD_WAL_RECORD_CODEC_H_
