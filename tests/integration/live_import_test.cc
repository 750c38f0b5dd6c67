// Live import (`rametcd --import-from`) from a real etcd 3.4 that keeps being written to: rametcd
// copies the source's oldest readable state, follows its watch at the original revisions while
// refusing writes, reports its lag, and after SIGUSR1 (promotion) holds exactly the source's
// state, history, leases and revision and accepts writes. Also: a restart without the flag
// serves the import, a data dir that holds data is never imported into, and the source may be
// reached over mutual TLS.
#include <signal.h>

#include <algorithm>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "support/differential.h"
#include "support/kv_state.h"
#include "support/prometheus_text.h"
#include "support/server_process.h"
#include "support/test_certs.h"
#include "support/watch_session.h"

namespace rametcd::testing {
namespace {

using etcdserverpb::KV;

class Client {
 public:
  explicit Client(const std::shared_ptr<grpc::Channel>& channel)
      : kv_(KV::NewStub(channel)), lease_(etcdserverpb::Lease::NewStub(channel)) {}

  grpc::Status Put(const std::string& key, const std::string& value, int64_t lease = 0,
                   int64_t* revision = nullptr) {
    grpc::ClientContext ctx;
    etcdserverpb::PutResponse resp;
    grpc::Status s = kv_->Put(&ctx, testing::Put(key, value, lease), &resp);
    if (revision != nullptr) *revision = resp.header().revision();
    return s;
  }
  void Delete(const std::string& key, const std::string& range_end = "") {
    grpc::ClientContext ctx;
    etcdserverpb::DeleteRangeResponse resp;
    ASSERT_TRUE(kv_->DeleteRange(&ctx, testing::Delete(key, range_end), &resp).ok());
  }
  // A txn that puts one key and deletes another in one revision.
  void PutAndDelete(const std::string& put, const std::string& del) {
    grpc::ClientContext ctx;
    etcdserverpb::TxnRequest req;
    auto* p = req.add_success()->mutable_request_put();
    p->set_key(put);
    p->set_value("txn");
    req.add_success()->mutable_request_delete_range()->set_key(del);
    etcdserverpb::TxnResponse resp;
    ASSERT_TRUE(kv_->Txn(&ctx, req, &resp).ok());
  }
  void Compact(int64_t revision) {
    grpc::ClientContext ctx;
    etcdserverpb::CompactionRequest req;
    req.set_revision(revision);
    req.set_physical(true);
    etcdserverpb::CompactionResponse resp;
    ASSERT_TRUE(kv_->Compact(&ctx, req, &resp).ok());
  }
  int64_t Revision() {
    grpc::ClientContext ctx;
    etcdserverpb::RangeRequest req;
    req.set_key("revision-probe");
    etcdserverpb::RangeResponse resp;
    grpc::Status s = kv_->Range(&ctx, req, &resp);
    return s.ok() ? resp.header().revision() : -1;
  }
  grpc::Status Grant(int64_t ttl, int64_t* id) {
    grpc::ClientContext ctx;
    etcdserverpb::LeaseGrantRequest req;
    req.set_ttl(ttl);
    etcdserverpb::LeaseGrantResponse resp;
    grpc::Status s = lease_->LeaseGrant(&ctx, req, &resp);
    *id = resp.id();
    return s;
  }
  void Revoke(int64_t id) {
    grpc::ClientContext ctx;
    etcdserverpb::LeaseRevokeRequest req;
    req.set_id(id);
    etcdserverpb::LeaseRevokeResponse resp;
    ASSERT_TRUE(lease_->LeaseRevoke(&ctx, req, &resp).ok());
  }
  // Lease ID -> granted TTL, for every lease.
  std::vector<std::pair<int64_t, int64_t>> Leases() {
    grpc::ClientContext ctx;
    etcdserverpb::LeaseLeasesResponse list;
    EXPECT_TRUE(lease_->LeaseLeases(&ctx, {}, &list).ok());
    std::vector<std::pair<int64_t, int64_t>> leases;
    for (const auto& l : list.leases())
      leases.emplace_back(l.id(), TimeToLive(l.id()).grantedttl());
    std::sort(leases.begin(), leases.end());
    return leases;
  }
  etcdserverpb::LeaseTimeToLiveResponse TimeToLive(int64_t id) {
    grpc::ClientContext ctx;
    etcdserverpb::LeaseTimeToLiveRequest req;
    req.set_id(id);
    req.set_keys(true);
    etcdserverpb::LeaseTimeToLiveResponse resp;
    EXPECT_TRUE(lease_->LeaseTimeToLive(&ctx, req, &resp).ok());
    return resp;
  }
  KV::Stub& kv() { return *kv_; }

 private:
  std::unique_ptr<KV::Stub> kv_;
  std::unique_ptr<etcdserverpb::Lease::Stub> lease_;
};

// Every event of every key from `from` up to revision `to`, as text, in the order sent.
std::vector<std::string> WatchAll(const std::shared_ptr<grpc::Channel>& channel, int64_t from,
                                  int64_t to) {
  WatchSession session(channel);
  EXPECT_TRUE(session.Send(CreateWatch(std::string(1, '\0'), std::string(1, '\0'), from)));
  std::vector<std::string> events;
  int64_t seen = from - 1;
  while (seen < to) {
    std::optional<etcdserverpb::WatchResponse> resp = session.Next();
    if (!resp) {
      ADD_FAILURE() << "no events after revision " << seen << " (want up to " << to << ")";
      break;
    }
    EXPECT_FALSE(resp->canceled()) << resp->cancel_reason();
    for (const mvccpb::Event& e : resp->events()) {
      events.push_back(e.ShortDebugString());
      seen = e.kv().mod_revision();
    }
  }
  return events;
}

double Metric(const std::string& metrics_url, const std::string& name) {
  CommandResult r = RunCommand({"curl", "-s", "--max-time", "10", metrics_url + "/metrics"});
  for (const ParsedFamily& f : ParseExposition(r.output)) {
    if (f.name == name && !f.samples.empty()) return f.samples.front().value;
  }
  return -1;
}

// Waits until `done()` holds, up to `timeout`.
template <typename Fn>
bool WaitUntil(Fn done, absl::Duration timeout = absl::Seconds(30)) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!done()) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(50));
  }
  return true;
}

// Writes a history with every kind of change to `c`: several resource prefixes, overwrites,
// deletes, a txn, keys on leases, a lease revoked with its keys.
void WriteHistory(Client& c, int round) {
  const std::string r = std::to_string(round);
  int64_t lease = 0, doomed = 0;
  ASSERT_TRUE(c.Grant(300, &lease).ok());
  ASSERT_TRUE(c.Grant(120, &doomed).ok());
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(c.Put(absl::StrCat("/registry/pods/ns/p", i), "pod" + r).ok());
  }
  ASSERT_TRUE(c.Put("/registry/events/ns/e" + r, "event", lease).ok());
  ASSERT_TRUE(c.Put("/registry/events/ns/f" + r, "event", doomed).ok());
  ASSERT_TRUE(c.Put("plain-key", "v" + r).ok());
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(c.Put(absl::StrCat("/registry/pods/ns/p", i), "pod-updated" + r).ok());
  }
  c.Delete("/registry/pods/ns/p5", "/registry/pods/ns/p8");
  c.PutAndDelete("/registry/configmaps/ns/c" + r, "/registry/pods/ns/p9");
  c.Revoke(doomed);
}

TEST(LiveImportTest, FollowsAWritingSourceAtItsRevisionsAndPromotes) {
  auto etcd = ServerProcess::StartEtcd();
  ASSERT_TRUE(etcd.ok()) << etcd.status();
  Client source((*etcd)->channel());
  WriteHistory(source, 0);
  const int64_t compacted = source.Revision() - 3;
  source.Compact(compacted);
  WriteHistory(source, 1);

  const std::string metrics_url = absl::StrCat("http://127.0.0.1:", FreePort());
  auto rametcd = ServerProcess::StartRametcd(
      {"--import-from", "http://" + (*etcd)->endpoint(), "--listen-metrics-urls", metrics_url});
  ASSERT_TRUE(rametcd.ok()) << rametcd.status();
  Client replica((*rametcd)->channel());

  // The source keeps changing while rametcd follows; rametcd refuses writes meanwhile.
  std::thread writer([&] {
    for (int round = 2; round < 8; ++round) WriteHistory(source, round);
  });
  grpc::Status refused = replica.Put("x", "y");
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(refused.error_message().find("read-only"), std::string::npos)
      << refused.error_message();
  int64_t id = 0;
  EXPECT_EQ(replica.Grant(60, &id).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  writer.join();

  // Caught up: same revision, and the lag metric says so.
  const int64_t head = source.Revision();
  ASSERT_TRUE(WaitUntil([&] { return replica.Revision() == head; }))
      << "rametcd at " << replica.Revision() << ", etcd at " << head << "\n"
      << (*rametcd)->log();
  ASSERT_TRUE(WaitUntil([&] { return Metric(metrics_url, "rametcd_import_lag_revisions") == 0; }));
  EXPECT_EQ(Metric(metrics_url, "rametcd_import_applied_revision"), static_cast<double>(head));
  EXPECT_EQ(Metric(metrics_url, "rametcd_import_following"), 1);

  // The same state at every revision since the source's compaction point, the same compaction
  // point, the same watch events and the same leases.
  EXPECT_EQ(DiffHistories(source.kv(), replica.kv(), compacted), "");
  for (Client* c : {&source, &replica}) {
    grpc::ClientContext ctx;
    etcdserverpb::RangeRequest req;
    req.set_key("plain-key");
    req.set_revision(compacted - 1);
    etcdserverpb::RangeResponse resp;
    EXPECT_EQ(c->kv().Range(&ctx, req, &resp).error_message(),
              "etcdserver: mvcc: required revision has been compacted");
  }
  EXPECT_EQ(WatchAll((*rametcd)->channel(), compacted + 1, head),
            WatchAll((*etcd)->channel(), compacted + 1, head));
  const auto leases = source.Leases();
  EXPECT_EQ(leases.size(), 8u);  // one kept per round
  ASSERT_TRUE(WaitUntil([&] { return replica.Leases() == leases; }));

  // Promotion: writes are accepted and continue the source's revisions; leases run again.
  ASSERT_TRUE((*rametcd)->Signal(SIGUSR1));
  int64_t revision = 0;
  ASSERT_TRUE(WaitUntil([&] { return replica.Put("after", "promotion", 0, &revision).ok(); }))
      << (*rametcd)->log();
  EXPECT_EQ(revision, head + 1);
  EXPECT_EQ(Metric(metrics_url, "rametcd_import_following"), 0);
  for (const auto& [lease, ttl] : leases) {
    etcdserverpb::LeaseTimeToLiveResponse want = source.TimeToLive(lease);
    etcdserverpb::LeaseTimeToLiveResponse got = replica.TimeToLive(lease);
    EXPECT_EQ(got.grantedttl(), want.grantedttl());
    EXPECT_GT(got.ttl(), 0);
    EXPECT_EQ(std::vector<std::string>(got.keys().begin(), got.keys().end()),
              std::vector<std::string>(want.keys().begin(), want.keys().end()));
  }
  ASSERT_TRUE(replica.Grant(60, &id).ok());
}

TEST(LiveImportTest, RestartWithoutTheFlagServesTheImportAndADataDirWithDataIsNotImportedInto) {
  auto etcd = ServerProcess::StartEtcd();
  ASSERT_TRUE(etcd.ok()) << etcd.status();
  Client source((*etcd)->channel());
  WriteHistory(source, 0);  // never compacted: the whole history comes through the watch
  const std::string from = "http://" + (*etcd)->endpoint();
  TempDir data;
  {
    auto rametcd = ServerProcess::StartRametcdOn(data.path(), {"--import-from", from});
    ASSERT_TRUE(rametcd.ok()) << rametcd.status();
    Client replica((*rametcd)->channel());
    WriteHistory(source, 1);
    const int64_t head = source.Revision();
    ASSERT_TRUE(WaitUntil([&] { return replica.Revision() == head; })) << (*rametcd)->log();
    EXPECT_EQ((*rametcd)->Terminate(), 0);
  }
  auto again = ServerProcess::StartRametcdOn(data.path(), {"--import-from", from});
  ASSERT_FALSE(again.ok());
  EXPECT_NE(again.status().message().find("--import-from needs an empty data dir"),
            std::string::npos)
      << again.status();

  auto rametcd = ServerProcess::StartRametcdOn(data.path());
  ASSERT_TRUE(rametcd.ok()) << rametcd.status();
  Client replica((*rametcd)->channel());
  EXPECT_EQ(DiffHistories(source.kv(), replica.kv(), 1), "");
  int64_t revision = 0;
  ASSERT_TRUE(replica.Put("after", "restart", 0, &revision).ok());
  EXPECT_EQ(revision, source.Revision() + 1);
}

// The source behind https:// with client certificates (a rametcd source: any etcd API server
// will do): the import uses etcdctl's TLS flags, under --import-* names.
TEST(LiveImportTest, ImportsOverMutualTls) {
  TempDir dir;
  auto certs = MakeTestCerts(dir.path());
  ASSERT_TRUE(certs.ok()) << certs.status();
  auto tls_source = ServerProcess::StartRametcdTls(
      {certs->ca, certs->client_cert, certs->client_key},
      {"--cert-file", certs->server_cert, "--key-file", certs->server_key, "--trusted-ca-file",
       certs->ca, "--client-cert-auth"});
  ASSERT_TRUE(tls_source.ok()) << tls_source.status();
  Client source((*tls_source)->channel());
  WriteHistory(source, 0);
  const std::string from = "https://" + (*tls_source)->endpoint();

  // Without a client certificate the source refuses the copy, and rametcd does not start.
  auto refused = ServerProcess::StartRametcd({"--import-from", from, "--import-cacert", certs->ca});
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("cannot copy the etcd at " + from), std::string::npos)
      << refused.status();

  auto rametcd = ServerProcess::StartRametcd({"--import-from", from, "--import-cacert", certs->ca,
                                              "--import-cert", certs->client_cert, "--import-key",
                                              certs->client_key});
  ASSERT_TRUE(rametcd.ok()) << rametcd.status();
  Client replica((*rametcd)->channel());
  WriteHistory(source, 1);
  const int64_t head = source.Revision();
  ASSERT_TRUE(WaitUntil([&] { return replica.Revision() == head; })) << (*rametcd)->log();
  EXPECT_EQ(DiffHistories(source.kv(), replica.kv(), 1), "");
}

}  // namespace
}  // namespace rametcd::testing
