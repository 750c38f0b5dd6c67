// The HTTP endpoints on --listen-metrics-urls of a running server, fetched with curl: /health
// (also with an alarm raised and excluded), /livez, /readyz, /version, /metrics (the whole
// Prometheus text must parse, and etcd's metric names must be there with the right values), and
// https with the client certificate flags.
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "support/prometheus_text.h"
#include "support/server_process.h"
#include "support/test_certs.h"

namespace rametcd::testing {
namespace {

using ::testing::HasSubstr;

struct HttpAnswer {
  int status = 0;
  std::string body;
};

// GET with curl; `extra` adds curl flags (certificates).
HttpAnswer Get(const std::string& url, const std::vector<std::string>& extra = {}) {
  std::vector<std::string> argv = {"curl", "-s", "--max-time", "10", "-w", "\n%{http_code}"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  argv.push_back(url);
  CommandResult r = RunCommand(argv);
  HttpAnswer answer;
  const size_t nl = r.output.rfind('\n');
  if (nl == std::string::npos) return answer;
  answer.status = std::atoi(r.output.c_str() + nl + 1);
  answer.body = r.output.substr(0, nl);
  return answer;
}

double Value(const std::vector<ParsedFamily>& families, const std::string& name,
             const std::map<std::string, std::string>& labels = {}) {
  for (const ParsedFamily& f : families) {
    for (const ParsedSample& s : f.samples) {
      if (s.name == name && s.labels == labels) return s.value;
    }
  }
  ADD_FAILURE() << "no sample " << name << " with " << labels.size() << " labels";
  return -1;
}

TEST(HttpEndpointsTest, HealthVersionAndMetrics) {
  const int port = FreePort();
  const std::string base = absl::StrCat("http://127.0.0.1:", port);
  // fsync mode: an acknowledged put has been written (and synced), so the WAL series count it.
  auto server = ServerProcess::StartRametcd({"--listen-metrics-urls", base, "--wal-default=fsync"});
  ASSERT_TRUE(server.ok()) << server.status();

  EXPECT_EQ(Get(base + "/health").body, R"({"health":"true","reason":""})");
  EXPECT_EQ(Get(base + "/livez").body, "ok\n");
  EXPECT_EQ(Get(base + "/readyz").status, 200);
  EXPECT_EQ(Get(base + "/version").body, R"({"etcdserver":"3.5.13","etcdcluster":"3.5.0"})");
  EXPECT_EQ(Get(base + "/nope").status, 404);

  auto kv = (*server)->NewKvStub();
  for (int i = 0; i < 3; ++i) {
    etcdserverpb::PutRequest put;
    put.set_key("/registry/pods/default/p" + std::to_string(i));
    put.set_value("v");
    etcdserverpb::PutResponse resp;
    grpc::ClientContext ctx;
    ASSERT_TRUE(kv->Put(&ctx, put, &resp).ok());
  }
  HttpAnswer metrics = Get(base + "/metrics");
  ASSERT_EQ(metrics.status, 200);
  const std::vector<ParsedFamily> families = ParseExposition(metrics.body);
  EXPECT_EQ(Value(families, "etcd_server_has_leader"), 1);
  EXPECT_EQ(Value(families, "etcd_mvcc_put_total"), 3);
  EXPECT_EQ(Value(families, "etcd_debugging_mvcc_keys_total"), 3);
  EXPECT_EQ(Value(families, "etcd_debugging_mvcc_current_revision"), 4);
  EXPECT_GT(Value(families, "etcd_mvcc_db_total_size_in_bytes"), 0);
  EXPECT_EQ(Value(families, "rametcd_prefix_keys", {{"prefix", "/registry/pods/"}}), 3);
  EXPECT_EQ(Value(families, "grpc_server_handled_total",
                  {{"grpc_type", "unary"},
                   {"grpc_service", "etcdserverpb.KV"},
                   {"grpc_method", "Put"},
                   {"grpc_code", "OK"}}),
            3);
  EXPECT_GT(Value(families, "etcd_network_client_grpc_received_bytes_total"), 0);
  EXPECT_GT(Value(families, "etcd_disk_wal_write_bytes_total"), 0);
  EXPECT_GE(Value(families, "etcd_disk_wal_fsync_duration_seconds_count"), 1);

  // NOSPACE makes /health fail, unless excluded (kubeadm's probe does).
  auto maintenance = etcdserverpb::Maintenance::NewStub((*server)->channel());
  etcdserverpb::AlarmRequest raise;
  raise.set_action(etcdserverpb::AlarmRequest::ACTIVATE);
  raise.set_alarm(etcdserverpb::NOSPACE);
  etcdserverpb::AlarmResponse alarm;
  grpc::ClientContext ctx;
  ASSERT_TRUE(maintenance->Alarm(&ctx, raise, &alarm).ok());
  HttpAnswer unhealthy = Get(base + "/health");
  EXPECT_EQ(unhealthy.status, 503);
  EXPECT_EQ(unhealthy.body, R"({"health":"false","reason":"ALARM NOSPACE"})");
  EXPECT_EQ(Get(base + "/health?exclude=NOSPACE&serializable=true").status, 200);
  EXPECT_EQ(
      Value(ParseExposition(Get(base + "/metrics").body), "rametcd_alarms", {{"alarm", "NOSPACE"}}),
      1);
}

TEST(HttpEndpointsTest, HttpsWithClientCertificates) {
  TempDir dir;
  auto certs = MakeTestCerts(dir.path());
  ASSERT_TRUE(certs.ok()) << certs.status();
  const std::string base = absl::StrCat("https://127.0.0.1:", FreePort());
  auto server = ServerProcess::StartRametcd({"--listen-metrics-urls", base, "--cert-file",
                                             certs->server_cert, "--key-file", certs->server_key,
                                             "--trusted-ca-file", certs->ca, "--client-cert-auth"});
  ASSERT_TRUE(server.ok()) << server.status();
  HttpAnswer good = Get(base + "/health", {"--cacert", certs->ca, "--cert", certs->client_cert,
                                           "--key", certs->client_key});
  EXPECT_EQ(good.status, 200) << good.body;
  EXPECT_EQ(Get(base + "/health", {"--cacert", certs->ca}).status, 0) << "no client cert";
  EXPECT_EQ(Get(base + "/health", {"--cacert", certs->ca, "--cert", certs->other_ca_client_cert,
                                   "--key", certs->other_ca_client_key})
                .status,
            0);
}

}  // namespace
}  // namespace rametcd::testing
