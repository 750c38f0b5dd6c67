// Unit tests of the bbolt Writer and Reader: round trips of every tree shape (empty and inline
// buckets, many leaves and branch levels, overflow pages, deep trees of long keys, 100k keys,
// other page sizes), rejected input, write faults, and damaged files (every truncation, byte flips
// in every page, random garbage) that must give an error or a correct read and never a crash, and
// regressions for damage that made the Reader's work unbounded (tests/fuzz fuzzes it further).
// Where etcdctl is installed, files we write pass real bbolt's consistency check (`etcdctl
// snapshot status` runs Tx.Check) with the hash we compute, and a real etcd 3.4 snapshot reads
// back as etcd serves it.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "bbolt/format.h"
#include "bbolt/reader.h"
#include "bbolt/writer.h"
#include "etcd/api/etcdserverpb/rpc.grpc.pb.h"
#include "gtest/gtest.h"
#include "snapshot/etcd_tools.h"
#include "support/server_process.h"

namespace rametcd::bbolt {
namespace {

using rametcd::testing::TempDir;
using Bucket = std::vector<std::pair<std::string, std::string>>;
using Model = std::map<std::string, Bucket>;

// An in-memory WritableFile that can fail on purpose.
class MemoryFile final : public WritableFile {
 public:
  struct Faults {
    uint64_t fail_append_after = ~uint64_t{0};  // bytes accepted before Append fails (ENOSPC)
    bool fail_sync = false;
    bool fail_write_at = false;
  };
  MemoryFile(std::shared_ptr<std::string> bytes, Faults faults)
      : bytes_(std::move(bytes)), faults_(faults) {}

  absl::Status Append(std::string_view data) override {
    if (bytes_->size() + data.size() > faults_.fail_append_after) {
      bytes_->append(data.substr(0, faults_.fail_append_after - bytes_->size()));
      return absl::ResourceExhaustedError("write: No space left on device");
    }
    bytes_->append(data);
    return absl::OkStatus();
  }
  absl::Status WriteAt(uint64_t offset, std::string_view data) override {
    if (faults_.fail_write_at) return absl::InternalError("pwrite: Input/output error");
    if (offset + data.size() > bytes_->size()) return absl::InvalidArgumentError("past the end");
    bytes_->replace(offset, data.size(), data);
    return absl::OkStatus();
  }
  absl::Status Sync() override {
    return faults_.fail_sync ? absl::InternalError("fdatasync: Input/output error")
                             : absl::OkStatus();
  }
  absl::Status Close() override { return absl::OkStatus(); }

 private:
  std::shared_ptr<std::string> bytes_;
  Faults faults_;
};

absl::Status WriteModel(const Model& model, std::unique_ptr<Writer> w) {
  for (const auto& [name, entries] : model) {
    if (absl::Status s = w->StartBucket(name); !s.ok()) return s;
    for (const auto& [k, v] : entries) {
      if (absl::Status s = w->Put(k, v); !s.ok()) return s;
    }
  }
  return w->Finish();
}

absl::StatusOr<std::string> WriteToMemory(const Model& model, Writer::Options options = {},
                                          MemoryFile::Faults faults = {}) {
  auto bytes = std::make_shared<std::string>();
  auto w = Writer::Create(std::make_unique<MemoryFile>(bytes, faults), options);
  if (!w.ok()) return w.status();
  if (absl::Status s = WriteModel(model, *std::move(w)); !s.ok()) return s;
  return *bytes;
}

absl::StatusOr<Model> ReadModel(const Reader& reader) {
  Model model;
  auto names = reader.BucketNames();
  if (!names.ok()) return names.status();
  for (const std::string& name : *names) {
    Bucket& b = model[name];
    absl::Status s = reader.ForEach(name, [&](const Reader::Entry& e) {
      if (e.is_bucket) return absl::DataLossError("unexpected nested bucket");
      b.emplace_back(std::string(e.key), std::string(e.value));
      return absl::OkStatus();
    });
    if (!s.ok()) return s;
  }
  return model;
}

// Reads everything and runs Check; the model read, or the first error.
absl::StatusOr<Model> ReadAndCheck(std::string bytes) {
  auto reader = Reader::FromBytes(std::move(bytes), "test.db");
  if (!reader.ok()) return reader.status();
  auto model = ReadModel(**reader);
  if (!model.ok()) return model.status();
  if (absl::Status s = (*reader)->Check(); !s.ok()) return s;
  return model;
}

std::string RandomBytes(std::mt19937_64& rng, size_t n) {
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

// `n` sorted keys "<prefix>%08d" with values of 0..max_value random bytes.
Bucket MakeBucket(std::mt19937_64& rng, const std::string& prefix, size_t n, size_t max_value) {
  Bucket b;
  for (size_t i = 0; i < n; ++i) {
    b.emplace_back(absl::StrFormat("%s%08d", prefix, i), RandomBytes(rng, rng() % (max_value + 1)));
  }
  return b;
}

PageHeader PageAt(const std::string& bytes, uint64_t pgid, uint32_t page_size = 4096) {
  return DecodePageHeader(bytes.data() + pgid * page_size);
}

// The root page id stored in top-level bucket `name`'s value (0 when inline).
uint64_t BucketRoot(const Reader& reader, const std::string& bytes, const std::string& name) {
  const uint64_t root = reader.meta().root;
  const PageHeader h = PageAt(bytes, root, reader.meta().page_size);
  EXPECT_EQ(h.flags, kLeafPage) << "the root bucket spans several pages";
  const char* page = bytes.data() + root * reader.meta().page_size;
  for (uint32_t i = 0; i < h.count; ++i) {
    const char* e = page + kPageHeaderSize + kElementSize * i;
    const char* k = e + LoadU32(e + 4);
    if (std::string_view(k, LoadU32(e + 8)) == name) return LoadU64(k + LoadU32(e + 8));
  }
  ADD_FAILURE() << "no bucket " << name;
  return 0;
}

// Depth of the tree rooted at `pgid`, following first children.
int TreeDepth(const std::string& bytes, uint64_t pgid, uint32_t page_size = 4096) {
  int depth = 1;
  while (PageAt(bytes, pgid, page_size).flags == kBranchPage) {
    const char* e = bytes.data() + pgid * page_size + kPageHeaderSize;
    pgid = LoadU64(e + 8);
    ++depth;
  }
  return depth;
}

void ExpectRoundTrip(const Model& model, Writer::Options options = {}) {
  auto bytes = WriteToMemory(model, options);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  EXPECT_EQ(bytes->size() % options.page_size, 0u);
  auto read = ReadAndCheck(*bytes);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_TRUE(*read == model);
}

// Writes `model` to a file and checks that etcdctl (real bbolt: Tx.Check, then every entry)
// agrees with our Reader.
void ExpectEtcdctlAgrees(const Model& model, Writer::Options options = {}) {
  if (!testing::HaveEtcdctl()) GTEST_SKIP() << "etcdctl is not installed";
  TempDir dir;
  const std::string path = dir.path() + "/db";
  auto w = Writer::Create(path, options);
  ASSERT_TRUE(w.ok()) << w.status();
  ASSERT_TRUE(WriteModel(model, *std::move(w)).ok());
  auto reader = Reader::Open(path);
  ASSERT_TRUE(reader.ok()) << reader.status();
  auto want = testing::ComputeSnapshotStatus(**reader);
  ASSERT_TRUE(want.ok()) << want.status();
  auto got = testing::EtcdctlSnapshotStatus(path);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, *want);
}

TEST(BboltTest, EmptyDatabase) {
  auto bytes = WriteToMemory({});
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  // Two metas, the freelist and the (empty) root leaf.
  EXPECT_EQ(bytes->size(), 4u * 4096);
  auto reader = Reader::FromBytes(*bytes, "empty.db");
  ASSERT_TRUE(reader.ok()) << reader.status();
  EXPECT_EQ((*reader)->meta().high_water, 4u);
  EXPECT_EQ((*reader)->meta().page_size, 4096u);
  EXPECT_EQ((*reader)->meta_page(), 0);
  EXPECT_TRUE((*reader)->Check().ok());
  auto names = (*reader)->BucketNames();
  ASSERT_TRUE(names.ok());
  EXPECT_TRUE(names->empty());
  EXPECT_EQ((*reader)->ForEach("x", [](const Reader::Entry&) { return absl::OkStatus(); }).code(),
            absl::StatusCode::kNotFound);
}

TEST(BboltTest, MetaPagesMatchTheFormat) {
  auto bytes = WriteToMemory({{"a", {{"k", "v"}}}});
  ASSERT_TRUE(bytes.ok());
  for (uint64_t pgid : {0, 1}) {
    const PageHeader h = PageAt(*bytes, pgid);
    EXPECT_EQ(h.id, pgid);
    EXPECT_EQ(h.flags, kMetaPage);
    const char* m = bytes->data() + pgid * 4096 + kPageHeaderSize;
    EXPECT_EQ(LoadU32(m), 0xED0CDAEDu);
    EXPECT_EQ(LoadU32(m + 4), 2u);
    EXPECT_EQ(LoadU32(m + 8), 4096u);
    EXPECT_EQ(LoadU64(m + 56), Fnv64a(std::string_view(m, 56)));
  }
  // FNV-1a 64 test vectors.
  EXPECT_EQ(Fnv64a(""), 0xcbf29ce484222325ull);
  EXPECT_EQ(Fnv64a("a"), 0xaf63dc4c8601ec8cull);
  EXPECT_EQ(Fnv64a("foobar"), 0x85944171f73967e8ull);
  const PageHeader freelist = PageAt(*bytes, 2);
  EXPECT_EQ(freelist.flags, kFreelistPage);
  EXPECT_EQ(freelist.count, 0);
}

TEST(BboltTest, EmptyAndSmallBucketsInlineOrNot) {
  const Model model = {{"empty", {}}, {"one", {{"k", "v"}}}, {"two", {{"a", ""}, {"b", "x"}}}};
  ExpectRoundTrip(model);
  ExpectRoundTrip(model, {.inline_small_buckets = false});

  auto inl = WriteToMemory(model);
  auto paged = WriteToMemory(model, {.inline_small_buckets = false});
  ASSERT_TRUE(inl.ok() && paged.ok());
  auto r1 = Reader::FromBytes(*inl, "inline.db");
  auto r2 = Reader::FromBytes(*paged, "paged.db");
  ASSERT_TRUE(r1.ok() && r2.ok());
  EXPECT_EQ(BucketRoot(**r1, *inl, "one"), 0u);
  EXPECT_EQ(BucketRoot(**r1, *inl, "empty"), 0u);
  EXPECT_NE(BucketRoot(**r2, *paged, "one"), 0u);
  EXPECT_EQ(PageAt(*paged, BucketRoot(**r2, *paged, "empty")).count, 0);
  EXPECT_EQ(inl->size(), 4u * 4096);
  EXPECT_EQ(paged->size(), 7u * 4096);
}

TEST(BboltTest, QuarterPageBucketIsInlineOneByteMoreIsNot) {
  // A bucket is inline when its leaf (header, elements, keys, values) fits in page_size / 4.
  const size_t value_size = 4096 / 4 - kPageHeaderSize - kElementSize - 1;
  for (size_t extra : {0, 1}) {
    const Model model = {{"b", {{"k", std::string(value_size + extra, 'v')}}}};
    auto bytes = WriteToMemory(model);
    ASSERT_TRUE(bytes.ok());
    auto reader = Reader::FromBytes(*bytes, "q.db");
    ASSERT_TRUE(reader.ok());
    EXPECT_EQ(BucketRoot(**reader, *bytes, "b") == 0, extra == 0);
    ExpectRoundTrip(model);
  }
}

TEST(BboltTest, ManyKeysSpanLeavesAndBranchLevels) {
  std::mt19937_64 rng(1);
  Model model = {{"a", MakeBucket(rng, "key/", 20000, 120)}, {"b", MakeBucket(rng, "b", 700, 40)}};
  auto bytes = WriteToMemory(model);
  ASSERT_TRUE(bytes.ok());
  auto reader = Reader::FromBytes(*bytes, "many.db");
  ASSERT_TRUE(reader.ok());
  EXPECT_EQ(TreeDepth(*bytes, BucketRoot(**reader, *bytes, "a")), 3);
  EXPECT_EQ(TreeDepth(*bytes, BucketRoot(**reader, *bytes, "b")), 2);
  ExpectRoundTrip(model);
  ExpectEtcdctlAgrees(model);
}

TEST(BboltTest, EveryLeafCountAroundPageBoundaries) {
  // Sizes around one and two full leaves and branches.
  std::mt19937_64 rng(2);
  for (size_t n : {1, 2, 30, 31, 32, 33, 63, 64, 65, 127, 128, 129, 3000, 3900, 4100}) {
    Bucket b;
    for (size_t i = 0; i < n; ++i)
      b.emplace_back(absl::StrFormat("%08d", i), std::string(100, 'x'));
    ExpectRoundTrip({{"b", b}});
    ExpectRoundTrip({{"b", b}}, {.inline_small_buckets = false});
  }
}

TEST(BboltTest, LargeValuesUseOverflowPages) {
  std::mt19937_64 rng(3);
  Model model = {{"big",
                  {{"a", RandomBytes(rng, 5000)},
                   {"b", ""},
                   {"c", RandomBytes(rng, 70000)},
                   {"d", "small"},
                   {"e", RandomBytes(rng, 3 << 20)},
                   {"f", RandomBytes(rng, 4096 - 32 - 1)},
                   {"g", RandomBytes(rng, 4096 - 32)}}}};
  auto bytes = WriteToMemory(model);
  ASSERT_TRUE(bytes.ok());
  // Some leaf has overflow pages: 3 MiB needs 769 pages.
  uint32_t max_overflow = 0;
  for (uint64_t pgid = 3; pgid < bytes->size() / 4096; ++pgid) {
    const PageHeader h = PageAt(*bytes, pgid);
    if (h.id == pgid && h.flags == kLeafPage) max_overflow = std::max(max_overflow, h.overflow);
  }
  EXPECT_EQ(max_overflow, ((3u << 20) + 32 + 1 + 4095) / 4096 - 1);
  ExpectRoundTrip(model);
  ExpectEtcdctlAgrees(model);
}

TEST(BboltTest, LongKeysMakeDeepTreesAndOverflowingBranches) {
  std::mt19937_64 rng(4);
  Bucket deep;
  for (int i = 0; i < 300; ++i)
    deep.emplace_back(absl::StrFormat("%05d", i) + std::string(3000, 'k'), "v");
  Bucket huge;
  for (int i = 0; i < 20; ++i) {
    huge.emplace_back(absl::StrFormat("%05d", i) + std::string(kMaxKeySize - 5, 'h'), "v");
  }
  Model model = {{"deep", deep}, {"huge", huge}};
  auto bytes = WriteToMemory(model);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  auto reader = Reader::FromBytes(*bytes, "deep.db");
  ASSERT_TRUE(reader.ok());
  EXPECT_GE(TreeDepth(*bytes, BucketRoot(**reader, *bytes, "deep")), 8);
  const uint64_t huge_root = BucketRoot(**reader, *bytes, "huge");
  EXPECT_EQ(PageAt(*bytes, huge_root).flags, kBranchPage);
  EXPECT_GT(PageAt(*bytes, huge_root).overflow, 0u);
  ExpectRoundTrip(model);
  ExpectEtcdctlAgrees(model);
}

TEST(BboltTest, HundredThousandKeysOnDisk) {
  std::mt19937_64 rng(5);
  Model model = {{"kv", MakeBucket(rng, "/registry/pods/default/pod-", 100000, 200)},
                 {"small", {{"x", "y"}}}};
  TempDir dir;
  const std::string path = dir.path() + "/big.db";
  auto w = Writer::Create(path);
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE(WriteModel(model, *std::move(w)).ok());
  EXPECT_EQ(std::filesystem::file_size(path) % 4096, 0u);
  auto reader = Reader::Open(path);
  ASSERT_TRUE(reader.ok()) << reader.status();
  EXPECT_TRUE((*reader)->Check().ok());
  auto read = ReadModel(**reader);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_TRUE(*read == model);
  ExpectEtcdctlAgrees(model);
}

TEST(BboltTest, ManyBucketsInAnyOrder) {
  // 400 buckets: the root bucket itself needs several leaves and a branch.
  std::mt19937_64 rng(6);
  Model model;
  for (int i = 0; i < 400; ++i) {
    model[absl::StrFormat("bucket-%03d", i)] = MakeBucket(rng, "k", rng() % 12, 150);
  }
  std::vector<std::string> order;
  for (const auto& [name, unused] : model) order.push_back(name);
  std::shuffle(order.begin(), order.end(), rng);
  auto bytes = std::make_shared<std::string>();
  auto w = Writer::Create(std::make_unique<MemoryFile>(bytes, MemoryFile::Faults{}), {});
  ASSERT_TRUE(w.ok());
  for (const std::string& name : order) {
    ASSERT_TRUE((*w)->StartBucket(name).ok());
    for (const auto& [k, v] : model[name]) ASSERT_TRUE((*w)->Put(k, v).ok());
  }
  ASSERT_TRUE((*w)->Finish().ok());
  auto reader = Reader::FromBytes(*bytes, "buckets.db");
  ASSERT_TRUE(reader.ok());
  EXPECT_EQ(PageAt(*bytes, (*reader)->meta().root).flags, kBranchPage);
  auto read = ReadAndCheck(*bytes);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_TRUE(*read == model);
  ExpectEtcdctlAgrees(model);
}

TEST(BboltTest, OtherPageSizes) {
  std::mt19937_64 rng(7);
  const Model model = {{"a", MakeBucket(rng, "k", 3000, 300)}, {"b", {{"x", "y"}}}};
  for (uint32_t ps : {512u, 1024u, 8192u, 65536u}) {
    SCOPED_TRACE(ps);
    ExpectRoundTrip(model, {.page_size = ps});
  }
  EXPECT_EQ(Writer::Create(
                std::make_unique<MemoryFile>(std::make_shared<std::string>(), MemoryFile::Faults{}),
                {.page_size = 3000})
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(BboltTest, FallsBackToMetaOneAtAnyPageSize) {
  std::mt19937_64 rng(8);
  const Model model = {{"a", MakeBucket(rng, "k", 500, 50)}};
  for (uint32_t ps : {1024u, 4096u, 16384u}) {
    auto bytes = WriteToMemory(model, {.page_size = ps});
    ASSERT_TRUE(bytes.ok());
    std::fill(bytes->begin(), bytes->begin() + ps, '\0');
    auto reader = Reader::FromBytes(*bytes, "meta1.db");
    ASSERT_TRUE(reader.ok()) << reader.status();
    EXPECT_EQ((*reader)->meta_page(), 1);
    EXPECT_EQ((*reader)->meta().page_size, ps);
    auto read = ReadAndCheck(*bytes);
    ASSERT_TRUE(read.ok()) << read.status();
    EXPECT_TRUE(*read == model);
  }
}

TEST(BboltTest, RejectsBadInput) {
  auto bytes = std::make_shared<std::string>();
  auto w = Writer::Create(std::make_unique<MemoryFile>(bytes, MemoryFile::Faults{}), {});
  ASSERT_TRUE(w.ok());
  Writer& writer = **w;
  EXPECT_EQ(writer.Put("k", "v").code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(writer.StartBucket("").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(writer.StartBucket(std::string(kMaxKeySize + 1, 'b')).code(),
            absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(writer.StartBucket("b").ok());
  EXPECT_EQ(writer.Put("", "v").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(writer.Put(std::string(kMaxKeySize + 1, 'k'), "v").code(),
            absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(writer.Put("m", "1").ok());
  EXPECT_EQ(writer.Put("m", "2").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(writer.Put("a", "2").code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(writer.Put("z", "3").ok());  // a rejected entry leaves the writer usable
  EXPECT_EQ(writer.StartBucket("b").code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(writer.StartBucket("a").ok());
  ASSERT_TRUE(writer.Put("m", "4").ok());  // keys are ordered per bucket
  ASSERT_TRUE(writer.Finish().ok());
  EXPECT_EQ(writer.Finish().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(writer.StartBucket("c").code(), absl::StatusCode::kFailedPrecondition);
  auto read = ReadAndCheck(*bytes);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_TRUE(*read == (Model{{"a", {{"m", "4"}}}, {"b", {{"m", "1"}, {"z", "3"}}}}));
}

TEST(BboltTest, WriteFaultsAreReportedAndSticky) {
  std::mt19937_64 rng(9);
  const Model model = {{"a", MakeBucket(rng, "k", 30000, 100)}};
  auto full = WriteToMemory(model);
  ASSERT_TRUE(full.ok());
  for (uint64_t limit : {uint64_t{0}, uint64_t{4096}, uint64_t{1} << 20, full->size() - 1}) {
    SCOPED_TRACE(limit);
    auto bytes = std::make_shared<std::string>();
    auto w = Writer::Create(std::make_unique<MemoryFile>(bytes, MemoryFile::Faults{limit}), {});
    absl::Status s = w.ok() ? WriteModel(model, *std::move(w)) : w.status();
    EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
    EXPECT_FALSE(Reader::FromBytes(*bytes, "partial.db").ok());
  }
  for (MemoryFile::Faults faults :
       {MemoryFile::Faults{.fail_sync = true}, MemoryFile::Faults{.fail_write_at = true}}) {
    auto bytes = std::make_shared<std::string>();
    auto w = Writer::Create(std::make_unique<MemoryFile>(bytes, faults), {});
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->StartBucket("a").ok());
    ASSERT_TRUE((*w)->Put("k", "v").ok());
    absl::Status s = (*w)->Finish();
    EXPECT_EQ(s.code(), absl::StatusCode::kInternal) << s;
    EXPECT_EQ((*w)->StartBucket("b").code(), absl::StatusCode::kInternal);  // sticky
    EXPECT_FALSE(Reader::FromBytes(*bytes, "unsynced.db").ok());
  }
  // Creating a file in a directory that does not exist names the path.
  auto bad = Writer::Create("/nonexistent-dir/x.db");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("/nonexistent-dir/x.db"), absl::string_view::npos);
}

// A small database of ~10 pages with every page type: metas, freelist, root bucket leaf, branch
// and leaf pages, an inline bucket, an overflow leaf.
Model SmallModel() {
  std::mt19937_64 rng(10);
  return {{"a", MakeBucket(rng, "k", 120, 60)},
          {"b", {{"big", RandomBytes(rng, 5000)}}},
          {"c", {{"x", "y"}}}};
}

TEST(BboltTest, EveryTruncationIsAnError) {
  const Model model = SmallModel();
  auto bytes = WriteToMemory(model);
  ASSERT_TRUE(bytes.ok());
  ASSERT_GE(bytes->size(), 8u * 4096);
  for (size_t len = 0; len < bytes->size(); ++len) {
    auto reader = Reader::FromBytes(bytes->substr(0, len), "cut.db");
    ASSERT_FALSE(reader.ok()) << "length " << len;
    ASSERT_EQ(reader.status().code(), absl::StatusCode::kDataLoss);
    if (len >= 2 * 4096) {
      ASSERT_NE(reader.status().message().find("truncated"), absl::string_view::npos)
          << reader.status();
    }
  }
  // Bytes after the last page (etcdctl's sha256) are ignored.
  auto read = ReadAndCheck(*bytes + std::string(32, '\x5a'));
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_TRUE(*read == model);
}

TEST(BboltTest, ByteFlipsGiveAnErrorOrACorrectRead) {
  const Model model = SmallModel();
  auto bytes = WriteToMemory(model);
  ASSERT_TRUE(bytes.ok());
  const size_t ps = 4096;
  size_t errors = 0, reads = 0;
  for (size_t pos = 0; pos < bytes->size(); ++pos) {
    for (unsigned char mask : {0xFF, 0x01, 0x80}) {
      std::string damaged = *bytes;
      damaged[pos] = static_cast<char>(damaged[pos] ^ mask);
      auto read = ReadAndCheck(std::move(damaged));
      read.ok() ? ++reads : ++errors;
      if (pos < 2 * ps) {
        // Either meta page alone describes the whole database.
        ASSERT_TRUE(read.ok()) << "meta byte " << pos << ": " << read.status();
        ASSERT_TRUE(*read == model) << "meta byte " << pos;
      } else if (pos % ps < 8 && PageAt(*bytes, pos / ps).id == pos / ps) {
        // A page header's id that no longer matches its position is always caught.
        ASSERT_FALSE(read.ok()) << "page id byte " << pos;
        ASSERT_EQ(read.status().code(), absl::StatusCode::kDataLoss);
      }
    }
  }
  EXPECT_GT(errors, 0u);
  EXPECT_GT(reads, 0u);
}

TEST(BboltTest, BothMetasDamagedIsAnError) {
  auto bytes = WriteToMemory(SmallModel());
  ASSERT_TRUE(bytes.ok());
  std::string damaged = *bytes;
  damaged[16 + 20] ^= 1;         // meta 0's root
  damaged[4096 + 16 + 60] ^= 1;  // meta 1's checksum
  auto reader = Reader::FromBytes(damaged, "nometa.db");
  ASSERT_FALSE(reader.ok());
  EXPECT_EQ(reader.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(reader.status().message().find("nometa.db"), absl::string_view::npos);
  EXPECT_NE(reader.status().message().find("checksum"), absl::string_view::npos);
}

TEST(BboltTest, StructuralDamageIsNamed) {
  std::mt19937_64 rng(11);
  const Model model = {{"a", MakeBucket(rng, "k", 500, 60)}};
  auto bytes = WriteToMemory(model, {.inline_small_buckets = false});
  ASSERT_TRUE(bytes.ok());
  auto reader = Reader::FromBytes(*bytes, "s.db");
  ASSERT_TRUE(reader.ok());
  const uint64_t root = BucketRoot(**reader, *bytes, "a");
  ASSERT_EQ(PageAt(*bytes, root).flags, kBranchPage);
  const size_t child_field = root * 4096 + kPageHeaderSize + 8;
  const uint64_t first_child = LoadU64(bytes->data() + child_field);

  auto expect_error = [&](std::string damaged, const std::string& needle) {
    auto read = ReadAndCheck(std::move(damaged));
    ASSERT_FALSE(read.ok()) << needle;
    EXPECT_EQ(read.status().code(), absl::StatusCode::kDataLoss);
    EXPECT_NE(read.status().message().find(needle), absl::string_view::npos) << read.status();
  };
  std::string d = *bytes;
  StoreU64(d.data() + child_field, root);  // a cycle: the branch points at itself
  expect_error(d, "reached twice");
  d = *bytes;
  StoreU64(d.data() + child_field, 1u << 30);
  expect_error(d, "outside [2,");
  d = *bytes;
  StoreU64(d.data() + child_field, LoadU64(d.data() + child_field + kElementSize));
  expect_error(d, "reached twice");
  d = *bytes;
  StoreU16(d.data() + first_child * 4096 + 10, 4000);  // element count
  expect_error(d, "elements do not fit");
  d = *bytes;
  StoreU32(d.data() + first_child * 4096 + kPageHeaderSize + 4, 1u << 31);  // element pos
  expect_error(d, "extends past the page");
  d = *bytes;
  StoreU32(d.data() + first_child * 4096 + 12, 1u << 30);  // overflow
  expect_error(d, "runs past the high-water mark");
  d = *bytes;
  StoreU16(d.data() + first_child * 4096 + 8, kMetaPage);
  expect_error(d, "expected a branch or leaf page");
  d = *bytes;
  // Swap two keys in a leaf: out of order.
  const char* e0 = bytes->data() + first_child * 4096 + kPageHeaderSize;
  const size_t k0 = first_child * 4096 + kPageHeaderSize + LoadU32(e0 + 4);
  d[k0 + 8] = '9';
  expect_error(d, "out of order");
  // An unreferenced page below the high-water mark: Check() reports it.
  d = *bytes;
  {
    // Append a page and raise the high-water mark in both metas.
    d.append(4096, '\0');
    for (int m = 0; m < 2; ++m) {
      char* meta = d.data() + m * 4096 + kPageHeaderSize;
      Meta decoded = DecodeMeta(meta);
      decoded.high_water += 1;
      EncodeMeta(decoded, meta);
    }
    auto r = Reader::FromBytes(d, "leak.db");
    ASSERT_TRUE(r.ok()) << r.status();
    absl::Status s = (*r)->Check();
    EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
    EXPECT_NE(s.message().find("unreachable unfreed"), absl::string_view::npos) << s;
  }
}

TEST(BboltTest, RandomGarbageNeverCrashes) {
  const Model model = SmallModel();
  auto bytes = WriteToMemory(model, {.inline_small_buckets = false});
  ASSERT_TRUE(bytes.ok());
  std::mt19937_64 rng(12);
  size_t errors = 0;
  for (int iter = 0; iter < 4000; ++iter) {
    std::string d = *bytes;
    const int n = 1 + static_cast<int>(rng() % 16);
    for (int i = 0; i < n; ++i) {
      // Past the metas, so that the damage is reached.
      const size_t pos = 2 * 4096 + rng() % (d.size() - 2 * 4096);
      // Small integers make plausible ids, counts and offsets.
      d[pos] = static_cast<char>(rng() % 3 == 0 ? rng() % 8 : rng());
    }
    auto read = ReadAndCheck(std::move(d));
    if (!read.ok()) {
      ++errors;
      EXPECT_EQ(read.status().code(), absl::StatusCode::kDataLoss) << read.status();
    }
  }
  EXPECT_GT(errors, 1000u);
}

// --- Regressions: inputs that made the Reader do unbounded work ----------------------------------

// `model` written with a root page per bucket, and the leaf of bucket `bucket` (one page) patched
// by `patch`, which gets the page's first byte.
template <typename Patch>
std::string WriteAndPatchLeaf(const Model& model, const std::string& bucket, Patch patch) {
  auto bytes = WriteToMemory(model, {.inline_small_buckets = false});
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  auto reader = Reader::FromBytes(*bytes, "p.db");
  EXPECT_TRUE(reader.ok()) << reader.status();
  const uint64_t leaf = BucketRoot(**reader, *bytes, bucket);
  EXPECT_EQ(PageAt(*bytes, leaf).flags, kLeafPage);
  patch(bytes->data() + leaf * 4096);
  return *bytes;
}

// Entries whose bytes overlap (bbolt writes each key and value after the previous one): with them,
// a few pages could hand out one large value thousands of times.
TEST(BboltTest, OverlappingEntriesAreDamage) {
  const Model model = {{"a", {{"k1", std::string(3000, 'v')}, {"k2", "w"}}}};
  const std::string bytes = WriteAndPatchLeaf(model, "a", [](char* page) {
    // Entry 1 becomes key "k1v" and the 2999 bytes after it: inside entry 0's value.
    char* e1 = page + kPageHeaderSize + kElementSize;
    const char* k0 = page + kPageHeaderSize + LoadU32(page + kPageHeaderSize + 4);
    StoreU32(e1 + 4, static_cast<uint32_t>(k0 - e1));
    StoreU32(e1 + 8, 3);
    StoreU32(e1 + 12, 2999);
  });
  auto read = ReadAndCheck(bytes);
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(read.status().message().find("overlaps"), absl::string_view::npos) << read.status();
}

// A bucket value holding an inline bucket whose two entries ("a" and "ba") are both buckets with
// the same bytes as their value, `depth` times over.
std::string FanOutBucketValue(int depth) {
  std::string value;
  AppendBucketHeader(0, 0, &value);
  value.append(kPageHeaderSize, '\0');
  EncodePageHeader({.flags = kLeafPage}, value.data() + kBucketHeaderSize);
  for (int level = 0; level < depth; ++level) {
    std::string page(kPageHeaderSize + 2 * kElementSize, '\0');
    EncodePageHeader({.flags = kLeafPage, .count = 2}, page.data());
    const uint32_t data = static_cast<uint32_t>(page.size());  // "ba" then the shared value
    for (uint32_t i = 0; i < 2; ++i) {
      char* e = page.data() + kPageHeaderSize + kElementSize * i;
      const uint32_t key_at = i == 0 ? data + 1 : data;
      StoreU32(e, kBucketLeafFlag);
      StoreU32(e + 4, key_at - static_cast<uint32_t>(kPageHeaderSize + kElementSize * i));
      StoreU32(e + 8, i == 0 ? 1 : 2);
      StoreU32(e + 12, static_cast<uint32_t>(value.size()));
    }
    std::string next;
    AppendBucketHeader(0, 0, &next);
    value = next + page + "ba" + value;
  }
  return value;
}

// Nested inline buckets sharing their bytes, 40 levels: Check() walked 2^40 inline pages.
TEST(BboltTest, NestedBucketsSharingBytesAreDamageNotAHang) {
  const Model model = {{"n", {{"child", FanOutBucketValue(40)}}}};
  const std::string bytes = WriteAndPatchLeaf(model, "n", [](char* page) {
    StoreU32(page + kPageHeaderSize, kBucketLeafFlag);  // "child" is a nested bucket
  });
  auto reader = Reader::FromBytes(bytes, "fanout.db");
  ASSERT_TRUE(reader.ok()) << reader.status();
  absl::Status s = (*reader)->Check();
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_NE(s.message().find("overlaps"), absl::string_view::npos) << s;
}

// --- A real etcd 3.4 snapshot -------------------------------------------------------------------

class EtcdSnapshotTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testing::HaveEtcdctl()) GTEST_SKIP() << "etcdctl is not installed";
    auto etcd = testing::ServerProcess::StartEtcd();
    ASSERT_TRUE(etcd.ok()) << etcd.status();
    etcd_ = *std::move(etcd);
    kv_ = etcd_->NewKvStub();
  }

  void Put(const std::string& key, const std::string& value, int64_t lease = 0) {
    grpc::ClientContext ctx;
    etcdserverpb::PutRequest req;
    req.set_key(key);
    req.set_value(value);
    req.set_lease(lease);
    etcdserverpb::PutResponse resp;
    ASSERT_TRUE(kv_->Put(&ctx, req, &resp).ok());
  }

  TempDir dir_;
  std::unique_ptr<testing::ServerProcess> etcd_;
  std::unique_ptr<etcdserverpb::KV::Stub> kv_;
};

TEST_F(EtcdSnapshotTest, ReadsWhatEtcdWroteAndRewritesItIdentically) {
  // Enough keys that etcd's "key" bucket spans many leaves under a branch page.
  for (int i = 0; i < 1500; ++i) Put(absl::StrFormat("/k/%05d", i), std::string(100, 'a' + i % 26));
  for (int i = 0; i < 1500; i += 7) {
    grpc::ClientContext ctx;
    etcdserverpb::DeleteRangeRequest req;
    req.set_key(absl::StrFormat("/k/%05d", i));
    etcdserverpb::DeleteRangeResponse resp;
    ASSERT_TRUE(kv_->DeleteRange(&ctx, req, &resp).ok());
  }
  {
    grpc::ClientContext ctx;
    etcdserverpb::CompactionRequest req;
    req.set_revision(800);
    etcdserverpb::CompactionResponse resp;
    ASSERT_TRUE(kv_->Compact(&ctx, req, &resp).ok());
  }
  Put("/k/00003", "last");
  const std::string snap = dir_.path() + "/etcd.db";
  testing::CommandResult saved = testing::RunCommand(
      {"etcdctl", "--endpoints=" + etcd_->endpoint(), "snapshot", "save", snap});
  ASSERT_EQ(saved.exit_code, 0) << saved.output;

  auto reader = Reader::Open(snap);  // the trailing sha256 is ignored
  ASSERT_TRUE(reader.ok()) << reader.status();
  EXPECT_EQ((*reader)->meta().page_size, 4096u);
  EXPECT_TRUE((*reader)->Check().ok()) << (*reader)->Check();
  auto names = (*reader)->BucketNames();
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(*names,
            (std::vector<std::string>{"alarm", "auth", "authRoles", "authUsers", "cluster", "key",
                                      "lease", "members", "members_removed", "meta"}));
  auto want = testing::EtcdctlSnapshotStatus(snap);
  ASSERT_TRUE(want.ok()) << want.status();
  auto got = testing::ComputeSnapshotStatus(**reader);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, *want);
  {
    std::ifstream in(snap, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string bytes = ss.str();
    EXPECT_EQ(bytes.size() % 4096, 32u);
    EXPECT_EQ(PageAt(bytes, BucketRoot(**reader, bytes, "key")).flags, kBranchPage);
  }

  // The newest record of every key is what etcd serves.
  std::map<std::string, mvccpb::KeyValue> newest;
  ASSERT_TRUE((*reader)
                  ->ForEach("key",
                            [&](const Reader::Entry& e) {
                              mvccpb::KeyValue kv;
                              if (!kv.ParseFromArray(e.value.data(), e.value.size())) {
                                return absl::DataLossError("not a KeyValue");
                              }
                              if (e.key.size() == 18) {
                                newest.erase(kv.key());  // a tombstone
                              } else {
                                newest[kv.key()] = kv;
                              }
                              return absl::OkStatus();
                            })
                  .ok());
  grpc::ClientContext ctx;
  etcdserverpb::RangeRequest req;
  req.set_key("\0", 1);
  req.set_range_end("\0", 1);
  etcdserverpb::RangeResponse resp;
  ASSERT_TRUE(kv_->Range(&ctx, req, &resp).ok());
  ASSERT_EQ(newest.size(), static_cast<size_t>(resp.kvs_size()));
  for (const mvccpb::KeyValue& kv : resp.kvs()) {
    ASSERT_EQ(newest[kv.key()].SerializeAsString(), kv.SerializeAsString()) << kv.key();
  }

  // Copying every bucket with our Writer gives a file real bbolt reads identically.
  for (bool inline_small : {true, false}) {
    const std::string copy = dir_.path() + (inline_small ? "/copy1.db" : "/copy2.db");
    auto w = Writer::Create(copy, {.inline_small_buckets = inline_small});
    ASSERT_TRUE(w.ok());
    for (const std::string& name : *names) {
      ASSERT_TRUE((*w)->StartBucket(name).ok());
      ASSERT_TRUE(
          (*reader)
              ->ForEach(name, [&](const Reader::Entry& e) { return (*w)->Put(e.key, e.value); })
              .ok());
    }
    ASSERT_TRUE((*w)->Finish().ok());
    auto copied = testing::EtcdctlSnapshotStatus(copy);
    ASSERT_TRUE(copied.ok()) << copied.status();
    EXPECT_EQ(copied->hash, want->hash);
    EXPECT_EQ(copied->revision, want->revision);
    EXPECT_EQ(copied->total_key, want->total_key);
  }
}

}  // namespace
}  // namespace rametcd::bbolt
