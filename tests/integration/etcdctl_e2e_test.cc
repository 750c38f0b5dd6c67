// End-to-end with etcdctl (Debian's etcd-client 3.4): the same command sequence runs against a
// real etcd and against rametcd, and every command's exit code and output must match once
// cluster/member IDs, raft terms and etcdctl's own retry log lines are masked.
#include <fstream>
#include <regex>
#include <sstream>
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

// `etcdctl lease ...` and `put --lease` print what they print against etcd (lease IDs, chosen by
// each server, masked).
TEST(EtcdctlE2eTest, LeaseCommandsBehaveAsAgainstEtcd) {
  auto etcd = ServerProcess::StartEtcd();
  ASSERT_TRUE(etcd.ok()) << etcd.status();
  auto rametcd = ServerProcess::StartRametcd();
  ASSERT_TRUE(rametcd.ok()) << rametcd.status();
  static const std::regex kLeaseId("[0-9a-f]{16}");
  static const std::regex kRemaining(R"(remaining\(\d+s\))");
  auto mask = [](const std::string& out) {
    std::string masked = std::regex_replace(Normalize(out), kLeaseId, "<lease>");
    return std::regex_replace(masked, kRemaining, "remaining(<s>)");
  };
  // Grants on each server, remembering each server's ID.
  std::string ids[2];
  const ServerProcess* servers[2] = {etcd->get(), rametcd->get()};
  CommandResult granted[2];
  for (int i = 0; i < 2; ++i) {
    granted[i] = Etcdctl(*servers[i], {{"lease", "grant", "60"}});
    std::smatch m;
    ASSERT_TRUE(std::regex_search(granted[i].output, m, kLeaseId)) << granted[i].output;
    ids[i] = m.str();
  }
  EXPECT_EQ(mask(granted[1].output), mask(granted[0].output));
  // The same commands, each with its server's lease ID.
  const std::vector<std::vector<std::string>> commands = {{"put", "--lease=@", "lk", "v"},
                                                          {"lease", "timetolive", "@", "--keys"},
                                                          {"lease", "list"},
                                                          {"lease", "keep-alive", "--once", "@"},
                                                          {"lease", "revoke", "@"},
                                                          {"get", "lk"},
                                                          {"lease", "timetolive", "@"},
                                                          {"lease", "revoke", "@"},
                                                          {"put", "--lease=1234abcd", "lk2", "v"},
                                                          {"lease", "grant", "9000000001"}};
  for (const auto& command : commands) {
    CommandResult results[2];
    for (int i = 0; i < 2; ++i) {
      Step step;
      for (std::string arg : command) {
        if (size_t at = arg.find('@'); at != std::string::npos) arg.replace(at, 1, ids[i]);
        step.args.push_back(arg);
      }
      results[i] = Etcdctl(*servers[i], step);
    }
    const std::string joined = absl::StrJoin(command, " ");
    EXPECT_EQ(results[1].exit_code, results[0].exit_code) << joined;
    EXPECT_EQ(mask(results[1].output), mask(results[0].output)) << joined;
  }
}

// Two etcdctl clients contending for a lock and an election (leases, txns on create revisions
// and watches on the predecessor's key, as clientv3/concurrency does them).
TEST(EtcdctlE2eTest, LockAndElectAcrossTwoClients) {
  auto server = ServerProcess::StartRametcd();
  ASSERT_TRUE(server.ok()) << server.status();
  TempDir dir;
  const std::string log = dir.path() + "/critical-section";
  const std::string endpoint = "--endpoints=" + (*server)->endpoint();
  auto holder = [&](const std::string& name) {
    return RunCommand(
        {"etcdctl", endpoint, "lock", "the-lock", "--", "sh", "-c",
         "echo " + name + "-in >> " + log + "; sleep 1; echo " + name + "-out >> " + log});
  };
  CommandResult a, b;
  std::thread first([&] { a = holder("A"); });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  b = holder("B");
  first.join();
  EXPECT_EQ(a.exit_code, 0) << a.output;
  EXPECT_EQ(b.exit_code, 0) << b.output;
  std::stringstream sections;
  sections << std::ifstream(log).rdbuf();
  EXPECT_EQ(sections.str(), "A-in\nA-out\nB-in\nB-out\n") << "the lock did not exclude";

  // Election: the second candidate leads only once the first is gone.
  const std::string elected = dir.path() + "/elected";
  CommandResult leader;
  std::thread candidate1([&] {
    leader = RunCommand({"timeout", "3", "etcdctl", endpoint, "elect", "the-election", "p1"});
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  CommandResult second =
      RunCommand({"timeout", "10", "etcdctl", endpoint, "elect", "the-election", "p2"});
  candidate1.join();
  EXPECT_NE(leader.output.find("\np1\n"), std::string::npos) << leader.output;
  EXPECT_NE(second.output.find("\np2\n"), std::string::npos) << second.output;
}

}  // namespace
}  // namespace rametcd::testing
