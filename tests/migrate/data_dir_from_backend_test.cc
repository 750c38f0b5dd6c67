// Unit tests of WriteWalFromBackend (migrate/data_dir_from_backend.h): an etcd backend with a
// history (overwrites, deletes, a key recreated, a put and delete in one revision, a transaction
// over several streams, keys with leases) and a compaction that etcd scheduled but did not finish
// is written as a WAL and recovered (wal::Recover) into a Store: every retained version at every
// revision from the compaction point on, the revision, the compaction point and the leases come
// back, the files are one checkpoint per stream with nothing below the compaction point but each
// key's newest live version, and the store keeps working through the WAL and another restart.
// Also: the live cut-over's form (one version per key, compaction point = revision), an empty
// backend, a compaction that dropped every record, a non-empty WAL dir and bad backends refused
// with nothing written, and a stale staging dir from an interrupted import.
#include "migrate/data_dir_from_backend.h"

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "lease/lessor.h"
#include "mvcc/store.h"
#include "support/server_process.h"
#include "wal/checkpoint.h"
#include "wal/io_backend.h"
#include "wal/layout.h"
#include "wal/recovery.h"
#include "wal/wal.h"

namespace rametcd::migrate {
namespace {

namespace fs = std::filesystem;
using snapshot::EtcdBackend;

const std::string kNul("\0", 1);
constexpr int64_t kLease1 = 0x1001;
constexpr int64_t kLease2 = 0x2002;
constexpr int64_t kLease3 = 0x3003;

const std::string kPodA = "/registry/pods/default/a";
const std::string kPodB = "/registry/pods/default/b";
const std::string kNodeLease = "/registry/leases/kube-node-lease/n1";

EtcdBackend::KeyRecord Live(int64_t main, int64_t sub, const std::string& key,
                            const std::string& value, int64_t create, int64_t version,
                            int64_t lease = 0) {
  EtcdBackend::KeyRecord r;
  r.main = main;
  r.sub = sub;
  r.kv.set_key(key);
  r.kv.set_value(value);
  r.kv.set_create_revision(create);
  r.kv.set_mod_revision(main);
  r.kv.set_version(version);
  r.kv.set_lease(lease);
  return r;
}

EtcdBackend::KeyRecord Tombstone(int64_t main, int64_t sub, const std::string& key) {
  EtcdBackend::KeyRecord r;
  r.main = main;
  r.sub = sub;
  r.tombstone = true;
  r.kv.set_key(key);
  return r;
}

constexpr int64_t kHistoryCompacted = 6;
constexpr int64_t kHistoryRevision = 13;

// A history over three streams, as etcd's key bucket holds it while the compaction at 6 is
// scheduled but not carried out: the records it would delete (/registry/pods/default/a at 2,
// /other/x at 4 and its tombstone at 6) are still there.
EtcdBackend History() {
  EtcdBackend b;
  b.keys = {
      Live(2, 0, kPodA, "a1", 2, 1),
      Live(3, 0, kNodeLease, "n1", 3, 1, kLease1),
      Live(4, 0, "/other/x", "x1", 4, 1),
      Live(5, 0, kPodA, "a2", 2, 2),
      Tombstone(6, 0, "/other/x"),
      Live(7, 0, kPodB, "b1", 7, 1),  // one transaction over two streams
      Live(7, 1, "/other/y", "y1", 7, 1),
      Tombstone(8, 0, kPodA),
      Live(9, 0, kPodA, "a-again", 9, 1),
      Live(10, 0, "/other/z", "short-lived", 10, 1),  // put and deleted in one revision
      Tombstone(10, 1, "/other/z"),
      Live(11, 0, kNodeLease, "n2", 3, 2, kLease1),
      Live(12, 0, "/k", std::string(5000, 'k'), 12, 1, kLease2),
      Live(13, 0, "/other/x", "", 13, 1),  // recreated, with an empty value
  };
  b.compacted_revision = kHistoryCompacted;
  b.leases = {{kLease1, 60}, {kLease2, 120}, {kLease3, 30}};
  return b;
}

etcdserverpb::RangeRequest AllKeysAt(int64_t revision) {
  etcdserverpb::RangeRequest req;
  req.set_key(kNul);
  req.set_range_end(kNul);
  req.set_revision(revision);
  return req;
}

// What etcd serves at `revision`: each key's newest record at or below it, if live.
std::vector<std::string> ViewAt(const EtcdBackend& backend, int64_t revision) {
  std::map<std::string, const EtcdBackend::KeyRecord*> newest;
  for (const EtcdBackend::KeyRecord& r : backend.keys) {
    if (r.main <= revision) newest[r.kv.key()] = &r;
  }
  std::vector<std::string> kvs;
  for (const auto& [key, r] : newest) {
    if (!r->tombstone) kvs.push_back(r->kv.ShortDebugString());
  }
  return kvs;
}

class DataDirFromBackendTest : public ::testing::Test {
 protected:
  std::string WalDir() const { return wal::WalDir(dir_.path()); }

  // Recovers a fresh store and lessor from the WAL.
  wal::RecoverySummary Recover() {
    store_ = std::make_unique<mvcc::Store>();
    lessor_ = std::make_unique<lease::Lessor>(lease::Lessor::Options{}, store_.get());
    auto recovered = wal::Recover({WalDir(), false}, store_.get(), lessor_.get(), absl::Now());
    EXPECT_TRUE(recovered.ok()) << recovered.status();
    return recovered.ok() ? *std::move(recovered) : wal::RecoverySummary{};
  }

  std::vector<std::string> StoreViewAt(int64_t revision) {
    etcdserverpb::RangeResponse resp;
    absl::Status s = store_->Range(AllKeysAt(revision), &resp);
    EXPECT_TRUE(s.ok()) << "revision " << revision << ": " << s;
    std::vector<std::string> kvs;
    for (const mvccpb::KeyValue& kv : resp.kvs()) kvs.push_back(kv.ShortDebugString());
    return kvs;
  }

  // The recovered store serves what etcd serves for `backend` at every revision from its
  // compaction point on, and refuses reads below it as compacted.
  void ExpectServes(const EtcdBackend& backend, int64_t revision, int64_t compacted) {
    EXPECT_EQ(store_->revision(), revision);
    EXPECT_EQ(store_->compacted_revision(), compacted);
    for (int64_t rev = std::max<int64_t>(compacted, 1); rev <= revision; ++rev) {
      EXPECT_EQ(StoreViewAt(rev), ViewAt(backend, rev)) << "at revision " << rev;
    }
    EXPECT_EQ(StoreViewAt(0), ViewAt(backend, revision));
    if (compacted > 1) {
      etcdserverpb::RangeResponse resp;
      EXPECT_EQ(store_->Range(AllKeysAt(compacted - 1), &resp).code(),
                absl::StatusCode::kOutOfRange);
    }
    etcdserverpb::RangeResponse resp;
    EXPECT_EQ(store_->Range(AllKeysAt(revision + 1), &resp).code(), absl::StatusCode::kOutOfRange);
  }

  void ExpectLeases(const EtcdBackend& backend) {
    std::vector<int64_t> want;
    for (const EtcdBackend::Lease& l : backend.leases) {
      want.push_back(l.id);
      EXPECT_EQ(lessor_->Remaining(l.id, absl::Now()).granted, l.ttl) << l.id;
    }
    std::vector<int64_t> got = lessor_->Leases();
    std::sort(got.begin(), got.end());
    EXPECT_EQ(got, want);
  }

  testing::TempDir dir_;
  std::unique_ptr<mvcc::Store> store_;
  std::unique_ptr<lease::Lessor> lessor_;
};

TEST_F(DataDirFromBackendTest, HistoryComesBackExactly) {
  const EtcdBackend backend = History();
  auto written = WriteWalFromBackend(backend, WalDir());
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_EQ(written->revision, kHistoryRevision);
  EXPECT_EQ(written->compacted, kHistoryCompacted);
  // pods/a: 5, 8 (tombstone), 9; n1: 3, 11; x: 13; b: 7; y: 7; z: 10, 10 (tombstone); /k: 12.
  EXPECT_EQ(written->versions, 11u);
  EXPECT_EQ(written->keys, 6u);  // /other/z is deleted
  EXPECT_EQ(written->leases, 3u);
  EXPECT_EQ(written->streams, 4u);
  EXPECT_GT(written->bytes, 5000u);

  wal::RecoverySummary recovered = Recover();
  EXPECT_EQ(recovered.keys, 6u);
  EXPECT_EQ(recovered.leases, 3u);
  EXPECT_EQ(recovered.orphan_lease_keys, 0u);
  ExpectServes(backend, kHistoryRevision, kHistoryCompacted);
  ExpectLeases(backend);
  EXPECT_EQ(store_->LeaseKeys(kLease1), std::vector<std::string>{kNodeLease});
  EXPECT_EQ(store_->LeaseKeys(kLease2), std::vector<std::string>{"/k"});
  EXPECT_TRUE(store_->LeaseKeys(kLease3).empty());
}

TEST_F(DataDirFromBackendTest, OneCompactedCheckpointPerStream) {
  ASSERT_TRUE(WriteWalFromBackend(History(), WalDir()).ok());
  auto streams = wal::ListStreams(WalDir());
  ASSERT_TRUE(streams.ok()) << streams.status();
  std::vector<std::string> names;
  for (const wal::StreamFiles& files : *streams) {
    names.push_back(files.stream);
    EXPECT_TRUE(files.checkpoint.has_value()) << files.stream;
    EXPECT_TRUE(files.logs.empty()) << files.stream;
    EXPECT_TRUE(files.garbage.empty()) << files.stream;
    auto state = wal::ReplayStream(files, *files.checkpoint, /*skip_damaged=*/false);
    ASSERT_TRUE(state.ok()) << state.status();
    EXPECT_EQ(state->revision, kHistoryRevision) << files.stream;
    EXPECT_EQ(state->compacted, kHistoryCompacted) << files.stream;
    for (const auto& [key, versions] : state->keys) {
      EXPECT_EQ(wal::StreamOfKey(key), files.stream);
      // etcd's compaction leaves at most each key's newest live version at or below it.
      ASSERT_FALSE(versions.empty());
      for (size_t i = 1; i < versions.size(); ++i) {
        EXPECT_GT(versions[i].mod_revision(), kHistoryCompacted) << key;
      }
      if (versions[0].mod_revision() <= kHistoryCompacted) {
        EXPECT_NE(versions[0].version(), 0) << key;
      }
    }
  }
  EXPECT_EQ(names,
            (std::vector<std::string>{"/registry/leases/", "/registry/pods/", "_meta", "_other"}));
}

TEST_F(DataDirFromBackendTest, KeepsWorkingThroughTheWalAndAnotherRestart) {
  const EtcdBackend backend = History();
  ASSERT_TRUE(WriteWalFromBackend(backend, WalDir()).ok());
  wal::RecoverySummary recovered = Recover();
  wal::Wal::Options options;
  options.dir = WalDir();
  auto io = wal::MakeIoBackend(wal::IoKind::kPosix);
  ASSERT_TRUE(io.ok()) << io.status();
  auto wal = wal::Wal::Start(options, *std::move(io), recovered);
  ASSERT_TRUE(wal.ok()) << wal.status();
  store_->set_change_log(wal->get());
  etcdserverpb::PutRequest put;
  put.set_key(kPodB);
  put.set_value("b2");
  put.set_lease(kLease3);
  etcdserverpb::PutResponse put_resp;
  ASSERT_TRUE(store_->Put(put, &put_resp).ok());
  EXPECT_EQ(put_resp.header().revision(), kHistoryRevision + 1);
  ASSERT_TRUE(lessor_->Revoke(kLease2).ok());  // deletes /k at revision 15
  EXPECT_EQ(store_->revision(), kHistoryRevision + 2);
  const std::vector<std::string> before = StoreViewAt(0);
  const std::vector<std::string> before_history = StoreViewAt(kHistoryCompacted);
  (*wal)->Stop();
  store_->set_change_log(nullptr);

  Recover();
  EXPECT_EQ(store_->revision(), kHistoryRevision + 2);
  EXPECT_EQ(store_->compacted_revision(), kHistoryCompacted);
  EXPECT_EQ(StoreViewAt(0), before);
  EXPECT_EQ(StoreViewAt(kHistoryCompacted), before_history);
  EXPECT_EQ(store_->LeaseKeys(kLease3), std::vector<std::string>{kPodB});
  std::vector<int64_t> leases = lessor_->Leases();
  std::sort(leases.begin(), leases.end());
  EXPECT_EQ(leases, (std::vector<int64_t>{kLease1, kLease3}));
}

// What the live cut-over passes: a Range at revision C, every key with one version, compaction
// point C.
TEST_F(DataDirFromBackendTest, OneVersionPerKeyAtTheCompactionPoint) {
  EtcdBackend backend;
  backend.keys = {Live(3, 0, kPodA, "a", 3, 1), Live(17, 0, "/x", "x", 5, 4, kLease1),
                  Live(17, 1, kNodeLease, "n", 17, 1), Live(40, 0, kPodB, "b", 20, 9)};
  backend.compacted_revision = 50;
  backend.leases = {{kLease1, 10}};
  auto written = WriteWalFromBackend(backend, WalDir());
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_EQ(written->revision, 50);
  EXPECT_EQ(written->compacted, 50);
  EXPECT_EQ(written->keys, 4u);
  EXPECT_EQ(written->versions, 4u);
  Recover();
  ExpectServes(backend, 50, 50);
  ExpectLeases(backend);
  etcdserverpb::PutRequest put;
  put.set_key("/new");
  etcdserverpb::PutResponse resp;
  ASSERT_TRUE(store_->Put(put, &resp).ok());
  EXPECT_EQ(resp.header().revision(), 51);
}

TEST_F(DataDirFromBackendTest, EmptyBackend) {
  auto written = WriteWalFromBackend(EtcdBackend{}, WalDir());
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_EQ(written->revision, 1);
  EXPECT_EQ(written->compacted, -1);
  EXPECT_EQ(written->streams, 1u);  // _meta
  Recover();
  EXPECT_EQ(store_->revision(), 1);
  EXPECT_EQ(store_->compacted_revision(), -1);
  EXPECT_TRUE(StoreViewAt(0).empty());
}

// A compaction that drops every record (the newest is a tombstone below it): the revision is
// the compaction point, as etcd's restore sets it.
TEST_F(DataDirFromBackendTest, RevisionIsTheCompactionPointWhenNothingIsLeft) {
  EtcdBackend backend;
  backend.keys = {Live(2, 0, "/gone", "g", 2, 1), Tombstone(3, 0, "/gone")};
  backend.compacted_revision = 5;
  auto written = WriteWalFromBackend(backend, WalDir());
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_EQ(written->revision, 5);
  EXPECT_EQ(written->versions, 0u);
  EXPECT_EQ(written->streams, 1u);
  Recover();
  ExpectServes(backend, 5, 5);
}

TEST_F(DataDirFromBackendTest, RefusesAWalDirThatHoldsData) {
  ASSERT_TRUE(WriteWalFromBackend(History(), WalDir()).ok());
  absl::Status again = WriteWalFromBackend(EtcdBackend{}, WalDir()).status();
  EXPECT_EQ(again.code(), absl::StatusCode::kFailedPrecondition) << again;
  EXPECT_NE(again.message().find(WalDir()), absl::string_view::npos) << again;
  EXPECT_NE(again.message().find("_meta"), absl::string_view::npos) << again;
  Recover();  // untouched
  ExpectServes(History(), kHistoryRevision, kHistoryCompacted);

  testing::TempDir other;
  const std::string wal_dir = wal::WalDir(other.path());
  fs::create_directories(wal_dir);
  std::ofstream(wal_dir + "/stray") << "x";
  absl::Status stray = WriteWalFromBackend(EtcdBackend{}, wal_dir).status();
  EXPECT_EQ(stray.code(), absl::StatusCode::kFailedPrecondition) << stray;
  EXPECT_NE(stray.message().find("stray"), absl::string_view::npos) << stray;
}

TEST_F(DataDirFromBackendTest, AcceptsAnEmptyWalDirAndRemovesAStaleStagingDir) {
  fs::create_directories(WalDir());
  fs::create_directories(WalDir() + ".importing/_other");
  std::ofstream(WalDir() + ".importing/_other/0000000000000001.ckpt") << "half written";
  ASSERT_TRUE(WriteWalFromBackend(History(), WalDir()).ok());
  EXPECT_FALSE(fs::exists(WalDir() + ".importing"));
  Recover();
  ExpectServes(History(), kHistoryRevision, kHistoryCompacted);
}

TEST_F(DataDirFromBackendTest, RefusesBadBackendsAndWritesNothing) {
  struct Case {
    std::string name;
    EtcdBackend backend;
    std::string message;
  };
  std::vector<Case> cases;
  {
    EtcdBackend b = History();
    std::swap(b.keys[1], b.keys[2]);
    cases.push_back({"out of order", b, "does not follow (4, 0)"});
  }
  {
    EtcdBackend b = History();
    b.keys[3].kv.set_mod_revision(4);
    cases.push_back({"mod_revision", b, "mod_revision 4 is not the record's revision"});
  }
  {
    EtcdBackend b = History();
    b.keys[0].kv.set_version(0);
    cases.push_back({"version 0", b, "a live version with version 0"});
  }
  {
    EtcdBackend b = History();
    b.keys[0].kv.clear_key();
    cases.push_back({"empty key", b, "the key is empty"});
  }
  {
    EtcdBackend b;
    b.keys = {Live(0, 0, "/a", "a", 0, 1)};
    cases.push_back({"revision 0", b, "revision is not positive"});
  }
  {
    EtcdBackend b = History();
    b.leases.push_back({kLease1, 5});
    cases.push_back({"repeated lease", b, "lease 1001 repeats"});
  }
  {
    EtcdBackend b = History();
    b.leases.push_back({0, 5});
    cases.push_back({"lease 0", b, "a lease with ID 0"});
  }
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    absl::Status s = WriteWalFromBackend(c.backend, WalDir()).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
    EXPECT_NE(s.message().find(c.message), absl::string_view::npos) << s;
    EXPECT_FALSE(fs::exists(WalDir()));
    EXPECT_FALSE(fs::exists(WalDir() + ".importing"));
  }
}

}  // namespace
}  // namespace rametcd::migrate
