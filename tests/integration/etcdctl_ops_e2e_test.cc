// End-to-end operability with etcdctl (Debian's etcd-client 3.4): endpoint status / health /
// hashkv, member list, alarm list, defrag and check perf against rametcd, compared with a real
// etcd where the outputs can match, and the same commands over TLS (server certificate only, and
// mutual TLS with a client certificate required) with certificates made in the test.
#include <regex>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "support/server_process.h"
#include "support/test_certs.h"

namespace rametcd::testing {
namespace {

CommandResult Etcdctl(const std::string& endpoint, std::vector<std::string> args,
                      const std::vector<std::string>& tls_flags = {}) {
  std::vector<std::string> argv = {"etcdctl", "--endpoints=" + endpoint, "--command-timeout=10s",
                                   "--dial-timeout=5s"};
  argv.insert(argv.end(), tls_flags.begin(), tls_flags.end());
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommand(argv);
}

// For commands that must fail: etcdctl retries until its command timeout (the last flag wins).
constexpr char kFailFast[] = "--command-timeout=2s";

// Masks what differs between two servers: their endpoints, durations and etcdctl's retry logs.
std::string Mask(const std::string& output, const std::string& endpoint) {
  static const std::regex kClientLog(R"(\{"level":[^\n]*\n?)");
  static const std::regex kTook(R"(took = [0-9.]+[a-zµ]+)");
  std::string s = std::regex_replace(output, kClientLog, "");
  s = std::regex_replace(s, kTook, "took = <t>");
  for (size_t at = s.find(endpoint); at != std::string::npos; at = s.find(endpoint)) {
    s.replace(at, endpoint.size(), "<endpoint>");
  }
  return s;
}

TEST(EtcdctlOpsE2eTest, HealthAlarmsAndDefragMatchEtcd) {
  auto etcd = ServerProcess::StartEtcd();
  ASSERT_TRUE(etcd.ok()) << etcd.status();
  auto rametcd = ServerProcess::StartRametcd();
  ASSERT_TRUE(rametcd.ok()) << rametcd.status();
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"put", "a", "1"},
                                             {"endpoint", "health"},
                                             {"alarm", "list"},
                                             {"defrag"},
                                             {"alarm", "disarm"},
                                             {"move-leader", "1234"},
                                             {"auth", "enable"},
                                             {"user", "list"},
                                             {"role", "get", "root"}}) {
    CommandResult want = Etcdctl((*etcd)->endpoint(), args);
    CommandResult got = Etcdctl((*rametcd)->endpoint(), args);
    EXPECT_EQ(got.exit_code, want.exit_code) << args[0];
    EXPECT_EQ(Mask(got.output, (*rametcd)->endpoint()), Mask(want.output, (*etcd)->endpoint()))
        << args[0];
  }
}

TEST(EtcdctlOpsE2eTest, StatusHashKVAndMemberList) {
  auto rametcd = ServerProcess::StartRametcd({"--name", "node-a"});
  ASSERT_TRUE(rametcd.ok()) << rametcd.status();
  const std::string endpoint = (*rametcd)->endpoint();
  ASSERT_EQ(Etcdctl(endpoint, {"put", "k", "v"}).exit_code, 0);

  CommandResult status = Etcdctl(endpoint, {"endpoint", "status", "-w", "json"});
  ASSERT_EQ(status.exit_code, 0) << status.output;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(status.output, m, std::regex(R"("member_id":(\d+))")))
      << status.output;
  const std::string member_id = m[1];
  EXPECT_NE(status.output.find("\"leader\":" + member_id), std::string::npos) << status.output;
  EXPECT_NE(status.output.find("\"version\":\"3.5.13\""), std::string::npos) << status.output;
  EXPECT_NE(status.output.find("\"raftIndex\":2,"), std::string::npos) << status.output;
  EXPECT_NE(status.output.find("\"raftAppliedIndex\":2,"), std::string::npos) << status.output;
  EXPECT_TRUE(std::regex_search(status.output, std::regex(R"("dbSize":[1-9]\d*)")))
      << status.output;

  CommandResult hash = Etcdctl(endpoint, {"endpoint", "hashkv", "-w", "json"});
  ASSERT_EQ(hash.exit_code, 0) << hash.output;
  EXPECT_TRUE(
      std::regex_search(hash.output, std::regex(R"("hash":[1-9]\d*,"compact_revision":-1)")))
      << hash.output;

  CommandResult members = Etcdctl(endpoint, {"member", "list"});
  ASSERT_EQ(members.exit_code, 0) << members.output;
  EXPECT_NE(members.output.find(", started, node-a, http://localhost:2380, http://" + endpoint +
                                ", false"),
            std::string::npos)
      << members.output;
}

// etcdctl's own performance check (60 s of puts at 150/s from 50 clients) passes.
TEST(EtcdctlOpsE2eTest, CheckPerf) {
  auto rametcd = ServerProcess::StartRametcd();
  ASSERT_TRUE(rametcd.ok()) << rametcd.status();
  CommandResult perf = RunCommand(
      {"etcdctl", "--endpoints=" + (*rametcd)->endpoint(), "check", "perf", "--load", "s"}, "",
      /*timeout_ms=*/120000);
  EXPECT_EQ(perf.exit_code, 0) << perf.output;
  // Its verdict; the throughput line shares the progress bar's line and is sometimes lost in the
  // capture, so the latency lines and the overall result are checked.
  EXPECT_NE(perf.output.find("PASS: Slowest request took"), std::string::npos) << perf.output;
  EXPECT_NE(perf.output.find("PASS: Stddev is"), std::string::npos) << perf.output;
  EXPECT_EQ(perf.output.find("FAIL"), std::string::npos) << perf.output;
  // It cleans up after itself.
  CommandResult left =
      Etcdctl((*rametcd)->endpoint(), {"get", "--prefix", "", "--count-only", "-w", "json"});
  EXPECT_EQ(left.output.find("\"count\""), std::string::npos) << left.output;
}

// `etcdctl snapshot save` from rametcd; `snapshot status` reads it; `snapshot restore` turns it
// into a data dir on which a real etcd serves the same keys with the same revisions.
TEST(EtcdctlOpsE2eTest, SnapshotSaveStatusRestoreIntoEtcd) {
  auto rametcd = ServerProcess::StartRametcd();
  ASSERT_TRUE(rametcd.ok()) << rametcd.status();
  const std::string endpoint = (*rametcd)->endpoint();
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"put", "/registry/pods/default/a", "pod-a"},
                                             {"put", "/registry/pods/default/b", "pod-b"},
                                             {"put", "/registry/pods/default/a", "pod-a2"},
                                             {"del", "/registry/pods/default/b"},
                                             {"put", "other", "x"}}) {
    ASSERT_EQ(Etcdctl(endpoint, args).exit_code, 0);
  }
  TempDir dir;
  const std::string file = dir.path() + "/snap.db";
  CommandResult save = Etcdctl(endpoint, {"snapshot", "save", file});
  ASSERT_EQ(save.exit_code, 0) << save.output;
  CommandResult status = RunCommand({"etcdctl", "snapshot", "status", file, "-w", "json"});
  ASSERT_EQ(status.exit_code, 0) << status.output;
  // The revision of the last write.
  EXPECT_NE(status.output.find("\"revision\":6"), std::string::npos) << status.output;

  const int peer_port = FreePort();
  const std::string peer = absl::StrCat("http://127.0.0.1:", peer_port);
  CommandResult restore = RunCommand({"etcdctl", "snapshot", "restore", file, "--data-dir",
                                      dir.path() + "/etcd", "--name", "r", "--initial-cluster",
                                      "r=" + peer, "--initial-advertise-peer-urls", peer});
  ASSERT_EQ(restore.exit_code, 0) << restore.output;
  auto etcd = ServerProcess::StartEtcdOn(dir.path() + "/etcd", "r", peer_port);
  ASSERT_TRUE(etcd.ok()) << etcd.status();
  static const std::regex kHeader(R"("header":\{[^}]*\},)");
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"get", "--prefix", "", "-w", "json"},
           {"get", "/registry/pods/default/a", "--rev=2", "-w", "json"},
           {"get", "/registry/pods/default/b", "--rev=4", "-w", "json"}}) {
    CommandResult want = Etcdctl(endpoint, args);
    CommandResult got = Etcdctl((*etcd)->endpoint(), args);
    ASSERT_EQ(got.exit_code, 0) << got.output;
    EXPECT_EQ(std::regex_replace(got.output, kHeader, ""),
              std::regex_replace(want.output, kHeader, ""));
  }
  CommandResult rev = Etcdctl((*etcd)->endpoint(), {"endpoint", "status", "-w", "json"});
  EXPECT_NE(rev.output.find("\"revision\":6"), std::string::npos) << rev.output;
}

class EtcdctlTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto certs = MakeTestCerts(dir_.path());
    ASSERT_TRUE(certs.ok()) << certs.status();
    certs_ = *certs;
  }
  std::vector<std::string> ServerFlags(bool client_cert_auth) const {
    std::vector<std::string> flags = {"--cert-file", certs_.server_cert, "--key-file",
                                      certs_.server_key};
    if (client_cert_auth) {
      flags.insert(flags.end(), {"--trusted-ca-file", certs_.ca, "--client-cert-auth"});
    }
    return flags;
  }

  TempDir dir_;
  TestCerts certs_;
};

TEST_F(EtcdctlTlsTest, ServerCertificateOnly) {
  auto server = ServerProcess::StartRametcdTls({certs_.ca, "", ""}, ServerFlags(false));
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string endpoint = "https://" + (*server)->endpoint();
  const std::vector<std::string> tls = {"--cacert", certs_.ca};
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"put", "a", "1"},
                                             {"get", "a"},
                                             {"endpoint", "status"},
                                             {"endpoint", "health"},
                                             {"member", "list"}}) {
    CommandResult r = Etcdctl(endpoint, args, tls);
    EXPECT_EQ(r.exit_code, 0) << args[0] << ": " << r.output;
  }
  EXPECT_NE(Etcdctl(endpoint, {"get", "a"}, tls).output.find("a\n1\n"), std::string::npos);
  // A client that does not trust the CA, and a plaintext client, get nothing.
  EXPECT_NE(Etcdctl(endpoint, {"get", "a"}, {kFailFast}).exit_code, 0);
  EXPECT_NE(Etcdctl((*server)->endpoint(), {"get", "a"}, {kFailFast}).exit_code, 0);
}

TEST_F(EtcdctlTlsTest, MutualTlsRefusesClientsWithoutAGoodCertificate) {
  auto server = ServerProcess::StartRametcdTls({certs_.ca, certs_.client_cert, certs_.client_key},
                                               ServerFlags(true));
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string endpoint = "https://" + (*server)->endpoint();
  const std::vector<std::string> good = {"--cacert",         certs_.ca, "--cert",
                                         certs_.client_cert, "--key",   certs_.client_key};
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"put", "a", "1"},
                                             {"endpoint", "status"},
                                             {"endpoint", "health"},
                                             {"member", "list"},
                                             {"alarm", "list"}}) {
    CommandResult r = Etcdctl(endpoint, args, good);
    EXPECT_EQ(r.exit_code, 0) << args[0] << ": " << r.output;
  }
  // No certificate, or one from another CA: refused.
  CommandResult none = Etcdctl(endpoint, {"get", "a"}, {kFailFast, "--cacert", certs_.ca});
  EXPECT_NE(none.exit_code, 0) << none.output;
  CommandResult other = Etcdctl(endpoint, {"get", "a"},
                                {kFailFast, "--cacert", certs_.ca, "--cert",
                                 certs_.other_ca_client_cert, "--key", certs_.other_ca_client_key});
  EXPECT_NE(other.exit_code, 0) << other.output;

  // The same over gRPC directly: a channel without a client certificate cannot read.
  auto channel = grpc::CreateChannel((*server)->endpoint(),
                                     ServerProcess::ChannelCredentials({certs_.ca, "", ""}));
  auto kv = etcdserverpb::KV::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  etcdserverpb::RangeRequest get;
  get.set_key("a");
  etcdserverpb::RangeResponse resp;
  EXPECT_FALSE(kv->Range(&ctx, get, &resp).ok());
  // With one, it can.
  auto good_kv = (*server)->NewKvStub();
  grpc::ClientContext good_ctx;
  ASSERT_TRUE(good_kv->Range(&good_ctx, get, &resp).ok());
  EXPECT_EQ(resp.kvs(0).value(), "1");
}

}  // namespace
}  // namespace rametcd::testing
