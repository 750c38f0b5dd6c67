// Encoding records into a stream buffer: framed (frame.h) protobuf payloads (record.proto).
//
// AppendTxnRecord() serializes a Txn straight from the history entry's KeyValues, without
// copying values into a temporary message: this is the WAL writer's hot path.
//
// Thread safety: pure functions. The KeyValues must not be modified concurrently (they are
// immutable history-ring entries; serializing only reads them and sets protobuf's atomic
// cached sizes).
#ifndef RAMETCD_WAL_RECORD_CODEC_H_
#define RAMETCD_WAL_RECORD_CODEC_H_

#include <cstdint>
#include <span>
#include <string>

#include "etcd/api/mvccpb/kv.pb.h"
#include "rametcd/wal/record.pb.h"

namespace rametcd::wal {

// Appends a framed Record{txn: {revision, changes}}.
void AppendTxnRecord(int64_t revision, std::span<const mvccpb::KeyValue* const> changes,
                     std::string* out);

// Appends any record, framed.
void AppendRecord(const Record& record, std::string* out);

}  // namespace rametcd::wal

#endif  // RAMETCD_WAL_RECORD_CODEC_H_
