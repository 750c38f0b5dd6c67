// Unit tests of the WAL writer (wal/wal.h) with recovery (wal/recovery.h): round trips through
// both I/O backends, and faults injected through the IoBackend interface: short writes, ENOSPC
// (retried, nothing lost), EIO and failed fsyncs (the WAL fails and says so), a batch that
// reached only some of its files (dropped whole), group commit, checkpoints, and the backlog
// bound; and recovery's refusal of a record in the wrong stream. The test thread plays the apply
// thread.
#include "wal/wal.h"

#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "lease/lessor.h"
#include "mvcc/store.h"
#include "wal/frame.h"
#include "wal/io_backend.h"
#include "wal/layout.h"
#include "wal/record_codec.h"
#include "wal/recovery.h"

namespace rametcd::wal {
namespace {

const std::string kNul("\0", 1);

// Wraps a real backend; `fault` sees each op first and may change it, or fill in its results
// and return false so that the real backend does not run it.
class FaultyBackend : public IoBackend {
 public:
  using Fault = std::function<bool(IoOp& op)>;
  FaultyBackend(std::unique_ptr<IoBackend> real, Fault fault)
      : real_(std::move(real)), fault_(std::move(fault)) {}
  std::string_view name() const override { return real_->name(); }
  void Run(std::span<IoOp> ops) override {
    for (IoOp& op : ops) {
      if (fault_(op)) real_->Run({&op, 1});
    }
  }

 private:
  std::unique_ptr<IoBackend> real_;
  Fault fault_;
};

class WalTest : public ::testing::TestWithParam<IoKind> {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/rametcd-wal-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    if (wal_) wal_->Stop();
    std::filesystem::remove_all(dir_);
  }

  std::unique_ptr<IoBackend> RealBackend() { return *MakeIoBackend(GetParam()); }

  // Recovers a fresh store from the dir and attaches a new Wal using `backend`.
  void Open(std::unique_ptr<IoBackend> backend) {
    store_ = std::make_unique<mvcc::Store>();
    lessor_ = std::make_unique<lease::Lessor>(lease::Lessor::Options{}, store_.get());
    auto recovered = Recover({WalDir(dir_), false}, store_.get(), lessor_.get(), absl::Now());
    ASSERT_TRUE(recovered.ok()) << recovered.status();
    options_.dir = WalDir(dir_);
    auto wal = Wal::Start(options_, std::move(backend), *recovered);
    ASSERT_TRUE(wal.ok()) << wal.status();
    wal_ = *std::move(wal);
    store_->set_change_log(wal_.get());
  }
  void Close() {
    wal_->Stop();
    store_->set_change_log(nullptr);
  }

  int64_t Put(const std::string& key, const std::string& value, int64_t lease = 0) {
    etcdserverpb::PutRequest req;
    req.set_key(key);
    req.set_value(value);
    req.set_lease(lease);
    etcdserverpb::PutResponse resp;
    EXPECT_TRUE(store_->Put(req, &resp).ok());
    return resp.header().revision();
  }
  // One revision in two streams: puts /registry/pods/ns/b, deletes "plain" (in _other).
  void TwoStreamTxn() {
    etcdserverpb::TxnRequest txn;
    auto* put = txn.add_success()->mutable_request_put();
    put->set_key("/registry/pods/ns/b");
    put->set_value("in-txn");
    txn.add_success()->mutable_request_delete_range()->set_key("plain");
    etcdserverpb::TxnResponse txn_resp;
    ASSERT_TRUE(store_->Txn(txn, &txn_resp).ok());
  }
  // Waits for every fsync-mode change so far; returns the outcome.
  absl::Status Durable() {
    absl::Notification done;
    absl::Status result;
    wal_->AfterDurable([&](absl::Status s) {
      result = s;
      done.Notify();
    });
    done.WaitForNotification();
    return result;
  }
  // Stops, recovers from the dir with a fault-free backend, and expects the very same state.
  void ExpectSameAfterRestart() {
    const std::string before = Dump();
    const int64_t revision = store_->revision();
    Close();
    Open(RealBackend());
    EXPECT_EQ(Dump(), before);
    EXPECT_EQ(store_->revision(), revision);
  }
  std::string Dump() {
    etcdserverpb::RangeRequest req;
    req.set_key(kNul);
    req.set_range_end(kNul);
    etcdserverpb::RangeResponse resp;
    EXPECT_TRUE(store_->Range(req, &resp).ok());
    return resp.DebugString();
  }

  // The size of the WAL's files. The checkpointer may delete files meanwhile: those are skipped.
  uint64_t DirBytes() {
    uint64_t bytes = 0;
    std::error_code ec;
    for (std::filesystem::recursive_directory_iterator it(WalDir(dir_), ec), end; !ec && it != end;
         it.increment(ec)) {
      if (it->path().extension() == ".tmp") continue;
      std::error_code size_ec;
      const uintmax_t size = std::filesystem::file_size(it->path(), size_ec);
      if (!size_ec) bytes += size;
    }
    return bytes;
  }

  std::string dir_;
  Wal::Options options_;
  std::unique_ptr<mvcc::Store> store_;
  std::unique_ptr<lease::Lessor> lessor_;
  std::unique_ptr<Wal> wal_;
};

TEST_P(WalTest, RoundTripRestoresExactState) {
  Open(RealBackend());
  EXPECT_EQ(wal_->backend_name(), GetParam() == IoKind::kPosix ? "posix" : "io_uring");
  ASSERT_TRUE(store_->GrantLease(7, 60).ok());
  Put("/registry/pods/ns/a", "1");
  Put("/registry/pods/ns/a", "2", 7);
  Put("/registry/events/ns/e", "event");
  Put("plain", "x");
  TwoStreamTxn();
  ASSERT_TRUE(store_->Compact(3).ok());
  Put("plain", "again");
  const int64_t revision = store_->revision();
  ExpectSameAfterRestart();
  EXPECT_EQ(store_->compacted_revision(), 3);
  EXPECT_TRUE(store_->LeaseExists(7));
  EXPECT_EQ(store_->LeaseKeys(7), std::vector<std::string>{"/registry/pods/ns/a"});
  EXPECT_EQ(lessor_->Remaining(7, absl::Now()).granted, 60);
  // The next write continues the revisions.
  EXPECT_EQ(Put("plain", "next"), revision + 1);
}

TEST_P(WalTest, ShortWritesAreCompleted) {
  options_.modes.set_default_mode(Mode::kFsync);
  Open(std::make_unique<FaultyBackend>(RealBackend(), [](IoOp& op) {
    if (op.data.size() > 1) op.data = op.data.substr(0, op.data.size() / 2);  // half at a time
    return true;
  }));
  for (int i = 0; i < 50; ++i) Put("/registry/pods/p" + std::to_string(i), std::string(300, 'v'));
  EXPECT_TRUE(Durable().ok());
  ExpectSameAfterRestart();
}

TEST_P(WalTest, NoSpaceIsRetriedAndLosesNothing) {
  options_.modes.set_default_mode(Mode::kFsync);
  options_.nospace_retry = absl::Milliseconds(5);
  std::atomic<int> alarms{0};
  options_.on_nospace = [&] { ++alarms; };
  std::atomic<int> failures{3};
  Open(std::make_unique<FaultyBackend>(RealBackend(), [&](IoOp& op) {
    if (failures > 0) {
      --failures;
      op.written = -ENOSPC;
      op.sync_result = 1;
      return false;
    }
    return true;
  }));
  Put("k1", "v1");
  Put("k2", "v2");
  EXPECT_TRUE(Durable().ok());  // only once the retries got through
  EXPECT_GE(alarms.load(), 1);
  EXPECT_TRUE(wal_->Admit().ok());
  options_.on_nospace = nullptr;  // it refers to `alarms`
  ExpectSameAfterRestart();
}

TEST_P(WalTest, WriteErrorFailsTheWal) {
  options_.modes.set_default_mode(Mode::kFsync);
  Open(std::make_unique<FaultyBackend>(RealBackend(), [](IoOp& op) {
    op.written = -EIO;
    return false;
  }));
  Put("k", "v");
  absl::Status durable = Durable();
  EXPECT_EQ(durable.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(durable.message().find("Input/output error"), std::string::npos) << durable;
  EXPECT_EQ(wal_->Admit().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(wal_->stats().failed);
}

TEST_P(WalTest, FailedFsyncFailsTheWal) {
  options_.modes.set_default_mode(Mode::kFsync);
  Open(std::make_unique<FaultyBackend>(RealBackend(), [](IoOp& op) {
    op.written = static_cast<int64_t>(op.data.size());  // "written", but the fsync fails
    op.sync_result = op.sync ? -EIO : 1;
    return false;
  }));
  Put("k", "v");
  absl::Status durable = Durable();
  EXPECT_EQ(durable.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(durable.message().find("fdatasync"), std::string::npos) << durable;
  EXPECT_FALSE(wal_->Admit().ok());
}

TEST_P(WalTest, ConcurrentFsyncWritersShareFsyncs) {
  options_.modes.set_default_mode(Mode::kFsync);
  Open(std::make_unique<FaultyBackend>(RealBackend(), [](IoOp& op) {
    if (op.sync) absl::SleepFor(absl::Milliseconds(2));  // a disk with a real fsync cost
    return true;
  }));
  constexpr int kWrites = 200;
  std::atomic<int> acked{0};
  for (int i = 0; i < kWrites; ++i) {
    Put("/registry/leases/n" + std::to_string(i), "renewed");
    wal_->AfterDurable([&](absl::Status s) {
      EXPECT_TRUE(s.ok());
      ++acked;
    });
  }
  EXPECT_TRUE(Durable().ok());
  EXPECT_EQ(acked.load(), kWrites);
  EXPECT_LT(wal_->stats().fsyncs, static_cast<uint64_t>(kWrites) / 4) << "no group commit";
}

TEST_P(WalTest, CheckpointsBoundTheFiles) {
  options_.segment_bytes = 4096;
  options_.checkpoint_after_compaction_bytes = 1024;
  Open(RealBackend());
  for (int round = 0; round < 20; ++round) {
    for (int i = 0; i < 50; ++i) {
      Put("/registry/pods/p" + std::to_string(i), std::string(200, 'a' + round % 26));
    }
  }
  ASSERT_TRUE(store_->Compact(store_->revision()).ok());
  for (int i = 0; i < 50; ++i) Put("/registry/pods/p" + std::to_string(i), "final");
  // 1,050 writes of ~250 bytes of records; the live data is 50 keys. Checkpoints run in the
  // background: wait until one after the compaction replaced the history.
  for (int i = 0; i < 500 && (DirBytes() >= 120'000 || wal_->stats().checkpoints == 0); ++i) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_LT(DirBytes(), 120'000u);
  EXPECT_GT(wal_->stats().checkpoints, 0u);
  ExpectSameAfterRestart();
}

TEST_P(WalTest, BacklogIsBounded) {
  options_.max_backlog_bytes = 64 << 10;
  std::atomic<bool> release{false};
  Open(std::make_unique<FaultyBackend>(RealBackend(), [&](IoOp&) {
    while (!release) absl::SleepFor(absl::Milliseconds(1));  // a disk that stalls
    return true;
  }));
  bool refused = false;
  for (int i = 0; i < 2000 && !refused; ++i) {
    Put("/registry/pods/p" + std::to_string(i), std::string(1000, 'x'));
    refused = !wal_->Admit().ok();
  }
  EXPECT_TRUE(refused);
  EXPECT_EQ(wal_->Admit().message(), "etcdserver: too many requests");
  release = true;
  for (int i = 0; i < 500 && !wal_->Admit().ok(); ++i) absl::SleepFor(absl::Milliseconds(10));
  EXPECT_TRUE(wal_->Admit().ok());
  Close();  // the backend refers to `release`
}

// A crash in the middle of a batch: its write reached the pods stream's file but not _other's.
// Recovery drops the batch whole: keeping the pods part would keep revision 5 without revision 4
// (in _other), and half of the transaction at revision 6.
TEST_P(WalTest, BatchThatReachedOnlySomeFilesIsDroppedWhole) {
  options_.flush_interval = absl::Hours(1);  // Close() writes everything queued as one batch
  Open(RealBackend());
  Put("/registry/pods/ns/a", "1");
  Put("plain", "1");
  Close();
  Open(RealBackend());  // nothing written in the second run yet: the same state as the first's
  const std::string before = Dump();
  const int64_t revision = store_->revision();
  ASSERT_EQ(revision, 3);
  Close();

  const std::string other_dir = "/" + StreamDirName(kOtherStream) + "/";
  Open(std::make_unique<FaultyBackend>(RealBackend(), [&](IoOp& op) {
    std::error_code ec;
    const std::string path =
        std::filesystem::read_symlink("/proc/self/fd/" + std::to_string(op.fd), ec).string();
    if (path.find(other_dir) == std::string::npos) return true;
    op.written = static_cast<int64_t>(op.data.size());  // "written": lost in the crash
    op.sync_result = op.sync ? 0 : 1;
    return false;
  }));
  EXPECT_EQ(Put("plain", "2"), 4);
  EXPECT_EQ(Put("/registry/pods/ns/a", "2"), 5);
  TwoStreamTxn();
  Close();

  for (int start = 0; start < 2; ++start) {  // the second start finds the files already cut
    Open(RealBackend());
    EXPECT_EQ(Dump(), before) << "start " << start;
    EXPECT_EQ(store_->revision(), revision) << "start " << start;
    Close();
  }
  Open(RealBackend());
  EXPECT_EQ(Put("/registry/pods/ns/c", "next"), revision + 1);
  ExpectSameAfterRestart();
}

INSTANTIATE_TEST_SUITE_P(Backends, WalTest, ::testing::Values(IoKind::kUring, IoKind::kPosix),
                         [](const auto& info) {
                           return std::string(info.param == IoKind::kPosix ? "posix" : "io_uring");
                         });

// Writes `records` as log segment 1 of `stream` under `dir`'s wal/.
void WriteSegment(const std::string& dir, std::string_view stream,
                  const std::vector<Record>& records) {
  const std::string stream_dir = WalDir(dir) + "/" + StreamDirName(stream);
  std::filesystem::create_directories(stream_dir);
  std::string data;
  AppendFileHeader({FileKind::kLog, 1, std::string(stream)}, &data);
  for (const Record& r : records) AppendRecord(r, &data);
  std::ofstream(stream_dir + "/" + SegmentFileName(1, false), std::ios::binary) << data;
}

// Recovers `dir` with and without --wal-skip-damaged: the first must fail with DataLoss naming
// `why`; the second loads at revision 1 without lease 7, and so does a restart after it.
void ExpectCorruptionSkipped(const std::string& dir, const std::string& why) {
  mvcc::Store store;
  lease::Lessor lessor({}, &store);
  auto refused = Recover({WalDir(dir), false}, &store, &lessor, absl::Now());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kDataLoss) << refused.status();
  EXPECT_NE(refused.status().message().find(why), std::string::npos) << refused.status();
  for (int start = 0; start < 2; ++start) {
    mvcc::Store skipped;
    lease::Lessor skipped_lessor({}, &skipped);
    auto loaded = Recover({WalDir(dir), true}, &skipped, &skipped_lessor, absl::Now());
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    EXPECT_FALSE(skipped.LeaseExists(7)) << "start " << start;
    EXPECT_EQ(skipped.revision(), 1) << "start " << start;
    EXPECT_EQ(skipped.compacted_revision(), -1) << "start " << start;
  }
}

class WalRecoveryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/rametcd-wal-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
};

// A valid record of a kind that does not belong in its stream is corruption. wal_recovery_fuzz
// found recovery applying a lease grant that lay in a data stream after an incomplete
// multi-stream transaction (now: batch), then cutting both off the file: the lease was gone after
// the next restart.
TEST_F(WalRecoveryTest, MisplacedRecordIsCorruption) {
  Record txn;
  txn.mutable_txn()->set_revision(2);
  mvccpb::KeyValue* kv = txn.mutable_txn()->add_changes();
  kv->set_key("/registry/pods/a");
  kv->set_create_revision(2);
  kv->set_mod_revision(2);
  kv->set_version(1);
  Record end;  // the batch's _other part is missing: recovery drops it and cuts the file there
  end.mutable_batch_end()->set_batch(1);
  end.mutable_batch_end()->add_streams("/registry/pods/");
  end.mutable_batch_end()->add_streams("_other");
  Record grant;  // belongs in _meta
  grant.mutable_lease_grant()->set_id(7);
  grant.mutable_lease_grant()->set_ttl(60);
  WriteSegment(dir_, "/registry/pods/", {txn, end, grant});
  WriteSegment(dir_, "_other", {});
  ExpectCorruptionSkipped(dir_, "lease_grant record at offset");
}

// A revision no history reaches is corruption: a compaction at INT64_MAX made recovery overflow
// (UBSan in wal_recovery_fuzz) rebuilding the watch history from compacted + 1.
TEST_F(WalRecoveryTest, RevisionBeyondAnyHistoryIsCorruption) {
  Record compaction;
  compaction.mutable_compaction()->set_revision(std::numeric_limits<int64_t>::max());
  WriteSegment(dir_, kMetaStream, {compaction});
  ExpectCorruptionSkipped(dir_, "outside [-1, 2^62]");
}

// A key that is empty or of another stream is corruption: an empty key from a checkpoint made a
// key no range can read (wal_recovery_fuzz), and a key in two streams gets its versions out of
// order.
TEST_F(WalRecoveryTest, KeyOfAnotherStreamIsCorruption) {
  Record txn;
  txn.mutable_txn()->set_revision(2);
  mvccpb::KeyValue* kv = txn.mutable_txn()->add_changes();
  kv->set_key("/other/x");
  kv->set_create_revision(2);
  kv->set_mod_revision(2);
  kv->set_version(1);
  WriteSegment(dir_, "/registry/pods/", {txn});
  ExpectCorruptionSkipped(dir_, "names a key that is empty or not of this stream");
}

}  // namespace
}  // namespace rametcd::wal
