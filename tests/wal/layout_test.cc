// Unit tests of the data-dir layout (wal/layout.h) and the durability modes (wal/modes.h): stream
// names, encoded stream directory names, segment file names, ListStreams' choice of live files
// and garbage, and ModeTable's PREFIX=MODE validation and per-stream lookup.
#include "wal/layout.h"

#include <stdlib.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "wal/modes.h"

namespace rametcd::wal {
namespace {

namespace fs = std::filesystem;

// --- Stream names ---

TEST(LayoutTest, StreamOfKey) {
  EXPECT_EQ(StreamOfKey("/registry/pods/default/x"), "/registry/pods/");
  EXPECT_EQ(StreamOfKey("/registry/deployments/ns/d"), "/registry/deployments/");
  EXPECT_EQ(StreamOfKey("/registry/coordination.k8s.io/leases/n/l"),
            "/registry/coordination.k8s.io/leases/");
  EXPECT_EQ(StreamOfKey("foo"), kOtherStream);
  EXPECT_EQ(StreamOfKey("/registry/health"), "_other");
  EXPECT_EQ(StreamOfKey(""), "_other");
}

TEST(LayoutTest, WalDirAndSegmentFileNames) {
  EXPECT_EQ(WalDir("/var/lib/rametcd"), "/var/lib/rametcd/wal");
  EXPECT_EQ(SegmentFileName(0, false), "0000000000000000.log");
  EXPECT_EQ(SegmentFileName(0xabc, true), "0000000000000abc.ckpt");
  EXPECT_EQ(SegmentFileName(~uint64_t{0}, false), "ffffffffffffffff.log");
}

TEST(LayoutTest, StreamDirNameRoundTrip) {
  const std::string with_bytes("a\0b\xff\x80%", 6);
  for (const std::string& stream :
       {std::string("_meta"), std::string("_other"), std::string("/registry/pods/"),
        std::string("/registry/coordination.k8s.io/leases/"), std::string("a-b_c.D9"),
        std::string("%2F"), std::string("sp ace+plus=eq~tilde"), std::string("."),
        std::string(".."), with_bytes}) {
    const std::string dir = StreamDirName(stream);
    for (char c : dir) {
      EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-' ||
                  c == '%')
          << dir;
    }
    auto back = StreamNameFromDir(dir);
    ASSERT_TRUE(back.ok()) << dir << ": " << back.status();
    EXPECT_EQ(*back, stream);
  }
  EXPECT_EQ(StreamDirName("/registry/pods/"), "%2Fregistry%2Fpods%2F");
  EXPECT_EQ(StreamDirName("_meta"), "_meta");
  EXPECT_EQ(StreamDirName(std::string("\xff", 1)), "%FF");
}

TEST(LayoutTest, StreamNameFromDirRejectsBadNames) {
  for (const char* bad : {"%2fregistry%2F",                   // lowercase hex
                          "%ff", "%", "%2", "abc%", "abc%F",  // truncated escapes
                          "%GG", "%2G", "% 2", "%+1", "%-1",  // not hex
                          "%41",                              // 'A' must not be encoded
                          "%5F",                              // nor '_'
                          "a b", "a+b", "/registry/pods/", "a/b", "a~b"}) {  // unencoded
    auto name = StreamNameFromDir(bad);
    EXPECT_EQ(name.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

// --- ListStreams ---

class ListStreamsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "/layout_test.XXXXXX";
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    root_ = pattern;
    wal_ = WalDir(root_);
  }
  void TearDown() override { fs::remove_all(root_); }

  std::string StreamDir(const std::string& stream) {
    const std::string dir = wal_ + "/" + StreamDirName(stream);
    fs::create_directories(dir);
    return dir;
  }
  void Touch(const std::string& path) { std::ofstream(path) << "x"; }
  void TouchSegment(const std::string& stream, uint64_t seq, bool checkpoint) {
    Touch(StreamDir(stream) + "/" + SegmentFileName(seq, checkpoint));
  }

  std::string root_;
  std::string wal_;
};

TEST_F(ListStreamsTest, MissingDirIsEmpty) {
  auto streams = ListStreams(wal_);
  ASSERT_TRUE(streams.ok()) << streams.status();
  EXPECT_TRUE(streams->empty());
  fs::create_directories(wal_);
  streams = ListStreams(wal_);
  ASSERT_TRUE(streams.ok()) << streams.status();
  EXPECT_TRUE(streams->empty());
}

TEST_F(ListStreamsTest, ClassifiesFiles) {
  // pods: checkpoints 3 and 7; logs 1..9. Live: ckpt 7 and logs 8, 9.
  const std::string pods = "/registry/pods/";
  for (uint64_t seq = 1; seq <= 9; ++seq) TouchSegment(pods, seq, false);
  TouchSegment(pods, 3, true);
  TouchSegment(pods, 7, true);
  Touch(StreamDir(pods) + "/0000000000000008.ckpt.tmp");
  // _meta: logs only, seqs above 15 to check hex.
  for (uint64_t seq : {0x10, 0x2, 0xa}) TouchSegment("_meta", seq, false);
  // _other: a checkpoint only, with an older log.
  TouchSegment("_other", 0x20, true);
  TouchSegment("_other", 0x20, false);
  // An empty stream directory.
  StreamDir("/registry/events/");

  auto streams = ListStreams(wal_);
  ASSERT_TRUE(streams.ok()) << streams.status();
  ASSERT_EQ(streams->size(), 4u);
  // In stream-name order.
  EXPECT_EQ((*streams)[0].stream, "/registry/events/");
  EXPECT_EQ((*streams)[1].stream, "/registry/pods/");
  EXPECT_EQ((*streams)[2].stream, "_meta");
  EXPECT_EQ((*streams)[3].stream, "_other");

  const StreamFiles& events = (*streams)[0];
  EXPECT_FALSE(events.checkpoint.has_value());
  EXPECT_TRUE(events.logs.empty());
  EXPECT_TRUE(events.garbage.empty());

  const StreamFiles& p = (*streams)[1];
  EXPECT_EQ(p.dir, wal_ + "/%2Fregistry%2Fpods%2F");
  ASSERT_TRUE(p.checkpoint.has_value());
  EXPECT_EQ(*p.checkpoint, 7u);
  EXPECT_EQ(p.CheckpointPath(), p.dir + "/0000000000000007.ckpt");
  EXPECT_EQ(p.logs, (std::vector<uint64_t>{8, 9}));
  EXPECT_EQ(p.LogPath(8), p.dir + "/0000000000000008.log");
  std::vector<std::string> garbage = p.garbage;
  std::sort(garbage.begin(), garbage.end());
  std::vector<std::string> want;
  for (uint64_t seq = 1; seq <= 7; ++seq) want.push_back(p.dir + "/" + SegmentFileName(seq, false));
  want.push_back(p.dir + "/0000000000000003.ckpt");
  want.push_back(p.dir + "/0000000000000008.ckpt.tmp");
  std::sort(want.begin(), want.end());
  EXPECT_EQ(garbage, want);
  for (const std::string& g : garbage) EXPECT_TRUE(fs::exists(g)) << g;

  const StreamFiles& meta = (*streams)[2];
  EXPECT_FALSE(meta.checkpoint.has_value());
  EXPECT_EQ(meta.logs, (std::vector<uint64_t>{0x2, 0xa, 0x10}));
  EXPECT_TRUE(meta.garbage.empty());

  const StreamFiles& other = (*streams)[3];
  EXPECT_EQ(other.checkpoint, std::optional<uint64_t>(0x20));
  EXPECT_TRUE(other.logs.empty());
  EXPECT_EQ(other.garbage, std::vector<std::string>{other.dir + "/0000000000000020.log"});
}

TEST_F(ListStreamsTest, UnexpectedFilesAreErrors) {
  const std::vector<std::string> bad_files = {
      "notes.txt", "0000000000000001.log.bak", "1.log", "00000000000000001.log",
      "zzzzzzzzzzzzzzzz.log", "0000000000000001",
      // Parse as hex but are not the names rametcd writes (which LogPath() would not find).
      "000000000000000A.log", "0x00000000000001.log", "+000000000000001.ckpt",
      " 000000000000001.log"};
  for (const std::string& file : bad_files) {
    SCOPED_TRACE(file);
    fs::remove_all(wal_);
    TouchSegment("_meta", 1, false);
    Touch(StreamDir("_meta") + "/" + file);
    auto streams = ListStreams(wal_);
    EXPECT_EQ(streams.status().code(), absl::StatusCode::kFailedPrecondition);
  }
  // A plain file directly under wal/, and a directory whose name is not an encoded stream name.
  fs::remove_all(wal_);
  StreamDir("_meta");
  Touch(wal_ + "/stray");
  EXPECT_FALSE(ListStreams(wal_).ok());
  fs::remove_all(wal_);
  fs::create_directories(wal_ + "/%2fregistry%2fpods%2f");
  EXPECT_FALSE(ListStreams(wal_).ok());
}

// --- Modes ---

TEST(ModesTest, ParseMode) {
  for (Mode m : {Mode::kNone, Mode::kBuffered, Mode::kFsync}) {
    auto parsed = ParseMode(ModeName(m));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, m);
  }
  EXPECT_EQ(ModeName(Mode::kBuffered), "buffered");
  for (const char* bad : {"", "NONE", "Fsync", "sync", "fsync ", "async"}) {
    EXPECT_EQ(ParseMode(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(ModesTest, ValidSpecs) {
  ModeTable table(Mode::kNone);
  EXPECT_TRUE(table.AddPrefix("/registry/events/=none").ok());
  EXPECT_TRUE(table.AddPrefix("/registry/pods/=fsync").ok());
  EXPECT_TRUE(table.AddPrefix("/registry/coordination.k8s.io/leases/=buffered").ok());
  EXPECT_TRUE(table.AddPrefix("/registry/pods/=buffered").ok());  // a later spec replaces
  EXPECT_EQ(table.prefixes().size(), 3u);
  EXPECT_EQ(table.ForStream("/registry/pods/"), Mode::kBuffered);
  EXPECT_EQ(table.ForStream("/registry/coordination.k8s.io/leases/"), Mode::kBuffered);
  EXPECT_EQ(table.ForStream("/registry/events/"), Mode::kNone);
  EXPECT_EQ(table.ForStream("/registry/secrets/"), Mode::kNone);  // the default
  EXPECT_EQ(table.ForStream(kOtherStream), Mode::kNone);
  EXPECT_EQ(table.default_mode(), Mode::kNone);
}

TEST(ModesTest, InvalidSpecs) {
  ModeTable table;
  for (const char* bad :
       {"/registry/pods/", "fsync", "", "=fsync", "/registry/=fsync", "pods=fsync",
        "/registry/pods=fsync", "registry/pods/=fsync", "/registry/pods/default/=fsync",
        "/registry/example.com/=fsync", "/registry//=fsync", "_other=fsync", "_meta=none",
        "/registry/pods/=FSYNC", "/registry/pods/=", "/registry/pods/=sync"}) {
    EXPECT_EQ(table.AddPrefix(bad).code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_TRUE(table.prefixes().empty());
}

TEST(ModesTest, MetaModeIsTheStrongest) {
  ModeTable table(Mode::kNone);
  EXPECT_EQ(table.meta_mode(), Mode::kNone);
  ASSERT_TRUE(table.AddPrefix("/registry/events/=buffered").ok());
  EXPECT_EQ(table.meta_mode(), Mode::kBuffered);
  ASSERT_TRUE(table.AddPrefix("/registry/pods/=fsync").ok());
  EXPECT_EQ(table.meta_mode(), Mode::kFsync);
  EXPECT_EQ(table.ForStream(kMetaStream), Mode::kFsync);

  ModeTable strong_default(Mode::kFsync);
  ASSERT_TRUE(strong_default.AddPrefix("/registry/events/=none").ok());
  EXPECT_EQ(strong_default.meta_mode(), Mode::kFsync);
  EXPECT_EQ(strong_default.ForStream("/registry/events/"), Mode::kNone);
  EXPECT_EQ(strong_default.ForStream("_other"), Mode::kFsync);
  EXPECT_EQ(ModeTable().default_mode(), Mode::kBuffered);
}

}  // namespace
}  // namespace rametcd::wal
