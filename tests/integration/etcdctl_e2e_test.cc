// End-to-end with etcdctl (Debian's etcd-client 3.4): the same command sequence runs against a
// real etcd and against rametcd, and every command's exit code and output must match once
// cluster/member IDs, raft terms and etcdctl's own retry log lines are masked.
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_join.h"
#include "gtest/gtest.h"
#include "support/server_process.h"

namespace rametcd::testing {
namespace {

struct Step {
  std::vector<std::string> args;
  std::string stdin_text;
};

std::string Normalize(const std::string& output) {
  static const std::regex kClientLog(R"(\{"level":[^\n]*\n?)");
  static const std::regex kIds(
      R"re(("cluster_id"|"member_id"|"raft_term"|"ClusterID" ?|"MemberID" ?|"RaftTerm" ?):\s*\d+)re");
  std::string s = std::regex_replace(output, kClientLog, "");
  return std::regex_replace(s, kIds, "$1:<id>");
}

// `got` (rametcd) must have the exit code and masked output of `want` (etcd).
void ExpectSameOutcome(const Step& step, const CommandResult& want, const CommandResult& got) {
  const std::string command = absl::StrJoin(step.args, " ");
  EXPECT_EQ(got.exit_code, want.exit_code) << command;
  EXPECT_EQ(Normalize(got.output), Normalize(want.output)) << command;
}

CommandResult Etcdctl(const ServerProcess& server, const Step& step) {
  std::vector<std::string> argv = {"etcdctl", "--endpoints=" + server.endpoint(),
                                   "--command-timeout=10s"};
  argv.insert(argv.end(), step.args.begin(), step.args.end());
  return RunCommand(argv, step.stdin_text);
}

TEST(EtcdctlE2eTest, KvCommandsBehaveAsAgainstEtcd) {
  auto etcd = ServerProcess::StartEtcd();
  ASSERT_TRUE(etcd.ok()) << etcd.status();
  auto rametcd = ServerProcess::StartRametcd();
  ASSERT_TRUE(rametcd.ok()) << rametcd.status();

  const std::vector<Step> steps = {
      {{"put", "foo", "bar"}},
      {{"put", "foo", "bar2", "--prev-kv"}},
      {{"get", "foo"}},
      {{"get", "foo", "-w", "json"}},
      {{"get", "foo", "-w", "fields"}},
      {{"put", "/registry/pods/default/p1", "pod-1"}},
      {{"put", "/registry/pods/default/p2", "pod-2"}},
      {{"put", "/registry/apps.k8s.io/deployments/default/d1", "deploy"}},
      {{"put", "/registry/health", "{\"health\":\"true\"}"}},
      {{"put", "k1", "v1"}},
      {{"put", "k2", "v2"}},
      {{"put", "k3", "v3"}},
      {{"put", "k2", "v2b"}},
      {{"get", "--prefix", ""}},
      {{"get", "--from-key", "/registry/pods"}},
      {{"get", "--prefix", "/registry/"}},
      {{"get", "--prefix", "/registry/", "--keys-only"}},
      {{"get", "--prefix", "k", "--limit", "2"}},
      {{"get", "--prefix", "k", "--limit", "2", "-w", "json"}},
      {{"get", "--prefix", "k", "--sort-by=MODIFY", "--order=DESCEND"}},
      {{"get", "--prefix", "k", "--sort-by=VERSION", "--order=ASCEND"}},
      {{"get", "--prefix", "k", "--sort-by=VALUE", "--order=DESCEND"}},
      {{"get", "--prefix", "k", "--print-value-only"}},
      {{"get", "--prefix", "k", "--count-only", "-w", "json"}},
      {{"get", "--prefix", "k", "--consistency=s"}},
      {{"get", "k1", "k3"}},
      {{"get", "foo", "--rev=2"}},
      {{"get", "foo", "--rev=100"}},
      {{"put", "foo", "--ignore-value"}},
      {{"put", "missing", "--ignore-value"}},
      {{"put", "missing", "--ignore-lease"}},
      {{"put", "leased", "v", "--lease=1234"}},
      {{"put", "foo", "v", "--ignore-value"}},
      {{"get", ""}},
      {{"txn"}, "value(\"foo\") = \"bar2\"\n\nput foo bar3\nget foo\n\nput foo failed\n\n"},
      {{"txn"}, "mod(\"k1\") > \"0\"\nversion(\"k2\") = \"2\"\n\nget k --prefix\ndel k3\n\n\n"},
      {{"txn", "-w", "json"}, "create(\"nope\") = \"0\"\n\nput nope created\n\n\n"},
      {{"txn"}, "value(\"foo\") = \"x\"\n\nput a b\n\nput c d\nput c e\n\n"},
      {{"get", "--prefix", ""}},
      {{"del", "missing"}},
      {{"del", "k1", "--prev-kv"}},
      {{"del", "--prefix", "/registry/pods/", "--prev-kv"}},
      {{"del", "--from-key", "n"}},
      {{"get", "--from-key", ""}},
      {{"compaction", "3"}},
      {{"compaction", "3"}},
      {{"compaction", "9999"}},
      {{"get", "foo", "--rev=2"}},
      {{"get", "foo", "--rev=3"}},
      {{"compaction", "--physical", "5"}},
      {{"del", "--prefix", ""}},
      {{"get", "--prefix", "", "-w", "json"}},
  };
  int compared = 0;
  for (const Step& step : steps) {
    CommandResult want = Etcdctl(**etcd, step);
    CommandResult got = Etcdctl(**rametcd, step);
    ExpectSameOutcome(step, want, got);
    ++compared;
  }
  std::printf("etcdctl commands compared: %d\n", compared);
}

// `etcdctl watch` with history, prefixes, prev-kv, all keys and a compacted revision; each runs
// under `timeout` (etcdctl watches until interrupted) and must print what it prints against etcd.
TEST(EtcdctlE2eTest, WatchBehavesAsAgainstEtcd) {
  auto etcd = ServerProcess::StartEtcd();
  ASSERT_TRUE(etcd.ok()) << etcd.status();
  auto rametcd = ServerProcess::StartRametcd();
  ASSERT_TRUE(rametcd.ok()) << rametcd.status();
  auto both = [&](const Step& step) {
    CommandResult want = Etcdctl(**etcd, step);
    CommandResult got = Etcdctl(**rametcd, step);
    ExpectSameOutcome(step, want, got);
  };
  for (const Step& step : std::vector<Step>{{{"put", "foo", "1"}},
                                            {{"put", "foo", "2"}},
                                            {{"put", "k1", "a"}},
                                            {{"put", "k2", "b"}},
                                            {{"del", "foo"}},
                                            {{"put", "foo", "3"}},
                                            {{"put", "k1", "c"}}}) {
    both(step);
  }
  const std::vector<Step> watches = {
      {{"watch", "foo", "--rev=1"}},
      {{"watch", "--prefix", "k", "--rev=1"}},
      {{"watch", "foo", "--rev=3", "--prev-kv"}},
      {{"watch", "--prefix", "", "--rev=2", "-w", "json"}},
      {{"watch", "k1", "k3", "--rev=4"}},
  };
  auto watch_for_a_while = [](const ServerProcess& server, const Step& step) {
    std::vector<std::string> argv = {"timeout", "2", "etcdctl", "--endpoints=" + server.endpoint()};
    argv.insert(argv.end(), step.args.begin(), step.args.end());
    return RunCommand(argv);
  };
  auto compare_watch = [&](const Step& step) {
    CommandResult want;
    std::thread against_etcd([&] { want = watch_for_a_while(**etcd, step); });
    CommandResult got = watch_for_a_while(**rametcd, step);
    against_etcd.join();
    EXPECT_FALSE(Normalize(want.output).empty()) << absl::StrJoin(step.args, " ");
    ExpectSameOutcome(step, want, got);
  };
  for (const Step& step : watches) compare_watch(step);
  both({{"compaction", "4"}});
  compare_watch({{"watch", "foo", "--rev=2"}});  // compacted
  compare_watch({{"watch", "foo", "--rev=4", "--prev-kv"}});
}

}  // namespace
}  // namespace rametcd::testing
