#include "wal/record_codec.h"

#include <cstring>

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

// mvccpb.KeyValue's fields: key = 1, create_revision = 2, mod_revision = 3, version = 4,
// value = 5, lease = 6. As protobuf serializes proto3: in field order, zeros and empty strings
// left out.
size_t IntFieldSize(int64_t n) {
  return n == 0 ? 0 : 1 + CodedOutputStream::VarintSize64(static_cast<uint64_t>(n));
}

size_t BytesFieldSize(size_t n) { return n == 0 ? 0 : LengthDelimitedSize(n); }

size_t KeyValueSize(const mvcc::Event& e) {
  return BytesFieldSize(e.key.size()) + IntFieldSize(e.kv.create_revision) +
         IntFieldSize(e.kv.mod_revision) + IntFieldSize(e.kv.version) +
         BytesFieldSize(e.kv.value.size()) + IntFieldSize(e.kv.lease);
}

uint8_t* WriteBytesField(int field, std::string_view bytes, uint8_t* p) {
  if (bytes.empty()) return p;
  p = WriteLengthDelimitedHeader(field, bytes.size(), p);
  std::memcpy(p, bytes.data(), bytes.size());
  return p + bytes.size();
}

uint8_t* WriteIntField(int field, int64_t n, uint8_t* p) {
  return n == 0 ? p : WireFormatLite::WriteInt64ToArray(field, n, p);
}

uint8_t* WriteKeyValue(const mvcc::Event& e, uint8_t* p) {
  p = WriteBytesField(1, e.key, p);
  p = WriteIntField(2, e.kv.create_revision, p);
  p = WriteIntField(3, e.kv.mod_revision, p);
  p = WriteIntField(4, e.kv.version, p);
  p = WriteBytesField(5, e.kv.value, p);
  return WriteIntField(6, e.kv.lease, p);
}

}  // namespace

void AppendTxnRecord(int64_t revision, std::span<const mvcc::Event* const> changes,
                     std::string* out) {
  // Field numbers of record.proto: Record.txn = 1; Txn.revision = 1, changes = 3.
  size_t body = 1 + CodedOutputStream::VarintSize64(static_cast<uint64_t>(revision));
  for (const mvcc::Event* e : changes) body += LengthDelimitedSize(KeyValueSize(*e));
  const size_t payload_size = LengthDelimitedSize(body);

  const size_t payload_offset = out->size() + kFrameHeaderBytes;
  out->resize(payload_offset + payload_size);
  auto* p = reinterpret_cast<uint8_t*>(out->data() + payload_offset);
  p = WriteLengthDelimitedHeader(1, body, p);
  p = WireFormatLite::WriteInt64ToArray(1, revision, p);
  for (const mvcc::Event* e : changes) {
    p = WriteLengthDelimitedHeader(3, KeyValueSize(*e), p);
    p = WriteKeyValue(*e, p);
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
