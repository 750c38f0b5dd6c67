// Differential acceptance test of etcd-compatible snapshots. One history of puts, deletes, txns
// (nested ones too), leases and a compaction is applied to a rametcd Store and to a real etcd
// 3.4. Then:
//   - BackendFromStore + WriteEtcdBackend (+ sha256) gives a file that `etcdctl snapshot status`
//     accepts (bbolt's Tx.Check) with the right revision, key count and hash, and that
//     `etcdctl snapshot restore` turns into a data dir on which etcd serves, over gRPC, exactly
//     what the Store serves: every key and version field at every retained revision, the
//     compaction point, leases with their TTLs and keys;
//   - the records BackendFromStore makes are the records etcd itself keeps for that history, as
//     ReadEtcdBackend reads them from `etcdctl snapshot save`; and they are what etcd serves;
//   - rewriting etcd's snapshot through ReadEtcdBackend + WriteEtcdBackend keeps its hash.
#include "snapshot/etcd_backend.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "etcd/api/etcdserverpb/rpc.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "lease/lessor.h"
#include "mvcc/store.h"
#include "snapshot/backend_from_store.h"
#include "snapshot/etcd_tools.h"
#include "snapshot/snapshot_file.h"
#include "support/server_process.h"

namespace rametcd::snapshot {
namespace {

using rametcd::testing::CommandResult;
using rametcd::testing::FreePort;
using rametcd::testing::RunCommand;
using rametcd::testing::TempDir;

constexpr int64_t kLease1 = 0x1001;
constexpr int64_t kLease2 = 0x2002;
constexpr int64_t kLease3 = 0x3003;

// --- Files --------------------------------------------------------------------------------------

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// --- The history --------------------------------------------------------------------------------

etcdserverpb::PutRequest PutReq(const std::string& key, const std::string& value,
                                int64_t lease = 0) {
  etcdserverpb::PutRequest r;
  r.set_key(key);
  r.set_value(value);
  r.set_lease(lease);
  return r;
}

etcdserverpb::DeleteRangeRequest DelReq(const std::string& key, const std::string& end = "") {
  etcdserverpb::DeleteRangeRequest r;
  r.set_key(key);
  r.set_range_end(end);
  return r;
}

// Applies the same operation to the Store (directly) and, when given, to etcd (over gRPC).
class Target {
 public:
  Target(mvcc::Store* store, lease::Lessor* lessor) : store_(store), lessor_(lessor) {}
  explicit Target(std::shared_ptr<grpc::Channel> channel)
      : kv_(etcdserverpb::KV::NewStub(channel)), lease_(etcdserverpb::Lease::NewStub(channel)) {}

  void Put(etcdserverpb::PutRequest req) {
    etcdserverpb::PutResponse resp;
    if (store_ != nullptr) {
      ASSERT_TRUE(store_->Put(req, &resp).ok());
    } else {
      grpc::ClientContext ctx;
      ASSERT_TRUE(kv_->Put(&ctx, req, &resp).ok());
    }
  }
  void Delete(const etcdserverpb::DeleteRangeRequest& req) {
    etcdserverpb::DeleteRangeResponse resp;
    if (store_ != nullptr) {
      ASSERT_TRUE(store_->DeleteRange(req, &resp).ok());
    } else {
      grpc::ClientContext ctx;
      ASSERT_TRUE(kv_->DeleteRange(&ctx, req, &resp).ok());
    }
  }
  void Txn(etcdserverpb::TxnRequest req, bool want_success) {
    etcdserverpb::TxnResponse resp;
    if (store_ != nullptr) {
      absl::Status s = store_->Txn(req, &resp);
      ASSERT_TRUE(s.ok()) << s;
    } else {
      grpc::ClientContext ctx;
      grpc::Status s = kv_->Txn(&ctx, req, &resp);
      ASSERT_TRUE(s.ok()) << s.error_message();
    }
    EXPECT_EQ(resp.succeeded(), want_success);
  }
  void Grant(int64_t id, int64_t ttl) {
    if (store_ != nullptr) {
      ASSERT_TRUE(lessor_->Grant(id, ttl, absl::Now()).ok());
    } else {
      grpc::ClientContext ctx;
      etcdserverpb::LeaseGrantRequest req;
      req.set_id(id);
      req.set_ttl(ttl);
      etcdserverpb::LeaseGrantResponse resp;
      ASSERT_TRUE(lease_->LeaseGrant(&ctx, req, &resp).ok());
    }
  }
  void Revoke(int64_t id) {
    if (store_ != nullptr) {
      ASSERT_TRUE(lessor_->Revoke(id).ok());
    } else {
      grpc::ClientContext ctx;
      etcdserverpb::LeaseRevokeRequest req;
      req.set_id(id);
      etcdserverpb::LeaseRevokeResponse resp;
      ASSERT_TRUE(lease_->LeaseRevoke(&ctx, req, &resp).ok());
    }
  }
  void Compact(int64_t rev) {
    if (store_ != nullptr) {
      ASSERT_TRUE(store_->Compact(rev).ok());
      store_->CompactSome(2);  // leave the compaction half done: the snapshot must not care
    } else {
      grpc::ClientContext ctx;
      etcdserverpb::CompactionRequest req;
      req.set_revision(rev);
      req.set_physical(true);  // etcd's snapshot then holds the finished compaction
      etcdserverpb::CompactionResponse resp;
      ASSERT_TRUE(kv_->Compact(&ctx, req, &resp).ok());
    }
  }

 private:
  mvcc::Store* store_ = nullptr;
  lease::Lessor* lessor_ = nullptr;
  std::unique_ptr<etcdserverpb::KV::Stub> kv_;
  std::unique_ptr<etcdserverpb::Lease::Stub> lease_;
};

// The history, identical on both targets. Changes inside one revision are made in key order, so
// that etcd's sub-revisions match the ones BackendFromStore assigns. Returns the compaction point.
int64_t ApplyHistory(Target& t) {
  t.Put(PutReq("/a", "a1"));  // 2
  t.Put(PutReq("/b", "b1"));  // 3
  t.Put(PutReq("/a", "a2"));  // 4
  t.Grant(kLease1, 100);
  t.Grant(kLease2, 300);
  t.Grant(kLease3, 50);
  t.Put(PutReq("/t", "doomed"));                     // 5
  t.Delete(DelReq("/t"));                            // 6: a tombstone below the compaction point
  t.Put(PutReq("/l1", "with lease 1", kLease1));     // 7
  t.Put(PutReq("/l2", "with lease 2", kLease2));     // 8
  t.Put(PutReq("/l3", "with lease 2", kLease2));     // 9
  t.Put(PutReq("/l4", "lease 3, then 1", kLease3));  // 10
  {
    // 11: delete /b, put /c and /d.
    etcdserverpb::TxnRequest txn;
    auto* cmp = txn.add_compare();
    cmp->set_key("/a");
    cmp->set_target(etcdserverpb::Compare::VERSION);
    cmp->set_result(etcdserverpb::Compare::EQUAL);
    cmp->set_version(2);
    *txn.add_success()->mutable_request_delete_range() = DelReq("/b");
    *txn.add_success()->mutable_request_put() = PutReq("/c", "c1");
    *txn.add_success()->mutable_request_put() = PutReq("/d", "d1");
    *txn.add_failure()->mutable_request_put() = PutReq("/failed", "x");
    t.Txn(txn, true);
  }
  t.Delete(DelReq("/c", "/e"));                      // 12: /c and /d
  t.Put(PutReq("/e", std::string(5000, 'E')));       // 13: a value bigger than a page
  t.Put(PutReq("/l4", "lease 3, then 1", kLease1));  // 14
  t.Revoke(kLease2);                                 // 15: /l2 and /l3
  const int64_t compact_at = 8;
  t.Compact(compact_at);
  {
    // 16: a key put and deleted in one revision (sibling nested txns).
    etcdserverpb::TxnRequest txn;
    etcdserverpb::TxnRequest* put = txn.add_success()->mutable_request_txn();
    *put->add_success()->mutable_request_put() = PutReq("/x", "short-lived");
    etcdserverpb::TxnRequest* del = txn.add_success()->mutable_request_txn();
    *del->add_success()->mutable_request_delete_range() = DelReq("/x");
    t.Txn(txn, true);
  }
  t.Put(PutReq("/z", ""));    // 17: an empty value
  t.Put(PutReq("/a", "a3"));  // 18
  {
    // 19: two puts in key order.
    etcdserverpb::TxnRequest txn;
    *txn.add_success()->mutable_request_put() = PutReq("/m", "m1");
    *txn.add_success()->mutable_request_put() = PutReq("/n", "n1");
    t.Txn(txn, true);
  }
  return compact_at;
}

constexpr int64_t kFinalRevision = 19;

// --- Comparisons --------------------------------------------------------------------------------

etcdserverpb::RangeRequest AllKeysAt(int64_t revision) {
  etcdserverpb::RangeRequest req;
  req.set_key(std::string(1, '\0'));
  req.set_range_end(std::string(1, '\0'));
  req.set_revision(revision);
  return req;
}

std::string Describe(const etcdserverpb::RangeResponse& resp) {
  std::string out = absl::StrCat("rev ", resp.header().revision(), " count ", resp.count(), ":");
  for (const auto& kv : resp.kvs()) {
    absl::StrAppend(&out, " {", kv.key(), " c", kv.create_revision(), " m", kv.mod_revision(), " v",
                    kv.version(), " l", kv.lease(), " ", kv.value().size(), "B}");
  }
  return out;
}

// Range results are equal in count, revision and every KeyValue field.
void ExpectSameRange(const etcdserverpb::RangeResponse& want,
                     const etcdserverpb::RangeResponse& got, int64_t revision) {
  SCOPED_TRACE(absl::StrCat("range at revision ", revision));
  EXPECT_EQ(got.header().revision(), want.header().revision());
  EXPECT_EQ(got.count(), want.count());
  ASSERT_EQ(got.kvs_size(), want.kvs_size()) << Describe(want) << "\nvs\n" << Describe(got);
  for (int i = 0; i < want.kvs_size(); ++i) {
    EXPECT_EQ(got.kvs(i).SerializeAsString(), want.kvs(i).SerializeAsString())
        << Describe(want) << "\nvs\n"
        << Describe(got);
  }
}

// What a reader of `backend` sees at `revision`: each key's newest record at or below it.
etcdserverpb::RangeResponse ViewAt(const EtcdBackend& backend, int64_t revision) {
  std::map<std::string, const EtcdBackend::KeyRecord*> newest;
  for (const EtcdBackend::KeyRecord& r : backend.keys) {
    if (r.main <= revision) newest[r.kv.key()] = &r;
  }
  etcdserverpb::RangeResponse resp;
  for (const auto& [key, r] : newest) {
    if (!r->tombstone) *resp.add_kvs() = r->kv;
  }
  resp.set_count(resp.kvs_size());
  resp.mutable_header()->set_revision(
      backend.keys.empty() ? 1 : std::max(backend.keys.back().main, backend.compacted_revision));
  return resp;
}

std::string RecordString(const EtcdBackend::KeyRecord& r) {
  return absl::StrCat("(", r.main, ",", r.sub, r.tombstone ? ",t" : "", ") ", r.kv.key(), " c",
                      r.kv.create_revision(), " m", r.kv.mod_revision(), " v", r.kv.version(), " l",
                      r.kv.lease(), " ", r.kv.value().size(), "B");
}

void ExpectSameRecords(const EtcdBackend& want, const EtcdBackend& got) {
  ASSERT_EQ(got.keys.size(), want.keys.size());
  for (size_t i = 0; i < want.keys.size(); ++i) {
    const auto& w = want.keys[i];
    const auto& g = got.keys[i];
    EXPECT_TRUE(w.main == g.main && w.sub == g.sub && w.tombstone == g.tombstone &&
                w.kv.SerializeAsString() == g.kv.SerializeAsString())
        << "record " << i << ": want " << RecordString(w) << ", got " << RecordString(g);
  }
}

// Every version of every key at each revision, the compaction point and the leases: what
// `etcd` serves equals what `store` serves.
void ExpectEtcdServesTheStore(mvcc::Store& store, lease::Lessor& lessor,
                              const std::shared_ptr<grpc::Channel>& etcd) {
  auto kv = etcdserverpb::KV::NewStub(etcd);
  for (int64_t rev = 0; rev <= store.revision() + 1; ++rev) {
    etcdserverpb::RangeRequest req = AllKeysAt(rev);
    etcdserverpb::RangeResponse want, got;
    absl::Status ws = store.Range(req, &want);
    grpc::ClientContext ctx;
    grpc::Status gs = kv->Range(&ctx, req, &got);
    ASSERT_EQ(static_cast<int>(gs.error_code()), static_cast<int>(ws.code()))
        << "revision " << rev << ": store: " << ws << ", etcd: " << gs.error_message();
    if (ws.ok()) ExpectSameRange(want, got, rev);
  }
  auto lease = etcdserverpb::Lease::NewStub(etcd);
  grpc::ClientContext ctx;
  etcdserverpb::LeaseLeasesResponse leases;
  ASSERT_TRUE(lease->LeaseLeases(&ctx, {}, &leases).ok());
  std::vector<int64_t> got_ids;
  for (const auto& l : leases.leases()) got_ids.push_back(l.id());
  std::vector<int64_t> want_ids = lessor.Leases();
  std::sort(got_ids.begin(), got_ids.end());
  std::sort(want_ids.begin(), want_ids.end());
  EXPECT_EQ(got_ids, want_ids);
  for (int64_t id : want_ids) {
    grpc::ClientContext c;
    etcdserverpb::LeaseTimeToLiveRequest req;
    req.set_id(id);
    req.set_keys(true);
    etcdserverpb::LeaseTimeToLiveResponse resp;
    ASSERT_TRUE(lease->LeaseTimeToLive(&c, req, &resp).ok());
    EXPECT_EQ(resp.grantedttl(), lessor.Remaining(id, absl::Now()).granted) << id;
    std::vector<std::string> keys(resp.keys().begin(), resp.keys().end());
    std::sort(keys.begin(), keys.end());
    EXPECT_EQ(keys, store.LeaseKeys(id)) << id;
  }
}

// --- Tests --------------------------------------------------------------------------------------

class EtcdBackendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testing::HaveEtcdctl()) GTEST_SKIP() << "etcd/etcdctl are not installed";
    Target target(&store_, &lessor_);
    compacted_ = ApplyHistory(target);
    ASSERT_FALSE(HasFailure());
    ASSERT_EQ(store_.revision(), kFinalRevision);
    ClusterInfo cluster;
    cluster.members.push_back(
        {0x8e9e05c52164694dull, "rametcd", {"http://127.0.0.1:2380"}, {"http://127.0.0.1:2379"}});
    cluster.consistent_index = 42;
    backend_ = BackendFromStore(store_, lessor_, absl::Now(), cluster);
  }

  // `etcdctl snapshot save` of an etcd that went through the same history.
  void EtcdSnapshot(const std::string& path) {
    auto etcd = testing::ServerProcess::StartEtcd();
    ASSERT_TRUE(etcd.ok()) << etcd.status();
    Target target((*etcd)->channel());
    ASSERT_EQ(ApplyHistory(target), compacted_);
    ASSERT_FALSE(HasFailure());
    CommandResult saved =
        RunCommand({"etcdctl", "--endpoints=" + (*etcd)->endpoint(), "snapshot", "save", path});
    ASSERT_EQ(saved.exit_code, 0) << saved.output;
  }

  mvcc::Store store_;
  lease::Lessor lessor_{lease::Lessor::Options{}, &store_};
  int64_t compacted_ = 0;
  EtcdBackend backend_;
  TempDir dir_;
};

TEST_F(EtcdBackendTest, BackendFromStoreKeepsWhatEtcdKeeps) {
  EXPECT_EQ(backend_.compacted_revision, compacted_);
  EXPECT_EQ(backend_.keys.back().main, kFinalRevision);
  for (const EtcdBackend::KeyRecord& r : backend_.keys) {
    // Nothing below the compaction point but each key's newest live version.
    if (r.main <= compacted_) {
      EXPECT_FALSE(r.tombstone) << RecordString(r);
      EXPECT_NE(r.kv.key(), "/t");
    }
    if (r.tombstone) {
      EXPECT_EQ(r.kv.ByteSizeLong(), r.kv.key().size() + 2) << "a tombstone holds only its key";
    }
  }
  // The put and delete of /x in revision 16 keep their order.
  std::vector<std::string> rev16;
  for (const auto& r : backend_.keys) {
    if (r.main == 16) rev16.push_back(RecordString(r));
  }
  ASSERT_EQ(rev16.size(), 2u);
  EXPECT_EQ(rev16[0].substr(0, 7), "(16,0) ");
  EXPECT_EQ(rev16[1].substr(0, 9), "(16,1,t) ");
  EXPECT_EQ(backend_.leases, (std::vector<EtcdBackend::Lease>{{kLease1, 100}, {kLease3, 50}}));
}

TEST_F(EtcdBackendTest, WriteThenReadRoundTrips) {
  const std::string path = dir_.path() + "/rametcd.db";
  ASSERT_TRUE(WriteEtcdBackend(backend_, path).ok());
  auto read = ReadEtcdBackend(path);
  ASSERT_TRUE(read.ok()) << read.status();
  ExpectSameRecords(backend_, *read);
  EXPECT_EQ(read->compacted_revision, backend_.compacted_revision);
  EXPECT_EQ(read->consistent_index, 42u);
  EXPECT_EQ(read->leases, backend_.leases);
  EXPECT_EQ(read->members, backend_.members);
  EXPECT_EQ(read->cluster_version, "3.4.0");

  // Records out of order are refused.
  EtcdBackend bad = backend_;
  std::swap(bad.keys[1], bad.keys[2]);
  EXPECT_EQ(WriteEtcdBackend(bad, path).code(), absl::StatusCode::kInvalidArgument);
  bad = backend_;
  bad.keys[3].kv.set_mod_revision(bad.keys[3].main + 1);
  EXPECT_EQ(WriteEtcdBackend(bad, path).code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(EtcdBackendTest, EtcdctlRestoresOurSnapshotAndEtcdServesTheStore) {
  const std::string path = dir_.path() + "/rametcd.db";
  ASSERT_TRUE(WriteEtcdBackend(backend_, path).ok());

  // etcdctl snapshot status runs bbolt's Tx.Check and walks every bucket.
  auto status = testing::EtcdctlSnapshotStatus(path);
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->revision, store_.revision());
  // key records + leases + members + authRevision + clusterVersion + consistent_index +
  // finishedCompactRev + scheduledCompactRev.
  EXPECT_EQ(status->total_key, static_cast<int64_t>(backend_.keys.size() + backend_.leases.size() +
                                                    1 + 1 + 1 + 1 + 2));
  {
    auto reader = bbolt::Reader::Open(path);
    ASSERT_TRUE(reader.ok());
    auto computed = testing::ComputeSnapshotStatus(**reader);
    ASSERT_TRUE(computed.ok());
    EXPECT_EQ(*status, *computed);
  }

  const int peer_port = FreePort();
  const std::string peer = absl::StrCat("http://127.0.0.1:", peer_port);
  auto restore = [&](const std::string& data_dir) {
    return RunCommand({"etcdctl", "snapshot", "restore", path, "--data-dir", data_dir, "--name",
                       "x", "--initial-cluster", "x=" + peer, "--initial-advertise-peer-urls",
                       peer});
  };
  // Without its sha256 etcdctl refuses the file, and with a wrong one too.
  CommandResult no_hash = restore(dir_.path() + "/no-hash");
  EXPECT_NE(no_hash.exit_code, 0);
  EXPECT_NE(no_hash.output.find("missing hash"), std::string::npos) << no_hash.output;
  ASSERT_TRUE(AppendSha256Trailer(path).ok());
  auto trailer = VerifySha256Trailer(path);
  ASSERT_TRUE(trailer.ok()) << trailer.status();
  EXPECT_TRUE(*trailer);
  {
    std::string damaged = ReadFile(path);
    damaged[5 * 4096 + 100] ^= 1;
    const std::string damaged_path = dir_.path() + "/damaged.db";
    std::ofstream(damaged_path, std::ios::binary) << damaged;
    EXPECT_EQ(VerifySha256Trailer(damaged_path).status().code(), absl::StatusCode::kDataLoss);
    CommandResult r = RunCommand({"etcdctl", "snapshot", "restore", damaged_path, "--data-dir",
                                  dir_.path() + "/damaged", "--name", "x", "--initial-cluster",
                                  "x=" + peer, "--initial-advertise-peer-urls", peer});
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.output.find("expected sha256"), std::string::npos) << r.output;
  }
  EXPECT_EQ(std::filesystem::file_size(path) % 512, 32u);
  const std::string data_dir = dir_.path() + "/restored";
  CommandResult restored = restore(data_dir);
  ASSERT_EQ(restored.exit_code, 0) << restored.output;

  auto etcd = testing::ServerProcess::StartEtcdOn(data_dir, "x", peer_port);
  ASSERT_TRUE(etcd.ok()) << etcd.status();
  ExpectEtcdServesTheStore(store_, lessor_, (*etcd)->channel());
}

TEST_F(EtcdBackendTest, EtcdKeepsTheSameRecordsAndServesThem) {
  const std::string snap = dir_.path() + "/etcd.db";
  ASSERT_NO_FATAL_FAILURE(EtcdSnapshot(snap));
  auto etcd_backend = ReadEtcdBackend(snap);
  ASSERT_TRUE(etcd_backend.ok()) << etcd_backend.status();

  // The records etcd keeps for the history are the ones BackendFromStore makes.
  ExpectSameRecords(*etcd_backend, backend_);
  EXPECT_EQ(etcd_backend->compacted_revision, compacted_);
  EXPECT_EQ(etcd_backend->leases, backend_.leases);
  EXPECT_EQ(etcd_backend->cluster_version, "3.4.0");
  EXPECT_GT(etcd_backend->consistent_index, 0u);
  ASSERT_EQ(etcd_backend->members.size(), 1u);
  EXPECT_EQ(etcd_backend->members[0].name, "default");
  ASSERT_EQ(etcd_backend->members[0].peer_urls.size(), 1u);
  EXPECT_EQ(etcd_backend->members[0].peer_urls[0].rfind("http://127.0.0.1:", 0), 0u);
  EXPECT_NE(etcd_backend->members[0].id, 0u);

  // Restored, etcd serves at every revision what the records say.
  const int peer_port = FreePort();
  const std::string peer = absl::StrCat("http://127.0.0.1:", peer_port);
  const std::string data_dir = dir_.path() + "/restored";
  CommandResult restored =
      RunCommand({"etcdctl", "snapshot", "restore", snap, "--data-dir", data_dir, "--name", "y",
                  "--initial-cluster", "y=" + peer, "--initial-advertise-peer-urls", peer});
  ASSERT_EQ(restored.exit_code, 0) << restored.output;
  auto etcd = testing::ServerProcess::StartEtcdOn(data_dir, "y", peer_port);
  ASSERT_TRUE(etcd.ok()) << etcd.status();
  auto kv = etcdserverpb::KV::NewStub((*etcd)->channel());
  for (int64_t rev = etcd_backend->compacted_revision; rev <= kFinalRevision; ++rev) {
    grpc::ClientContext ctx;
    etcdserverpb::RangeResponse got;
    ASSERT_TRUE(kv->Range(&ctx, AllKeysAt(rev), &got).ok());
    ExpectSameRange(ViewAt(*etcd_backend, rev), got, rev);
  }
  grpc::ClientContext ctx;
  etcdserverpb::RangeResponse below;
  EXPECT_EQ(kv->Range(&ctx, AllKeysAt(compacted_ - 1), &below).error_code(),
            grpc::StatusCode::OUT_OF_RANGE);
}

TEST_F(EtcdBackendTest, RewritingEtcdsSnapshotKeepsItsHash) {
  const std::string snap = dir_.path() + "/etcd.db";
  ASSERT_NO_FATAL_FAILURE(EtcdSnapshot(snap));
  auto etcd_backend = ReadEtcdBackend(snap);
  ASSERT_TRUE(etcd_backend.ok()) << etcd_backend.status();
  const std::string copy = dir_.path() + "/copy.db";
  ASSERT_TRUE(WriteEtcdBackend(*etcd_backend, copy).ok());
  auto want = testing::EtcdctlSnapshotStatus(snap);
  auto got = testing::EtcdctlSnapshotStatus(copy);
  ASSERT_TRUE(want.ok()) << want.status();
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->hash, want->hash);
  EXPECT_EQ(got->revision, want->revision);
  EXPECT_EQ(got->total_key, want->total_key);
}

TEST(EtcdBackendFormatTest, RevisionKeysAndMembers) {
  EXPECT_EQ(RevisionKey(2, 0, false), std::string("\0\0\0\0\0\0\0\x02_\0\0\0\0\0\0\0\0", 17));
  EXPECT_EQ(RevisionKey(0x0102, 3, true),
            std::string("\0\0\0\0\0\0\x01\x02_\0\0\0\0\0\0\0\x03t", 18));
  int64_t main = 0, sub = 0;
  bool tombstone = false;
  ASSERT_TRUE(ParseRevisionKey(RevisionKey(77, 5, true), &main, &sub, &tombstone).ok());
  EXPECT_EQ(main, 77);
  EXPECT_EQ(sub, 5);
  EXPECT_TRUE(tombstone);
  for (std::string bad : {std::string(), std::string(16, '\0'), std::string(17, '\0'),
                          RevisionKey(1, 1, false) + "x", RevisionKey(1, 1, true) + "t"}) {
    EXPECT_EQ(ParseRevisionKey(bad, &main, &sub, &tombstone).code(), absl::StatusCode::kDataLoss);
  }

  // The bytes etcd 3.4 writes for its member (taken from a real etcd db).
  MemberRecord m{
      8268672838058367050ull, "default", {"http://127.0.0.1:33641"}, {"http://127.0.0.1:44517"}};
  const std::string etcd_json =
      "{\"id\":8268672838058367050,\"peerURLs\":[\"http://127.0.0.1:33641\"],\"name\":"
      "\"default\",\"clientURLs\":[\"http://127.0.0.1:44517\"]}";
  EXPECT_EQ(MemberKey(m.id), "72c03a230c63d84a");
  EXPECT_EQ(EncodeMemberJson(m), etcd_json);
  auto decoded = DecodeMemberJson(etcd_json);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(*decoded, m);
  // Go's escaping, a learner, no name and no client URLs.
  MemberRecord odd{1, "a\"b\\c<d>&e\n\x01\xe2\x80\xa8\xff", {}, {}, true};
  EXPECT_EQ(EncodeMemberJson(odd),
            "{\"id\":1,\"peerURLs\":null,\"isLearner\":true,\"name\":"
            "\"a\\\"b\\\\c\\u003cd\\u003e\\u0026e\\n\\u0001\\u2028\\ufffd\"}");
  auto odd_back = DecodeMemberJson(EncodeMemberJson(odd));
  ASSERT_TRUE(odd_back.ok()) << odd_back.status();
  EXPECT_EQ(odd_back->name, "a\"b\\c<d>&e\n\x01\xe2\x80\xa8\xef\xbf\xbd");
  EXPECT_TRUE(odd_back->is_learner);
  EXPECT_TRUE(odd_back->peer_urls.empty());
  auto extra = DecodeMemberJson(
      " {\"extra\": {\"n\": [1, 2.5e3, null, true]}, \"id\": 18446744073709551615 } ");
  ASSERT_TRUE(extra.ok()) << extra.status();
  EXPECT_EQ(extra->id, ~uint64_t{0});
  for (const char* bad : {"", "{", "{}", "[]", "{\"id\":-1}", "{\"id\":1.5}",
                          "{\"id\":18446744073709551616}", "{\"id\":1,}", "{\"id\":1} x",
                          "{\"id\":1,\"name\":\"\\x\"}", "{\"id\":1,\"peerURLs\":[1]}"}) {
    EXPECT_FALSE(DecodeMemberJson(bad).ok()) << bad;
  }
  std::string deep = "{\"id\":1,\"x\":" + std::string(100, '[') + std::string(100, ']') + "}";
  EXPECT_FALSE(DecodeMemberJson(deep).ok());
}

}  // namespace
}  // namespace rametcd::snapshot
