#include "wal/record_codec.h"

#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/wire_format_lite.h"
#include "wal/frame.h"

namespace rametcd::wal {
namespace {

using google::protobuf::internal::WireFormatLite;
using google::protobuf::io::CodedOutputStream;

size_t LengthDelimitedSize(size_t n) { return 1 + CodedOutputStream::VarintSize64(n) + n; }

uint8_t* WriteLengthDelimitedHeader(int field, size_t n, uint8_t* p) {
  p = WireFormatLite::WriteTagToArray(field, WireFormatLite::WIRETYPE_LENGTH_DELIMITED, p);
  return CodedOutputStream::WriteVarint64ToArray(n, p);
}

}  // namespace

void AppendTxnRecord(int64_t revision, std::span<const mvccpb::KeyValue* const> changes,
                     std::string* out) {
  // Field numbers of record.proto: Record.txn = 1; Txn.revision = 1, changes = 3.
  size_t body = 1 + CodedOutputStream::VarintSize64(static_cast<uint64_t>(revision));
  for (const mvccpb::KeyValue* kv : changes) body += LengthDelimitedSize(kv->ByteSizeLong());
  const size_t payload_size = LengthDelimitedSize(body);

  const size_t payload_offset = out->size() + kFrameHeaderBytes;
  out->resize(payload_offset + payload_size);
  auto* p = reinterpret_cast<uint8_t*>(out->data() + payload_offset);
  p = WriteLengthDelimitedHeader(1, body, p);
  p = WireFormatLite::WriteInt64ToArray(1, revision, p);
  for (const mvccpb::KeyValue* kv : changes) {
    p = WriteLengthDelimitedHeader(3, kv->GetCachedSize(), p);
    p = kv->SerializeWithCachedSizesToArray(p);
  }
  FillFrameHeader(payload_offset, out);
}

void AppendRecord(const Record& record, std::string* out) {
  const size_t size = record.ByteSizeLong();
  const size_t payload_offset = out->size() + kFrameHeaderBytes;
  out->resize(payload_offset + size);
  record.SerializeWithCachedSizesToArray(reinterpret_cast<uint8_t*>(out->data() + payload_offset));
  FillFrameHeader(payload_offset, out);
}

}  // namespace rametcd::wal
