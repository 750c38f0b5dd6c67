#include "server/options.h"

#include <vector>

#include "gtest/gtest.h"

namespace rametcd::server {
namespace {

absl::StatusOr<CommandLine> Parse(std::vector<const char*> args) {
  args.insert(args.begin(), "rametcd");
  return ParseCommandLine(static_cast<int>(args.size()), args.data());
}

TEST(OptionsTest, DefaultsMatchEtcd) {
  auto cl = Parse({});
  ASSERT_TRUE(cl.ok());
  EXPECT_EQ(cl->options.name, "default");
  EXPECT_EQ(cl->options.data_dir, "default.etcd");
  EXPECT_EQ(cl->options.listen_client, (std::vector<ListenUrl>{{"127.0.0.1:2379", false}}));
  EXPECT_TRUE(cl->options.listen_metrics.empty());
  EXPECT_EQ(cl->options.quota_backend_bytes, 2ll << 30);
  EXPECT_FALSE(cl->options.auto_compaction.enabled());
  EXPECT_TRUE(cl->warnings.empty());
  EXPECT_EQ(cl->options.max_request_bytes, 1572864);
  EXPECT_EQ(cl->options.max_txn_ops, 128);
}

TEST(OptionsTest, GoStyleFlagSyntax) {
  auto cl = Parse({"--name", "m1", "-max-txn-ops=7", "--listen-client-urls",
                   "http://127.0.0.1:1,http://[::1]:2/", "--version"});
  ASSERT_TRUE(cl.ok()) << cl.status();
  EXPECT_EQ(cl->options.name, "m1");
  EXPECT_EQ(cl->options.data_dir, "m1.etcd");
  EXPECT_EQ(cl->options.max_txn_ops, 7);
  EXPECT_EQ(cl->options.listen_client,
            (std::vector<ListenUrl>{{"127.0.0.1:1", false}, {"[::1]:2", false}}));
  EXPECT_TRUE(cl->version);
  EXPECT_FALSE(cl->help);
}

TEST(OptionsTest, ErrorsNameTheFlag) {
  EXPECT_EQ(Parse({"--bogus"}).status().message(), "flag provided but not defined: -bogus");
  EXPECT_EQ(Parse({"--name"}).status().message(), "flag needs an argument: --name");
  EXPECT_EQ(Parse({"--max-request-bytes=-1"}).status().message(),
            "invalid value \"-1\" for flag --max-request-bytes: want a positive integer");
  EXPECT_FALSE(Parse({"--help=maybe"}).ok());
  EXPECT_EQ(Parse({"--listen-client-urls", "https://127.0.0.1:2379"}).status().message(),
            "https:// URLs need a certificate: set --cert-file and --key-file");
  EXPECT_EQ(Parse({"--client-cert-auth"}).status().message(),
            "--client-cert-auth needs --trusted-ca-file");
  EXPECT_FALSE(Parse({"--listen-client-urls", "unix://x"}).ok());
  EXPECT_FALSE(Parse({"--auto-compaction-retention", "soon"}).ok());
  EXPECT_FALSE(
      Parse({"--auto-compaction-mode", "revision", "--auto-compaction-retention", "1h"}).ok());
  EXPECT_FALSE(Parse({"--auto-compaction-mode", "hourly"}).ok());
  EXPECT_FALSE(Parse({"--listen-client-urls", "http://127.0.0.1"}).ok());
  EXPECT_FALSE(Parse({"stray"}).ok());
}

TEST(OptionsTest, ImportFromAndItsTlsFiles) {
  auto cl = Parse({"--import-from", "https://10.0.0.1:2379", "--import-cacert", "ca.pem",
                   "--import-cert", "c.pem", "--import-key", "k.pem"});
  ASSERT_TRUE(cl.ok()) << cl.status();
  const ImportSource& source = cl->options.import_from;
  EXPECT_EQ(source.url, "https://10.0.0.1:2379");
  EXPECT_EQ(source.endpoint, (ListenUrl{"10.0.0.1:2379", true}));
  EXPECT_EQ(source.cacert, "ca.pem");
  EXPECT_EQ(source.cert, "c.pem");
  EXPECT_EQ(source.key, "k.pem");
  EXPECT_TRUE(Parse({}).value().options.import_from.url.empty());

  EXPECT_EQ(Parse({"--import-from", "10.0.0.1:2379"}).status().message(),
            "unsupported URL \"10.0.0.1:2379\": want http://host:port or https://host:port");
  EXPECT_EQ(Parse({"--import-from", "http://a:1", "--import-cert", "c.pem"}).status().message(),
            "--import-cert and --import-key go together");
  EXPECT_EQ(Parse({"--import-cacert", "ca.pem"}).status().message(),
            "--import-cacert, --import-cert and --import-key need --import-from");
}

TEST(OptionsTest, TlsAndMetricsUrls) {
  auto cl = Parse({"--listen-client-urls", "https://127.0.0.1:1,http://127.0.0.1:2",
                   "--listen-metrics-urls=https://127.0.0.1:3", "--cert-file", "c.pem",
                   "--key-file", "k.pem", "--trusted-ca-file", "ca.pem", "--client-cert-auth"});
  ASSERT_TRUE(cl.ok()) << cl.status();
  EXPECT_EQ(cl->options.listen_client,
            (std::vector<ListenUrl>{{"127.0.0.1:1", true}, {"127.0.0.1:2", false}}));
  EXPECT_EQ(cl->options.listen_metrics, (std::vector<ListenUrl>{{"127.0.0.1:3", true}}));
  EXPECT_EQ(cl->options.client_tls.cert_file, "c.pem");
  EXPECT_EQ(cl->options.client_tls.key_file, "k.pem");
  EXPECT_EQ(cl->options.client_tls.trusted_ca_file, "ca.pem");
  EXPECT_TRUE(cl->options.client_tls.client_cert_auth);
}

// The flags of kubeadm's etcd static pod manifest (kubeadm 1.30) are all accepted; those that
// mean nothing to a single in-memory member give one warning each.
TEST(OptionsTest, KubeadmManifestFlagsAreAccepted) {
  auto cl = Parse({"--advertise-client-urls=https://10.0.0.1:2379",
                   "--cert-file=/etc/kubernetes/pki/etcd/server.crt",
                   "--client-cert-auth=true",
                   "--data-dir=/var/lib/etcd",
                   "--experimental-initial-corrupt-check=true",
                   "--experimental-watch-progress-notify-interval=5s",
                   "--initial-advertise-peer-urls=https://10.0.0.1:2380",
                   "--initial-cluster=node1=https://10.0.0.1:2380",
                   "--key-file=/etc/kubernetes/pki/etcd/server.key",
                   "--listen-client-urls=https://127.0.0.1:2379,https://10.0.0.1:2379",
                   "--listen-metrics-urls=http://127.0.0.1:2381",
                   "--listen-peer-urls=https://10.0.0.1:2380",
                   "--name=node1",
                   "--peer-cert-file=/etc/kubernetes/pki/etcd/peer.crt",
                   "--peer-client-cert-auth=true",
                   "--peer-key-file=/etc/kubernetes/pki/etcd/peer.key",
                   "--peer-trusted-ca-file=/etc/kubernetes/pki/etcd/ca.crt",
                   "--snapshot-count=10000",
                   "--trusted-ca-file=/etc/kubernetes/pki/etcd/ca.crt",
                   "--experimental-some-future-flag",
                   "--heartbeat-interval",
                   "100"});
  ASSERT_TRUE(cl.ok()) << cl.status();
  EXPECT_EQ(cl->options.watch_progress_notify_interval, absl::Seconds(5));
  EXPECT_EQ(cl->options.initial_advertise_peer_urls,
            std::vector<std::string>{"https://10.0.0.1:2380"});
  EXPECT_EQ(cl->options.data_dir, "/var/lib/etcd");
  // initial-cluster, listen-peer-urls, the 4 peer TLS flags, snapshot-count,
  // experimental-initial-corrupt-check, experimental-some-future-flag, heartbeat-interval.
  EXPECT_EQ(cl->warnings.size(), 10u);
  for (const std::string& w : cl->warnings) EXPECT_NE(w.find("has no effect"), std::string::npos);
}

TEST(OptionsTest, EtcdEnvironmentVariables) {
  std::vector<const char*> args = {"rametcd", "--name", "flag-name"};
  auto cl = ParseCommandLine(
      static_cast<int>(args.size()), args.data(),
      {"ETCD_NAME=env-name", "ETCD_QUOTA_BACKEND_BYTES=1000", "ETCD_AUTO_COMPACTION_MODE=revision",
       "ETCD_AUTO_COMPACTION_RETENTION=100", "ETCD_CLIENT_CERT_AUTH=false",
       "ETCD_INITIAL_CLUSTER_STATE=new", "ETCD_NO_SUCH_THING=1", "PATH=/bin", "ETCDCTL_API=3"});
  ASSERT_TRUE(cl.ok()) << cl.status();
  EXPECT_EQ(cl->options.name, "flag-name");
  EXPECT_EQ(cl->options.quota_backend_bytes, 1000);
  EXPECT_EQ(cl->options.auto_compaction.mode, AutoCompaction::Mode::kRevision);
  EXPECT_EQ(cl->options.auto_compaction.revisions, 100);
  EXPECT_EQ(
      cl->warnings,
      (std::vector<std::string>{
          "ignored environment variable ETCD_NAME: --name is set",
          "--initial-cluster-state has no effect on a single in-memory member (value \"new\")",
          "unrecognized environment variable ETCD_NO_SUCH_THING"}));
  EXPECT_EQ(ParseCommandLine(1, args.data(), {"ETCD_MAX_TXN_OPS=lots"}).status().message(),
            "environment variable ETCD_MAX_TXN_OPS: invalid value \"lots\" for flag "
            "--max-txn-ops: want a positive integer");
}

TEST(OptionsTest, AutoCompactionRetention) {
  auto hours = Parse({"--auto-compaction-retention=2"});
  ASSERT_TRUE(hours.ok());
  EXPECT_EQ(hours->options.auto_compaction.period, absl::Hours(2));
  auto minutes = Parse({"--auto-compaction-retention", "30m", "--auto-compaction-mode=periodic"});
  ASSERT_TRUE(minutes.ok());
  EXPECT_EQ(minutes->options.auto_compaction.period, absl::Minutes(30));
  auto revisions = Parse({"--auto-compaction-retention=1000", "--auto-compaction-mode=revision"});
  ASSERT_TRUE(revisions.ok());
  EXPECT_EQ(revisions->options.auto_compaction.revisions, 1000);
  EXPECT_TRUE(revisions->options.auto_compaction.enabled());
}

TEST(OptionsTest, UsageListsEveryFlag) {
  std::string usage = UsageText();
  for (const char* flag :
       {"--name", "--data-dir", "--listen-client-urls", "--advertise-client-urls",
        "--max-request-bytes", "--max-txn-ops", "--log-level", "--help", "--version"}) {
    EXPECT_NE(usage.find(flag), std::string::npos) << flag;
  }
}

}  // namespace
}  // namespace rametcd::server
