// Unit tests of ScanFile (wal/file_scan.h) on real files: records decoded in order with their
// offsets, damage in the middle with and without skip_damaged, frames whose checksum holds but
// whose payload is not a Record, torn tails, damaged headers and DescribeDamage.
#include "wal/file_scan.h"

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "wal/frame.h"

namespace rametcd::wal {
namespace {

class FileScanTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "/file_scan_test.XXXXXX";
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& data) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path, std::ios::binary) << data;
    return path;
  }

  // A file header followed by `records`; `offsets` gets each record's offset and the end.
  static std::string Encode(const std::vector<Record>& records, std::vector<uint64_t>* offsets) {
    std::string data;
    AppendFileHeader({FileKind::kLog, 3, "/registry/pods/"}, &data);
    for (const Record& r : records) {
      offsets->push_back(data.size());
      AppendFrame(r.SerializeAsString(), &data);
    }
    offsets->push_back(data.size());
    return data;
  }

  struct Visited {
    std::vector<uint64_t> offsets;
    std::vector<std::string> records;  // serialized
  };

  absl::StatusOr<FileScan> Scan(const std::string& path, bool skip_damaged, Visited* visited) {
    return ScanFile(path, skip_damaged, [visited](uint64_t offset, Record& record) {
      visited->offsets.push_back(offset);
      visited->records.push_back(record.SerializeAsString());
      return absl::OkStatus();
    });
  }

  std::string dir_;
};

Record TxnRecord(int64_t revision, int changes) {
  Record r;
  Txn* txn = r.mutable_txn();
  txn->set_revision(revision);
  for (int i = 0; i < changes; ++i) {
    mvccpb::KeyValue* kv = txn->add_changes();
    kv->set_key("/registry/pods/default/p" + std::to_string(i));
    kv->set_create_revision(revision - i);
    kv->set_mod_revision(revision);
    kv->set_version(i + 1);
    kv->set_value(std::string(10 + 20 * i, static_cast<char>('a' + i)));
    kv->set_lease(i % 2 == 0 ? 0 : 0x1234);
  }
  return r;
}

std::vector<Record> SampleRecords() {
  std::vector<Record> records;
  records.push_back(TxnRecord(2, 1));
  records.emplace_back().mutable_lease_grant()->set_id(0x1234);
  records.back().mutable_lease_grant()->set_ttl(60);
  records.push_back(TxnRecord(3, 3));
  records.emplace_back().mutable_compaction()->set_revision(2);
  records.emplace_back().mutable_revision_mark()->set_revision(9);
  records.emplace_back().mutable_lease_revoke()->set_id(0x1234);
  Record tombstone;
  tombstone.mutable_txn()->set_revision(10);
  tombstone.mutable_txn()->add_changes()->set_key("/registry/pods/default/p0");
  tombstone.mutable_txn()->mutable_changes(0)->set_mod_revision(10);
  records.push_back(tombstone);
  BatchEnd* batch = records.emplace_back().mutable_batch_end();
  batch->set_batch(3);
  batch->add_streams("/registry/pods/");
  batch->add_streams("_other");
  records.emplace_back().mutable_key_history()->add_versions()->set_key("k");
  CheckpointEnd* end = records.emplace_back().mutable_checkpoint_end();
  end->set_covered_revision(10);
  end->set_compacted_revision(-1);
  end->set_records(9);
  end->set_batch(3);
  return records;
}

std::vector<std::string> Serialized(const std::vector<Record>& records) {
  std::vector<std::string> out;
  for (const Record& r : records) out.push_back(r.SerializeAsString());
  return out;
}

TEST_F(FileScanTest, VisitsRecordsInOrder) {
  const std::vector<Record> records = SampleRecords();
  std::vector<uint64_t> offsets;
  const std::string data = Encode(records, &offsets);
  const std::string path = Write("0000000000000003.log", data);

  Visited visited;
  auto scan = Scan(path, /*skip_damaged=*/false, &visited);
  ASSERT_TRUE(scan.ok()) << scan.status();
  EXPECT_EQ(scan->header.kind, FileKind::kLog);
  EXPECT_EQ(scan->header.seq, 3u);
  EXPECT_EQ(scan->header.stream, "/registry/pods/");
  EXPECT_EQ(scan->size, data.size());
  EXPECT_EQ(scan->valid_end, data.size());
  EXPECT_EQ(scan->records, records.size());
  EXPECT_TRUE(scan->damage.empty());
  EXPECT_EQ(visited.offsets, std::vector<uint64_t>(offsets.begin(), offsets.end() - 1));
  EXPECT_EQ(visited.records, Serialized(records));
}

TEST_F(FileScanTest, HeaderOnlyFile) {
  std::string data;
  AppendFileHeader({FileKind::kCheckpoint, 5, "_meta"}, &data);
  Visited visited;
  auto scan = Scan(Write("h.ckpt", data), false, &visited);
  ASSERT_TRUE(scan.ok()) << scan.status();
  EXPECT_EQ(scan->header.kind, FileKind::kCheckpoint);
  EXPECT_EQ(scan->header.stream, "_meta");
  EXPECT_EQ(scan->valid_end, data.size());
  EXPECT_EQ(scan->records, 0u);
  EXPECT_TRUE(scan->damage.empty());
  EXPECT_TRUE(visited.records.empty());
}

TEST_F(FileScanTest, TornTail) {
  const std::vector<Record> records = SampleRecords();
  std::vector<uint64_t> offsets;
  std::string data = Encode(records, &offsets);
  data.resize(data.size() - 3);
  for (bool skip : {false, true}) {
    Visited visited;
    auto scan = Scan(Write("torn.log", data), skip, &visited);
    ASSERT_TRUE(scan.ok()) << scan.status();
    EXPECT_EQ(scan->records, records.size() - 1);
    EXPECT_EQ(scan->valid_end, offsets[records.size() - 1]);
    ASSERT_EQ(scan->damage.size(), 1u);
    EXPECT_TRUE(scan->damage[0].torn);
    EXPECT_EQ(scan->damage[0].offset, scan->valid_end);
    EXPECT_EQ(scan->damage[0].resume, data.size());
  }
}

TEST_F(FileScanTest, CorruptionInTheMiddle) {
  const std::vector<Record> records = SampleRecords();
  std::vector<uint64_t> offsets;
  std::string data = Encode(records, &offsets);
  data[offsets[2] + kFrameHeaderBytes + 5] ^= 0x01;  // payload of record 2
  data[offsets[5] + 1] ^= 0x01;                      // length of record 5
  const std::string path = Write("mid.log", data);
  {
    Visited visited;
    auto scan = Scan(path, /*skip_damaged=*/false, &visited);
    ASSERT_TRUE(scan.ok()) << scan.status();
    EXPECT_EQ(scan->records, 2u);
    EXPECT_EQ(scan->valid_end, offsets[2]);
    ASSERT_EQ(scan->damage.size(), 1u);
    EXPECT_FALSE(scan->damage[0].torn);
    EXPECT_EQ(scan->damage[0].offset, offsets[2]);
    EXPECT_EQ(scan->damage[0].resume, offsets[3]);
    EXPECT_EQ(visited.offsets, (std::vector<uint64_t>{offsets[0], offsets[1]}));
  }
  {
    Visited visited;
    auto scan = Scan(path, /*skip_damaged=*/true, &visited);
    ASSERT_TRUE(scan.ok()) << scan.status();
    EXPECT_EQ(scan->records, records.size() - 2);
    EXPECT_EQ(scan->valid_end, data.size());
    ASSERT_EQ(scan->damage.size(), 2u);
    EXPECT_EQ(scan->damage[0].offset, offsets[2]);
    EXPECT_EQ(scan->damage[1].offset, offsets[5]);
    EXPECT_EQ(scan->damage[1].resume, offsets[6]);
    EXPECT_FALSE(scan->damage[1].torn);
    std::vector<uint64_t> want;
    for (int i : {0, 1, 3, 4, 6, 7, 8, 9}) want.push_back(offsets[i]);
    EXPECT_EQ(visited.offsets, want);
  }
}

TEST_F(FileScanTest, CountFramesFollowsHeadersUpToTheFirstBadOne) {
  const std::vector<Record> records = SampleRecords();
  std::vector<uint64_t> offsets;
  std::string data = Encode(records, &offsets);
  EXPECT_EQ(CountFrames(Write("all.log", data)), records.size());
  // A bad payload is not looked at; a bad frame header ends the count.
  data[offsets[2] + kFrameHeaderBytes + 5] ^= 0x01;
  EXPECT_EQ(CountFrames(Write("payload.log", data)), records.size());
  data[offsets[5] + 1] ^= 0x01;
  EXPECT_EQ(CountFrames(Write("length.log", data)), 5u);
  data.resize(offsets[1] + 3);
  EXPECT_EQ(CountFrames(Write("torn.log", data)), 1u);
  EXPECT_EQ(CountFrames(Write("header.log", data.substr(0, 5))), 0u);
  EXPECT_EQ(CountFrames(dir_ + "/missing.log"), 0u);
}

TEST_F(FileScanTest, UndecodablePayload) {
  std::string data;
  AppendFileHeader({FileKind::kLog, 1, "_other"}, &data);
  const uint64_t first = data.size();
  AppendFrame(TxnRecord(2, 1).SerializeAsString(), &data);
  const uint64_t bad = data.size();
  AppendFrame("\xff\xff\xff garbage, not a protobuf", &data);  // checksums hold
  const uint64_t empty_body = data.size();
  AppendFrame(std::string("\x50\x01", 2), &data);  // parses (unknown field 10) but sets no body
  const uint64_t last = data.size();
  AppendFrame(TxnRecord(3, 2).SerializeAsString(), &data);
  const std::string path = Write("undecodable.log", data);
  {
    Visited visited;
    auto scan = Scan(path, false, &visited);
    ASSERT_TRUE(scan.ok()) << scan.status();
    EXPECT_EQ(scan->records, 1u);
    EXPECT_EQ(scan->valid_end, bad);
    ASSERT_EQ(scan->damage.size(), 1u);
    EXPECT_EQ(scan->damage[0].offset, bad);
    EXPECT_EQ(scan->damage[0].resume, empty_body);
    EXPECT_FALSE(scan->damage[0].torn);
    EXPECT_EQ(scan->damage[0].reason, "record does not decode");
  }
  {
    Visited visited;
    auto scan = Scan(path, true, &visited);
    ASSERT_TRUE(scan.ok()) << scan.status();
    EXPECT_EQ(scan->records, 2u);
    EXPECT_EQ(visited.offsets, (std::vector<uint64_t>{first, last}));
    ASSERT_EQ(scan->damage.size(), 2u);
    EXPECT_EQ(scan->damage[1].offset, empty_body);
    EXPECT_EQ(scan->damage[1].resume, last);
    EXPECT_EQ(scan->damage[1].reason, "record does not decode");
  }
}

TEST_F(FileScanTest, DescribeDamage) {
  const std::string torn =
      DescribeDamage("/d/wal/_meta/0000000000000001.log", {1234, 1240, true, "why"});
  EXPECT_NE(torn.find("/d/wal/_meta/0000000000000001.log"), std::string::npos) << torn;
  EXPECT_NE(torn.find("1234"), std::string::npos) << torn;
  EXPECT_NE(torn.find("torn"), std::string::npos) << torn;
  EXPECT_NE(torn.find("why"), std::string::npos) << torn;
  const std::string corrupt = DescribeDamage("/x/y.log", {77, 100, false, "bad crc"});
  EXPECT_NE(corrupt.find("/x/y.log"), std::string::npos) << corrupt;
  EXPECT_NE(corrupt.find("77"), std::string::npos) << corrupt;
  EXPECT_NE(corrupt.find("corrupt"), std::string::npos) << corrupt;
  EXPECT_NE(corrupt.find("23 bytes"), std::string::npos) << corrupt;
}

TEST_F(FileScanTest, DamagedHeaderIsDataLoss) {
  std::vector<uint64_t> offsets;
  std::string data = Encode(SampleRecords(), &offsets);
  data[20] ^= 0x01;  // in the seq
  const std::string path = Write("badheader.log", data);
  Visited visited;
  auto scan = Scan(path, true, &visited);
  EXPECT_EQ(scan.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(scan.status().message().find(path), std::string::npos) << scan.status();
  EXPECT_TRUE(visited.records.empty());

  auto empty = Scan(Write("empty.log", ""), true, &visited);
  EXPECT_EQ(empty.status().code(), absl::StatusCode::kDataLoss);
}

TEST_F(FileScanTest, MissingFileIsAnError) {
  Visited visited;
  auto scan = Scan(dir_ + "/absent.log", false, &visited);
  EXPECT_FALSE(scan.ok());
  EXPECT_NE(scan.status().code(), absl::StatusCode::kDataLoss);
}

TEST_F(FileScanTest, VisitorErrorStopsTheScan) {
  std::vector<uint64_t> offsets;
  const std::string path = Write("v.log", Encode(SampleRecords(), &offsets));
  int calls = 0;
  auto scan = ScanFile(path, true, [&calls](uint64_t, Record&) {
    return ++calls == 3 ? absl::AbortedError("stop") : absl::OkStatus();
  });
  EXPECT_EQ(scan.status().code(), absl::StatusCode::kAborted);
  EXPECT_EQ(calls, 3);
}

}  // namespace
}  // namespace rametcd::wal
