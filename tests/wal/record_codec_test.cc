// AppendTxnRecord encodes history events by hand; it must produce exactly the bytes protobuf
// produces for the same Record, so that recovery (which parses with protobuf) reads them back.
#include "wal/record_codec.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace rametcd::wal {
namespace {

mvcc::Event MakeEvent(std::string_view key, int64_t create, int64_t mod, int64_t version,
                      std::string_view value, int64_t lease) {
  mvcc::Event e;
  e.type = version == 0 ? mvccpb::Event::DELETE : mvccpb::Event::PUT;
  e.key = SharedBytes(key);
  e.kv.create_revision = create;
  e.kv.mod_revision = mod;
  e.kv.version = version;
  e.kv.value = SharedBytes(value);
  e.kv.lease = lease;
  return e;
}

TEST(RecordCodecTest, TxnRecordIsWhatProtobufEncodes) {
  const std::vector<mvcc::Event> events = {
      MakeEvent("/registry/pods/ns/a", 7, 300, 3, std::string(300, 'v'), 0x7fffffffffffLL),
      MakeEvent("k", 300, 300, 1, "", 0),                       // empty value, no lease
      MakeEvent("deleted", 0, 300, 0, "", 0),                   // a delete: key and revision
      MakeEvent(std::string(200, 'x'), 1, 300, 1, "v", -1),     // negative int64: 10-byte varint
      MakeEvent("big", 2, 300, 99, std::string(70000, 'b'), 5)  // 3-byte length prefix
  };
  for (int64_t revision : {int64_t{1}, int64_t{300}, int64_t{1} << 40}) {
    std::vector<const mvcc::Event*> changes;
    Record want;
    want.mutable_txn()->set_revision(revision);
    for (const mvcc::Event& e : events) {
      changes.push_back(&e);
      mvccpb::KeyValue* kv = want.mutable_txn()->add_changes();
      kv->set_key(e.key.data(), e.key.size());
      kv->set_create_revision(e.kv.create_revision);
      kv->set_mod_revision(e.kv.mod_revision);
      kv->set_version(e.kv.version);
      kv->set_value(e.kv.value.data(), e.kv.value.size());
      kv->set_lease(e.kv.lease);
    }
    std::string got = "prefix", expected = "prefix";
    AppendTxnRecord(revision, changes, &got);
    AppendRecord(want, &expected);
    EXPECT_EQ(got, expected) << "revision " << revision;
  }
}

TEST(RecordCodecTest, TxnRecordWithoutChanges) {
  Record want;
  want.mutable_txn()->set_revision(5);
  std::string got, expected;
  AppendTxnRecord(5, {}, &got);
  AppendRecord(want, &expected);
  EXPECT_EQ(got, expected);
}

}  // namespace
}  // namespace rametcd::wal
