// End-to-end offline migration between rametcd and the reference etcd 3.4, through
// `rametcd-recover export-etcd-snapshot` and `rametcd-recover import-etcd`:
//   (a) rametcd with a history (puts, overwrites, deletes, a txn over several streams, leases
//       with keys, a revoked lease, a compaction) -> export -> `etcdctl snapshot status` and
//       `snapshot restore` -> a real etcd serves the same history from the compaction point on,
//       the same leases (granted TTLs, keys), the same compaction point and next revision;
//   (b) etcd with the same history -> `etcdctl snapshot save` -> import -> rametcd serves what the
//       still-running etcd serves, keeps working (a new put gets etcd's revision) and keeps it
//       all across another restart;
//   (c) the same from a stopped etcd's member/snap/db (refused while that etcd runs);
//   (d) truncated, corrupted and foreign files: import exits 3 with one clear line naming the
//       file, never crashes, and leaves the data dir without data (a good import then works).
// Skipped when etcd/etcdctl are not installed.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "etcd/api/etcdserverpb/rpc.grpc.pb.h"
#include "grpcpp/client_context.h"
#include "gtest/gtest.h"
#include "snapshot/etcd_backend.h"
#include "snapshot/etcd_tools.h"
#include "support/differential.h"
#include "support/kv_state.h"
#include "support/server_process.h"

namespace rametcd::testing {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kLease1 = 0x1001;  // a node lease's
constexpr int64_t kLease2 = 0x2002;  // a configmap's
constexpr int64_t kLease3 = 0x3003;  // no keys
constexpr int64_t kLease4 = 0x4004;  // revoked with its key

CommandResult RunRecover(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {RAMETCD_RECOVER_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommand(argv, "", 300000);
}

CommandResult Etcdctl(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"env", "ETCDCTL_API=3", "etcdctl"};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommand(argv);
}

bool HaveEtcd() { return HaveEtcdctl() && RunCommand({"etcd", "--version"}).exit_code == 0; }

std::string ReadFile(const std::string& path) {
  std::stringstream ss;
  ss << std::ifstream(path, std::ios::binary).rdbuf();
  return ss.str();
}

void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

// The same operations against either server, over gRPC.
class Client {
 public:
  explicit Client(const ServerProcess& server)
      : kv_(etcdserverpb::KV::NewStub(server.channel())),
        lease_(etcdserverpb::Lease::NewStub(server.channel())) {}

  etcdserverpb::KV::Stub& kv() { return *kv_; }
  etcdserverpb::Lease::Stub& lease() { return *lease_; }

  // Returns the revision of the write.
  int64_t Put(const std::string& key, const std::string& value, int64_t lease = 0) {
    etcdserverpb::PutResponse resp;
    grpc::ClientContext ctx;
    grpc::Status s = kv_->Put(&ctx, testing::Put(key, value, lease), &resp);
    EXPECT_TRUE(s.ok()) << key << ": " << s.error_message();
    return resp.header().revision();
  }
  void Delete(const std::string& key, const std::string& range_end = "") {
    etcdserverpb::DeleteRangeResponse resp;
    grpc::ClientContext ctx;
    grpc::Status s = kv_->DeleteRange(&ctx, testing::Delete(key, range_end), &resp);
    EXPECT_TRUE(s.ok()) << key << ": " << s.error_message();
  }
  void Txn(const etcdserverpb::TxnRequest& req) {
    etcdserverpb::TxnResponse resp;
    grpc::ClientContext ctx;
    grpc::Status s = kv_->Txn(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    EXPECT_TRUE(resp.succeeded());
  }
  void Compact(int64_t revision) {
    etcdserverpb::CompactionRequest req;
    req.set_revision(revision);
    req.set_physical(true);
    etcdserverpb::CompactionResponse resp;
    grpc::ClientContext ctx;
    grpc::Status s = kv_->Compact(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
  }
  void Grant(int64_t id, int64_t ttl) {
    etcdserverpb::LeaseGrantRequest req;
    req.set_id(id);
    req.set_ttl(ttl);
    etcdserverpb::LeaseGrantResponse resp;
    grpc::ClientContext ctx;
    grpc::Status s = lease_->LeaseGrant(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
  }
  void Revoke(int64_t id) {
    etcdserverpb::LeaseRevokeRequest req;
    req.set_id(id);
    etcdserverpb::LeaseRevokeResponse resp;
    grpc::ClientContext ctx;
    grpc::Status s = lease_->LeaseRevoke(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
  }
  // The gRPC code of a Range of everything at `revision`.
  grpc::StatusCode RangeCode(int64_t revision) {
    etcdserverpb::RangeRequest req;
    req.set_key(std::string(1, '\0'));
    req.set_range_end(std::string(1, '\0'));
    req.set_revision(revision);
    req.set_count_only(true);
    etcdserverpb::RangeResponse resp;
    grpc::ClientContext ctx;
    return kv_->Range(&ctx, req, &resp).error_code();
  }

  // Lease ID -> (granted TTL, attached keys in key order).
  std::map<int64_t, std::pair<int64_t, std::vector<std::string>>> Leases() {
    std::map<int64_t, std::pair<int64_t, std::vector<std::string>>> leases;
    etcdserverpb::LeaseLeasesResponse list;
    grpc::ClientContext ctx;
    grpc::Status s = lease_->LeaseLeases(&ctx, {}, &list);
    EXPECT_TRUE(s.ok()) << s.error_message();
    for (const etcdserverpb::LeaseStatus& l : list.leases()) {
      etcdserverpb::LeaseTimeToLiveRequest req;
      req.set_id(l.id());
      req.set_keys(true);
      etcdserverpb::LeaseTimeToLiveResponse resp;
      grpc::ClientContext c;
      grpc::Status t = lease_->LeaseTimeToLive(&c, req, &resp);
      EXPECT_TRUE(t.ok()) << t.error_message();
      std::vector<std::string> keys(resp.keys().begin(), resp.keys().end());
      std::sort(keys.begin(), keys.end());
      leases[l.id()] = {resp.grantedttl(), keys};
    }
    return leases;
  }

 private:
  std::unique_ptr<etcdserverpb::KV::Stub> kv_;
  std::unique_ptr<etcdserverpb::Lease::Stub> lease_;
};

// A Kubernetes-like history over several streams; returns the compaction point.
int64_t ApplyHistory(Client& c) {
  c.Grant(kLease1, 600);
  c.Grant(kLease2, 900);
  c.Grant(kLease3, 1200);
  c.Grant(kLease4, 600);
  c.Put("/registry/pods/default/p1", "p1-v1");
  c.Put("/registry/pods/default/p2", "p2-v1");
  c.Put("/registry/leases/kube-node-lease/n1", "n1-v1", kLease1);
  c.Put("/other/a", "a1");
  c.Put("/registry/pods/default/p1", "p1-v2");
  c.Delete("/other/a");
  c.Put("/registry/configmaps/default/c1", "c1", kLease2);
  {
    // One transaction over three streams.
    etcdserverpb::TxnRequest txn;
    etcdserverpb::Compare* cmp = txn.add_compare();
    cmp->set_key("/registry/pods/default/p1");
    cmp->set_target(etcdserverpb::Compare::VERSION);
    cmp->set_result(etcdserverpb::Compare::EQUAL);
    cmp->set_version(2);
    etcdserverpb::PutRequest* p3 = txn.add_success()->mutable_request_put();
    p3->set_key("/registry/pods/default/p3");
    p3->set_value("p3-v1");
    txn.add_success()->mutable_request_delete_range()->set_key("/registry/pods/default/p2");
    etcdserverpb::PutRequest* b = txn.add_success()->mutable_request_put();
    b->set_key("/other/b");
    b->set_value("b1");
    c.Txn(txn);
  }
  c.Put("/registry/leases/kube-node-lease/n1", "n1-v2", kLease1);
  c.Put("/revoked/x", "x", kLease4);
  c.Revoke(kLease4);
  const int64_t compacted = c.Put("/other/a", "a2") - 2;
  c.Compact(compacted);
  c.Put("/registry/pods/default/p1", "p1-v3");
  c.Delete("/registry/pods/default/p3", "/registry/pods/default/p4");
  c.Put("/other/empty", "");
  c.Put("/other/big", std::string(3000, 'B'));
  c.Put("/registry/leases/kube-node-lease/n1", "n1-v3", kLease1);
  return compacted;
}

// `got` serves what `want` serves: every key version from the compaction point on, the same
// compaction point, the same leases; then a new put gets the same revision on both.
void ExpectSameServers(Client& want, Client& got, int64_t compacted) {
  EXPECT_EQ(DiffHistories(want.kv(), got.kv(), compacted), "");
  EXPECT_EQ(got.Leases(), want.Leases());
  EXPECT_EQ(got.RangeCode(compacted - 1), grpc::StatusCode::OUT_OF_RANGE);
  EXPECT_EQ(want.RangeCode(compacted - 1), grpc::StatusCode::OUT_OF_RANGE);
  EXPECT_EQ(got.RangeCode(compacted), grpc::StatusCode::OK);
  const int64_t want_rev = want.Put("/after-migration", "x");
  EXPECT_EQ(got.Put("/after-migration", "x"), want_rev);
  EXPECT_EQ(DiffHistories(want.kv(), got.kv(), want_rev), "");
}

class MigrationE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!HaveEtcd()) GTEST_SKIP() << "etcd/etcdctl are not installed";
  }

  std::string Path(const std::string& name) const { return dir_.path() + "/" + name; }

  // `etcdctl snapshot save` of a running etcd.
  void SaveSnapshot(const ServerProcess& etcd, const std::string& path) {
    CommandResult saved = Etcdctl({"--endpoints=" + etcd.endpoint(), "snapshot", "save", path});
    ASSERT_EQ(saved.exit_code, 0) << saved.output;
  }

  void Import(const std::string& data_dir, const std::string& from, const std::string& kind) {
    CommandResult r = RunRecover({"import-etcd", data_dir, "--from", from});
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_TRUE(absl::StrContains(r.output, "imported " + from + " (" + kind)) << r.output;
  }

  // rametcd on `data_dir` serves what `etcd` serves (ExpectSameServers), and still does after a
  // restart.
  void ExpectRametcdServes(const std::string& data_dir, Client& etcd, int64_t compacted) {
    {
      auto rametcd = ServerProcess::StartRametcdOn(data_dir);
      ASSERT_TRUE(rametcd.ok()) << rametcd.status();
      Client got(**rametcd);
      ExpectSameServers(etcd, got, compacted);
      ASSERT_NE((*rametcd)->Terminate(), -1);
    }
    auto again = ServerProcess::StartRametcdOn(data_dir);
    ASSERT_TRUE(again.ok()) << again.status();
    Client got(**again);
    EXPECT_EQ(DiffHistories(etcd.kv(), got.kv(), compacted), "");
    EXPECT_EQ(got.Leases(), etcd.Leases());
  }

  TempDir dir_;
};

TEST_F(MigrationE2eTest, ExportedSnapshotRestoresIntoEtcd) {
  const std::string data_dir = Path("rametcd");
  int64_t compacted = 0, revision = 0;
  {
    auto rametcd = ServerProcess::StartRametcdOn(data_dir);
    ASSERT_TRUE(rametcd.ok()) << rametcd.status();
    Client c(**rametcd);
    compacted = ApplyHistory(c);
    ASSERT_FALSE(HasFailure());
    auto now = ReadAllKeys(c.kv());
    ASSERT_TRUE(now.ok()) << now.status();
    revision = now->revision;
    ASSERT_NE((*rametcd)->Terminate(), -1);
  }

  const std::string snap = Path("rametcd.db");
  CommandResult exported = RunRecover({"export-etcd-snapshot", data_dir, snap});
  ASSERT_EQ(exported.exit_code, 0) << exported.output;
  EXPECT_TRUE(absl::StrContains(exported.output, absl::StrCat("revision ", revision,
                                                              ", compact "
                                                              "revision ",
                                                              compacted)))
      << exported.output;
  CommandResult refused = RunRecover({"export-etcd-snapshot", data_dir, snap});
  EXPECT_EQ(refused.exit_code, 2) << refused.output;
  EXPECT_TRUE(absl::StrContains(refused.output, "--force")) << refused.output;
  ASSERT_EQ(RunRecover({"export-etcd-snapshot", data_dir, snap, "--force"}).exit_code, 0);
  fs::create_directories(Path("not-a-data-dir"));
  CommandResult no_data =
      RunRecover({"export-etcd-snapshot", Path("not-a-data-dir"), Path("nothing.db")});
  EXPECT_EQ(no_data.exit_code, 4) << no_data.output;
  EXPECT_TRUE(absl::StrContains(no_data.output, "holds no rametcd data")) << no_data.output;
  EXPECT_FALSE(fs::exists(Path("nothing.db")));
  EXPECT_EQ(fs::file_size(snap) % 512, 32u) << "a sha256 trailer";

  // etcdctl's view: the revision, and every entry of every bucket counted.
  auto status = EtcdctlSnapshotStatus(snap);
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->revision, revision);
  auto backend = snapshot::ReadEtcdBackend(snap);
  ASSERT_TRUE(backend.ok()) << backend.status();
  EXPECT_EQ(backend->compacted_revision, compacted);
  // Key records + leases + one member + authRevision + clusterVersion + consistent_index +
  // finishedCompactRev + scheduledCompactRev.
  EXPECT_EQ(status->total_key,
            static_cast<int64_t>(backend->keys.size() + backend->leases.size() + 1 + 3 + 2));

  const int peer_port = FreePort();
  const std::string peer = absl::StrCat("http://127.0.0.1:", peer_port);
  const std::string etcd_dir = Path("etcd");
  CommandResult restored =
      Etcdctl({"snapshot", "restore", snap, "--data-dir", etcd_dir, "--name", "m",
               "--initial-cluster", "m=" + peer, "--initial-advertise-peer-urls", peer});
  ASSERT_EQ(restored.exit_code, 0) << restored.output;
  auto etcd = ServerProcess::StartEtcdOn(etcd_dir, "m", peer_port);
  ASSERT_TRUE(etcd.ok()) << etcd.status();
  auto rametcd = ServerProcess::StartRametcdOn(data_dir);
  ASSERT_TRUE(rametcd.ok()) << rametcd.status();
  Client want(**rametcd);
  Client got(**etcd);
  ExpectSameServers(want, got, compacted);
}

TEST_F(MigrationE2eTest, ImportsAnEtcdSnapshot) {
  auto etcd = ServerProcess::StartEtcd();
  ASSERT_TRUE(etcd.ok()) << etcd.status();
  Client want(**etcd);
  const int64_t compacted = ApplyHistory(want);
  ASSERT_FALSE(HasFailure());
  const std::string snap = Path("etcd.db");
  ASSERT_NO_FATAL_FAILURE(SaveSnapshot(**etcd, snap));
  ASSERT_NO_FATAL_FAILURE(Import(Path("rametcd"), snap, "etcd snapshot, sha256 verified"));
  ExpectRametcdServes(Path("rametcd"), want, compacted);
}

TEST_F(MigrationE2eTest, ImportsAStoppedEtcdsBackend) {
  const int peer_port = FreePort();
  const std::string etcd_dir = Path("etcd");
  const std::string db = etcd_dir + "/member/snap/db";
  int64_t compacted = 0;
  {
    auto etcd = ServerProcess::StartEtcdOn(etcd_dir, "default", peer_port);
    ASSERT_TRUE(etcd.ok()) << etcd.status();
    Client c(**etcd);
    compacted = ApplyHistory(c);
    ASSERT_FALSE(HasFailure());
    // While etcd runs, its db is changing under a reader: refused.
    CommandResult busy = RunRecover({"import-etcd", Path("busy"), "--from", db});
    EXPECT_EQ(busy.exit_code, 4) << busy.output;
    EXPECT_TRUE(absl::StrContains(busy.output, "locked by a running etcd")) << busy.output;
    ASSERT_NE((*etcd)->Terminate(), -1);
  }
  ASSERT_NO_FATAL_FAILURE(Import(Path("rametcd"), db, "etcd backend, no sha256 trailer"));
  auto etcd = ServerProcess::StartEtcdOn(etcd_dir, "default", peer_port);
  ASSERT_TRUE(etcd.ok()) << etcd.status();
  Client want(**etcd);
  ExpectRametcdServes(Path("rametcd"), want, compacted);
}

TEST_F(MigrationE2eTest, DamagedFilesAreRefusedCleanly) {
  const std::string good = Path("good.db");
  {
    auto etcd = ServerProcess::StartEtcd();
    ASSERT_TRUE(etcd.ok()) << etcd.status();
    Client c(**etcd);
    ApplyHistory(c);
    ASSERT_FALSE(HasFailure());
    ASSERT_NO_FATAL_FAILURE(SaveSnapshot(**etcd, good));
  }
  const std::string bytes = ReadFile(good);
  ASSERT_EQ(bytes.size() % 512, 32u);
  const std::string content = bytes.substr(0, bytes.size() - 32);
  std::string flipped = bytes;
  flipped[bytes.size() / 2] ^= 0x40;
  std::string no_meta = content;
  std::fill(no_meta.begin(), no_meta.begin() + 2 * 4096, '\0');
  std::string bad_root = content;  // meta pages intact, the page they point to overwritten
  std::fill(bad_root.begin() + 2 * 4096, bad_root.end(), '\xa5');
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"empty", ""},
      {"tiny", bytes.substr(0, 100)},
      {"half", bytes.substr(0, bytes.size() / 2)},
      {"no-last-page", content.substr(0, content.size() - 4096)},
      {"flipped", flipped},
      {"no-meta", no_meta},
      {"bad-pages", bad_root},
      {"text", std::string(8192, 'x')},
  };
  for (const auto& [name, data] : cases) {
    SCOPED_TRACE(name);
    const std::string file = Path(name + ".db");
    WriteFile(file, data);
    const std::string data_dir = Path("data-" + name);
    CommandResult r = RunRecover({"import-etcd", data_dir, "--from", file});
    EXPECT_EQ(r.exit_code, 3) << r.output;
    const std::vector<std::string> lines = absl::StrSplit(r.output, '\n', absl::SkipEmpty());
    ASSERT_EQ(lines.size(), 1u) << r.output;
    EXPECT_TRUE(absl::StartsWith(lines[0], "rametcd-recover: " + file)) << r.output;
    EXPECT_TRUE(absl::StrContains(lines[0], "nothing was imported")) << r.output;
    EXPECT_FALSE(fs::exists(data_dir + "/wal"));
    EXPECT_FALSE(fs::exists(data_dir + "/wal.importing"));
    if (name == "flipped") {
      EXPECT_TRUE(absl::StrContains(lines[0], "sha256 trailer does not match")) << r.output;
    }
  }
  // The refused dir takes a good import.
  CommandResult ok = RunRecover({"import-etcd", Path("data-half"), "--from", good});
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
  CommandResult missing = RunRecover({"import-etcd", Path("data-x"), "--from", Path("nothing")});
  EXPECT_EQ(missing.exit_code, 4) << missing.output;
  EXPECT_TRUE(absl::StrContains(missing.output, Path("nothing"))) << missing.output;
}

}  // namespace
}  // namespace rametcd::testing
