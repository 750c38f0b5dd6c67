// Durability across a graceful restart: a workload over gRPC (puts in several resource prefixes,
// overwrites, single and ranged deletes, multi-prefix txns, leases with keys, a revoked lease, a
// compaction and a few thousand bulk writes) is stopped with SIGTERM and restarted on the same
// data dir. Everything a client can observe must come back exactly: every key with its create and
// mod revision, version, lease and value, the revision, ranges at past revisions (and the
// compacted error below the compaction point), the leases with their granted TTLs and keys, and
// the events a watch replays from after the compaction point. Runs for both I/O backends, with
// the default and with tiny segments (rotation and checkpoints), and once with
// /registry/events/ in mode none (those keys are gone, nothing else is, the revision holds).
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "support/server_process.h"
#include "support/watch_session.h"

namespace rametcd::testing {
namespace {

using ::testing::HasSubstr;

constexpr char kPods[] = "/registry/pods/ns/";
constexpr char kEvents[] = "/registry/events/ns/";
constexpr char kConfigMaps[] = "/registry/configmaps/ns/";
constexpr char kCrds[] = "/registry/apiextensions.k8s.io/customresourcedefinitions/";
constexpr char kLeases[] = "/registry/coordination.k8s.io/leases/kube-node-lease/";
const std::string kAll(1, '\0');  // key and range_end of a range over every key

void Prepare(grpc::ClientContext* ctx) {
  ctx->set_wait_for_ready(true);
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
}

std::string StatusString(const grpc::Status& s) {
  return absl::StrCat("status ", s.error_code(), ": ", s.error_message());
}

bool ExitedCleanly(int status) { return status != -1 && WIFEXITED(status) && !WEXITSTATUS(status); }

// Synchronous calls that record a test failure on any error and track the newest revision.
class Client {
 public:
  explicit Client(const ServerProcess& server)
      : kv_(server.NewKvStub()), lease_(etcdserverpb::Lease::NewStub(server.channel())) {}

  int64_t revision() const { return revision_; }

  int64_t Put(const std::string& key, const std::string& value, int64_t lease = 0) {
    etcdserverpb::PutRequest req;
    req.set_key(key);
    req.set_value(value);
    req.set_lease(lease);
    etcdserverpb::PutResponse resp;
    grpc::ClientContext ctx;
    Prepare(&ctx);
    return Seen(kv_->Put(&ctx, req, &resp), resp, "put " + key);
  }

  int64_t Delete(const std::string& key, const std::string& range_end = "") {
    etcdserverpb::DeleteRangeRequest req;
    req.set_key(key);
    req.set_range_end(range_end);
    etcdserverpb::DeleteRangeResponse resp;
    grpc::ClientContext ctx;
    Prepare(&ctx);
    return Seen(kv_->DeleteRange(&ctx, req, &resp), resp, "delete " + key);
  }

  int64_t Txn(const etcdserverpb::TxnRequest& req, bool expect_succeeded) {
    etcdserverpb::TxnResponse resp;
    grpc::ClientContext ctx;
    Prepare(&ctx);
    int64_t rev = Seen(kv_->Txn(&ctx, req, &resp), resp, "txn");
    EXPECT_EQ(resp.succeeded(), expect_succeeded);
    return rev;
  }

  void Compact(int64_t revision) {
    etcdserverpb::CompactionRequest req;
    req.set_revision(revision);
    etcdserverpb::CompactionResponse resp;
    grpc::ClientContext ctx;
    Prepare(&ctx);
    Seen(kv_->Compact(&ctx, req, &resp), resp, "compact");
  }

  int64_t Grant(int64_t ttl) {
    etcdserverpb::LeaseGrantRequest req;
    req.set_ttl(ttl);
    etcdserverpb::LeaseGrantResponse resp;
    grpc::ClientContext ctx;
    Prepare(&ctx);
    Seen(lease_->LeaseGrant(&ctx, req, &resp), resp, "lease grant");
    return resp.id();
  }

  void Revoke(int64_t id) {
    etcdserverpb::LeaseRevokeRequest req;
    req.set_id(id);
    etcdserverpb::LeaseRevokeResponse resp;
    grpc::ClientContext ctx;
    Prepare(&ctx);
    Seen(lease_->LeaseRevoke(&ctx, req, &resp), resp, "lease revoke");
  }

  grpc::Status Range(const etcdserverpb::RangeRequest& req, etcdserverpb::RangeResponse* resp) {
    grpc::ClientContext ctx;
    Prepare(&ctx);
    return kv_->Range(&ctx, req, resp);
  }

  etcdserverpb::Lease::Stub& lease() { return *lease_; }

 private:
  // Takes the whole response: its header is only read after the call filled it in.
  template <typename Response>
  int64_t Seen(const grpc::Status& s, const Response& resp, const std::string& what) {
    if (!s.ok()) {
      ADD_FAILURE() << what << ": " << StatusString(s);
      return -1;
    }
    revision_ = std::max(revision_, resp.header().revision());
    return resp.header().revision();
  }

  std::unique_ptr<etcdserverpb::KV::Stub> kv_;
  std::unique_ptr<etcdserverpb::Lease::Stub> lease_;
  int64_t revision_ = 1;
};

etcdserverpb::RequestOp PutOp(const std::string& key, const std::string& value) {
  etcdserverpb::RequestOp op;
  op.mutable_request_put()->set_key(key);
  op.mutable_request_put()->set_value(value);
  return op;
}

etcdserverpb::RequestOp DeleteOp(const std::string& key, const std::string& range_end = "") {
  etcdserverpb::RequestOp op;
  op.mutable_request_delete_range()->set_key(key);
  op.mutable_request_delete_range()->set_range_end(range_end);
  return op;
}

// What the workload left behind that the snapshots need.
struct WorkloadResult {
  int64_t compacted = 0;
  std::vector<int64_t> probe_revisions;  // past revisions to range at (the first is compacted)
  int64_t writes = 0;
};

WorkloadResult RunWorkload(Client& c, int bulk_writes) {
  std::mt19937 rng(20240611);
  int64_t n = 0;
  auto value = [&] {
    ++n;
    return absl::StrCat("v", n, "-",
                        std::string(150 + rng() % 250, static_cast<char>('a' + n % 26)));
  };
  WorkloadResult out;

  const int64_t lease_a = c.Grant(300), lease_b = c.Grant(600), lease_c = c.Grant(900);
  for (int i = 0; i < 50; ++i) c.Put(absl::StrCat(kPods, "p", i), value());
  for (int i = 0; i < 20; ++i) c.Put(absl::StrCat(kEvents, "e", i), value());
  c.Put(absl::StrCat(kCrds, "x"), value());
  c.Put(absl::StrCat(kLeases, "n1"), value(), lease_a);
  c.Put(absl::StrCat(kConfigMaps, "c1"), value(), lease_b);
  c.Put(absl::StrCat(kConfigMaps, "c2"), value(), lease_c);
  c.Put(absl::StrCat(kPods, "leased"), value(), lease_c);
  for (int i = 0; i < 10; ++i) c.Put(absl::StrCat("plain/d", i), value());
  c.Put("foo", value());
  c.Put("zzz", value(), lease_b);
  c.Put("/registry/secrets/ns/s1", value());
  // Overwrites: versions above 1.
  for (int round = 0; round < 5; ++round) {
    for (int i = 0; i < 10; ++i) c.Put(absl::StrCat(kPods, "p", i), value());
  }
  c.Put(absl::StrCat(kCrds, "x"), value());
  // Deletes: single and ranged (p2 and p20..p29; every plain/d*).
  c.Delete(absl::StrCat(kPods, "p10"));
  c.Delete(absl::StrCat(kPods, "p2"), absl::StrCat(kPods, "p3"));
  c.Delete("plain/d", "plain/e");
  // Transactions over several prefixes, through both branches.
  {
    etcdserverpb::TxnRequest txn;
    auto* cmp = txn.add_compare();
    cmp->set_key(absl::StrCat(kPods, "p0"));
    cmp->set_target(etcdserverpb::Compare::MOD);
    cmp->set_result(etcdserverpb::Compare::GREATER);
    cmp->set_mod_revision(0);
    *txn.add_success() = PutOp(absl::StrCat(kPods, "tx1"), value());
    *txn.add_success() = PutOp(absl::StrCat(kEvents, "tx1"), value());
    *txn.add_success() = PutOp(absl::StrCat(kCrds, "y"), value());
    *txn.add_success() = DeleteOp(absl::StrCat(kPods, "p11"));
    *txn.add_success() = PutOp("plain/tx1", value());
    *txn.add_failure() = PutOp("plain/never", value());
    c.Txn(txn, true);
  }
  {
    etcdserverpb::TxnRequest txn;
    auto* cmp = txn.add_compare();
    cmp->set_key("foo");
    cmp->set_target(etcdserverpb::Compare::VALUE);
    cmp->set_result(etcdserverpb::Compare::EQUAL);
    cmp->set_value("nope");
    *txn.add_success() = PutOp("plain/never", value());
    *txn.add_failure() = PutOp(absl::StrCat(kConfigMaps, "tx2"), value());
    *txn.add_failure() = DeleteOp(absl::StrCat(kEvents, "e0"));
    *txn.add_failure() = PutOp(absl::StrCat(kPods, "p0"), value());
    c.Txn(txn, false);
  }
  {
    etcdserverpb::TxnRequest txn;
    *txn.add_success() = DeleteOp(absl::StrCat(kEvents, "e1"), absl::StrCat(kEvents, "e6"));
    *txn.add_success() = PutOp(absl::StrCat(kPods, "p1"), value());
    *txn.add_success() = PutOp(absl::StrCat(kLeases, "n2"), value());
    c.Txn(txn, true);
  }

  // Bulk writes, enough to rotate tiny segments and trigger checkpoints; a compaction midway.
  auto bulk = [&](int count) {
    for (int i = 0; i < count; ++i) {
      const int which = rng() % 100;
      const std::string key = [&] {
        switch (rng() % 5) {
          case 0:
            return absl::StrCat(kPods, "b", rng() % 200);
          case 1:
            return absl::StrCat(kEvents, "b", rng() % 100);
          case 2:
            return absl::StrCat(kConfigMaps, "b", rng() % 50);
          case 3:
            return absl::StrCat(kCrds, "b", rng() % 20);
          default:
            return absl::StrCat("plain/b", rng() % 50);
        }
      }();
      if (which < 5) {
        c.Delete(key);
      } else if (which < 9) {
        etcdserverpb::TxnRequest txn;
        const int k = rng() % 50;
        *txn.add_success() = PutOp(absl::StrCat(kPods, "b", k), value());
        *txn.add_success() = PutOp(absl::StrCat(kEvents, "b", k), value());
        *txn.add_success() = DeleteOp(absl::StrCat(kConfigMaps, "b", k));
        *txn.add_success() = PutOp(absl::StrCat("plain/b", k), value());
        c.Txn(txn, true);
      } else {
        c.Put(key, value());
      }
    }
  };
  bulk(bulk_writes / 2);
  out.compacted = c.revision() - 40;
  c.Compact(out.compacted);
  bulk(bulk_writes / 2);

  c.Revoke(lease_c);  // deletes configmaps c2 and pods/leased
  c.Put(absl::StrCat(kPods, "p3"), value());
  c.Put(absl::StrCat(kEvents, "last1"), value());
  c.Put(absl::StrCat(kEvents, "last2"), value());  // the newest revisions touch events only

  const int64_t now = c.revision();
  out.probe_revisions = {out.compacted - 1, out.compacted, out.compacted + 1,
                         (out.compacted + now) / 2, now - 1};
  out.writes = n;
  return out;
}

// Everything the test compares across a restart, as readable strings.
struct Snapshot {
  int64_t revision = 0;
  std::vector<std::string> kvs;
  std::vector<std::string> past;    // one per probe revision: a status or the kvs there
  std::vector<std::string> leases;  // ID, granted TTL and attached keys
  std::vector<std::string> events;  // replayed by a watch from the compaction point + 1
  std::string compacted_watch;      // a watch from below the compaction point
};

using KeyFilter = std::function<bool(const std::string& key)>;

std::string KvsString(const etcdserverpb::RangeResponse& resp, const KeyFilter& keep) {
  std::vector<std::string> kvs;
  for (const auto& kv : resp.kvs()) {
    if (keep(kv.key())) kvs.push_back(kv.ShortDebugString());
  }
  return absl::StrJoin(kvs, "\n");
}

Snapshot TakeSnapshot(const ServerProcess& server, Client& c, const WorkloadResult& w,
                      const KeyFilter& keep, bool watch) {
  Snapshot snap;
  {
    etcdserverpb::RangeRequest req;
    req.set_key(kAll);
    req.set_range_end(kAll);
    etcdserverpb::RangeResponse resp;
    grpc::Status s = c.Range(req, &resp);
    EXPECT_TRUE(s.ok()) << StatusString(s);
    snap.revision = resp.header().revision();
    for (const auto& kv : resp.kvs()) {
      if (keep(kv.key())) snap.kvs.push_back(kv.ShortDebugString());
    }
  }
  for (size_t i = 0; i < w.probe_revisions.size(); ++i) {
    etcdserverpb::RangeRequest req;
    req.set_key(kAll);
    req.set_range_end(kAll);
    req.set_revision(w.probe_revisions[i]);
    etcdserverpb::RangeResponse resp;
    grpc::Status s = c.Range(req, &resp);
    if (i == 0) {
      EXPECT_EQ(s.error_code(), grpc::StatusCode::OUT_OF_RANGE) << StatusString(s);
      EXPECT_THAT(s.error_message(), HasSubstr("compacted"));
    } else {
      EXPECT_TRUE(s.ok()) << "range at " << w.probe_revisions[i] << ": " << StatusString(s);
      EXPECT_EQ(resp.header().revision(), snap.revision);
    }
    snap.past.push_back(s.ok() ? KvsString(resp, keep) : StatusString(s));
  }
  {
    etcdserverpb::LeaseLeasesResponse list;
    grpc::ClientContext ctx;
    Prepare(&ctx);
    grpc::Status s = c.lease().LeaseLeases(&ctx, {}, &list);
    EXPECT_TRUE(s.ok()) << StatusString(s);
    for (const auto& l : list.leases()) {
      etcdserverpb::LeaseTimeToLiveRequest req;
      req.set_id(l.id());
      req.set_keys(true);
      etcdserverpb::LeaseTimeToLiveResponse resp;
      grpc::ClientContext ttl_ctx;
      Prepare(&ttl_ctx);
      s = c.lease().LeaseTimeToLive(&ttl_ctx, req, &resp);
      EXPECT_TRUE(s.ok()) << StatusString(s);
      EXPECT_GT(resp.ttl(), 0);
      EXPECT_LE(resp.ttl(), resp.grantedttl());
      std::vector<std::string> keys(resp.keys().begin(), resp.keys().end());
      std::sort(keys.begin(), keys.end());
      snap.leases.push_back(absl::StrCat("lease ", resp.id(), " granted ", resp.grantedttl(),
                                         " keys [", absl::StrJoin(keys, ","), "]"));
    }
    std::sort(snap.leases.begin(), snap.leases.end());
  }
  if (watch) {
    // Events in revision order; within one revision sorted, as the order of a txn's events is
    // checked on its own (WatchKeepsTheOrderOfATxnsEvents).
    std::vector<std::pair<int64_t, std::string>> events;
    WatchSession session(server.channel());
    EXPECT_TRUE(session.Send(CreateWatch(kAll, kAll, w.compacted + 1)));
    int64_t seen = 0;
    while (seen < snap.revision) {
      auto resp = session.Next();
      if (!resp.has_value()) {
        ADD_FAILURE() << "the watch stalled after revision " << seen << " of " << snap.revision;
        break;
      }
      if (resp->canceled() || resp->compact_revision() != 0) {
        ADD_FAILURE() << "a watch from revision " << w.compacted + 1
                      << " (history retained: the store was compacted at " << w.compacted
                      << ") was answered compact_revision " << resp->compact_revision()
                      << ", canceled " << resp->canceled() << " " << resp->cancel_reason();
        break;
      }
      for (const auto& e : resp->events()) {
        seen = std::max(seen, e.kv().mod_revision());
        if (keep(e.kv().key())) {
          events.push_back(
              {e.kv().mod_revision(), absl::StrCat(e.type(), " ", e.kv().ShortDebugString())});
        }
      }
    }
    std::sort(events.begin(), events.end());
    for (auto& [rev, e] : events) snap.events.push_back(std::move(e));
    WatchSession below(server.channel());
    EXPECT_TRUE(below.Send(CreateWatch(kAll, kAll, w.compacted - 1)));
    while (auto resp = below.Next()) {
      if (resp->compact_revision() != 0 || resp->canceled()) {
        snap.compacted_watch = absl::StrCat("compact_revision ", resp->compact_revision(),
                                            " canceled ", resp->canceled());
        break;
      }
    }
    EXPECT_EQ(snap.compacted_watch, absl::StrCat("compact_revision ", w.compacted, " canceled 1"))
        << "a watch from below the compaction point";
  }
  return snap;
}

void ExpectSameLines(const std::vector<std::string>& before, const std::vector<std::string>& after,
                     const std::string& what) {
  EXPECT_EQ(before.size(), after.size()) << what;
  for (size_t i = 0; i < std::min(before.size(), after.size()); ++i) {
    if (before[i] != after[i]) {
      ADD_FAILURE() << what << ": first difference at #" << i << "\nbefore: " << before[i]
                    << "\nafter:  " << after[i];
      return;
    }
  }
}

void ExpectSame(const Snapshot& before, const Snapshot& after) {
  EXPECT_EQ(before.revision, after.revision);
  ExpectSameLines(before.kvs, after.kvs, "keys");
  ExpectSameLines(before.past, after.past, "ranges at past revisions");
  ExpectSameLines(before.leases, after.leases, "leases");
  ExpectSameLines(before.events, after.events, "watch events");
  EXPECT_EQ(before.compacted_watch, after.compacted_watch);
}

// Counts the WAL files under `data_dir` by extension, streams' initial empty checkpoints left out.
std::map<std::string, int> WalFiles(const std::string& data_dir) {
  std::map<std::string, int> count;
  std::error_code ec;
  for (const auto& e : std::filesystem::recursive_directory_iterator(data_dir, ec)) {
    // A stream's first checkpoint (seq 0) is the empty one written when it is created.
    if (e.is_regular_file() && e.path().filename() != "0000000000000000.ckpt") {
      ++count[e.path().extension().string()];
    }
  }
  return count;
}

std::string RecoveredLine(const ServerProcess& server) {
  const std::string log = server.log();
  const size_t at = log.find("recovered from the data dir");
  if (at == std::string::npos) return "";
  const size_t begin = log.rfind('\n', at) == std::string::npos ? 0 : log.rfind('\n', at) + 1;
  return log.substr(begin, log.find('\n', at) - begin);
}

double SecondsSince(absl::Time start) { return absl::ToDoubleSeconds(absl::Now() - start); }

using RestartParam = std::tuple<std::string, bool>;  // I/O backend, tiny segments

class DurabilityRestartTest : public ::testing::TestWithParam<RestartParam> {};

TEST_P(DurabilityRestartTest, GracefulRestartRestoresEverything) {
  const auto& [backend, tiny_segments] = GetParam();
  const absl::Time start = absl::Now();
  TempDir dir;
  const std::string data = dir.path() + "/data";
  std::vector<std::string> flags = {"--wal-io-backend", backend};
  if (tiny_segments) flags.insert(flags.end(), {"--wal-segment-bytes", "4096"});
  const KeyFilter all = [](const std::string&) { return true; };
  absl::Time last = start;
  auto lap = [&](const char* what) {
    std::printf("  %-34s %6.0f ms\n", what, absl::ToDoubleMilliseconds(absl::Now() - last));
    last = absl::Now();
  };

  auto first = ServerProcess::StartRametcdOn(data, flags);
  ASSERT_TRUE(first.ok()) << first.status();
  auto c1 = std::make_unique<Client>(**first);
  const WorkloadResult w = RunWorkload(*c1, 3000);
  ASSERT_FALSE(HasFailure());
  lap("start and workload");
  const Snapshot before = TakeSnapshot(**first, *c1, w, all, /*watch=*/true);
  ASSERT_FALSE(HasFailure());
  EXPECT_GT(before.kvs.size(), 300u);
  EXPECT_EQ(before.leases.size(), 2u);
  EXPECT_GT(before.events.size(), 1000u);
  lap("snapshot");
  c1.reset();  // closes its connection, which would hold up the shutdown
  EXPECT_TRUE(ExitedCleanly((*first)->Terminate())) << (*first)->log();
  lap("SIGTERM");
  const std::map<std::string, int> files = WalFiles(data);
  std::printf("%s%s: %lld writes, revision %lld, files: %d .log, %d .ckpt\n", backend.c_str(),
              tiny_segments ? " tiny segments" : "", static_cast<long long>(w.writes),
              static_cast<long long>(before.revision), files.count(".log") ? files.at(".log") : 0,
              files.count(".ckpt") ? files.at(".ckpt") : 0);
  if (tiny_segments) {
    EXPECT_GT(files.count(".log") ? files.at(".log") : 0, 5) << "segments did not rotate";
    EXPECT_GT(files.count(".ckpt") ? files.at(".ckpt") : 0, 0) << "no checkpoint was written";
  }

  auto second = ServerProcess::StartRametcdOn(data, flags);
  ASSERT_TRUE(second.ok()) << second.status();
  lap("restart");
  const std::string recovered = RecoveredLine(**second);
  std::printf("%s\n", recovered.c_str());
  EXPECT_THAT(recovered, HasSubstr("\"torn-tails-cut\":\"0\""));
  EXPECT_THAT(recovered, HasSubstr("\"incomplete-batch-findings\":\"0\""));
  auto c2 = std::make_unique<Client>(**second);
  const Snapshot after = TakeSnapshot(**second, *c2, w, all, /*watch=*/true);
  ExpectSame(before, after);
  lap("snapshot after restart");

  // The restarted server takes writes, numbered on from the recovered revision, and they survive
  // one more restart too.
  EXPECT_EQ(c2->Put(absl::StrCat(kPods, "after-restart"), "new"), before.revision + 1);
  EXPECT_EQ(c2->Put("plain/after-restart", "new"), before.revision + 2);
  const Snapshot written = TakeSnapshot(**second, *c2, w, all, /*watch=*/true);
  EXPECT_EQ(written.kvs.size(), before.kvs.size() + 2);
  lap("write and snapshot");
  c2.reset();
  EXPECT_TRUE(ExitedCleanly((*second)->Terminate())) << (*second)->log();
  lap("SIGTERM");
  auto third = ServerProcess::StartRametcdOn(data, flags);
  ASSERT_TRUE(third.ok()) << third.status();
  lap("restart");
  Client c3(**third);
  ExpectSame(written, TakeSnapshot(**third, c3, w, all, /*watch=*/true));
  std::printf("took %.2f s\n", SecondsSince(start));
}

INSTANTIATE_TEST_SUITE_P(Backends, DurabilityRestartTest,
                         ::testing::Combine(::testing::Values("io_uring", "posix"),
                                            ::testing::Bool()),
                         [](const ::testing::TestParamInfo<RestartParam>& info) {
                           return std::get<0>(info.param) +
                                  (std::get<1>(info.param) ? "_TinySegments" : "_DefaultSegments");
                         });

TEST(DurabilityRestartModeTest, EventsInModeNoneAreGoneAfterRestart) {
  const absl::Time start = absl::Now();
  TempDir dir;
  const std::string data = dir.path() + "/data";
  const std::vector<std::string> flags = {"--wal-prefix-mode", "/registry/events/=none",
                                          "--wal-segment-bytes", "4096"};
  const KeyFilter not_events = [](const std::string& key) {
    return !absl::StartsWith(key, "/registry/events/");
  };

  auto first = ServerProcess::StartRametcdOn(data, flags);
  ASSERT_TRUE(first.ok()) << first.status();
  auto c1 = std::make_unique<Client>(**first);
  const WorkloadResult w = RunWorkload(*c1, 1000);
  ASSERT_FALSE(HasFailure());
  const Snapshot before = TakeSnapshot(**first, *c1, w, not_events, /*watch=*/false);
  const Snapshot before_all = TakeSnapshot(
      **first, *c1, w, [](const std::string&) { return true; }, /*watch=*/false);
  ASSERT_FALSE(HasFailure());
  EXPECT_GT(before_all.kvs.size(), before.kvs.size() + 50) << "too few event keys to tell";
  c1.reset();  // closes its connection, which would hold up the shutdown
  EXPECT_TRUE(ExitedCleanly((*first)->Terminate())) << (*first)->log();

  auto second = ServerProcess::StartRametcdOn(data, flags);
  ASSERT_TRUE(second.ok()) << second.status();
  std::printf("%s\n", RecoveredLine(**second).c_str());
  auto c2 = std::make_unique<Client>(**second);
  etcdserverpb::RangeRequest events;
  events.set_key("/registry/events/");
  events.set_range_end("/registry/events0");
  etcdserverpb::RangeResponse events_resp;
  ASSERT_TRUE(c2->Range(events, &events_resp).ok());
  EXPECT_EQ(events_resp.count(), 0);
  const Snapshot after = TakeSnapshot(**second, *c2, w, not_events, /*watch=*/false);
  // The last revisions wrote events only: the revision must not go backwards anyway.
  EXPECT_GE(after.revision, before.revision);
  if (after.revision != before.revision) {
    std::printf("revision %lld before, %lld after\n", static_cast<long long>(before.revision),
                static_cast<long long>(after.revision));
  }
  ExpectSameLines(before.kvs, after.kvs, "keys outside /registry/events/");
  ExpectSameLines(before.past, after.past, "ranges at past revisions, outside /registry/events/");
  ExpectSameLines(before.leases, after.leases, "leases");
  EXPECT_EQ(c2->Put(absl::StrCat(kPods, "after-restart"), "new"), after.revision + 1);
  EXPECT_EQ(c2->Put(absl::StrCat(kEvents, "after-restart"), "new"), after.revision + 2);
  std::printf("took %.2f s\n", SecondsSince(start));
}

// etcd delivers the events of one txn in the order of its operations, and so does rametcd while
// it runs. After a restart the watch history is rebuilt from the retained versions, which do not
// record the order of operations within a txn: the same events come back, in key order (a
// documented difference from etcd, see README).
TEST(DurabilityRestartModeTest, WatchReplaysATxnsEventsAfterRestart) {
  TempDir dir;
  const std::string data = dir.path() + "/data";
  auto first = ServerProcess::StartRametcdOn(data);
  ASSERT_TRUE(first.ok()) << first.status();
  auto c1 = std::make_unique<Client>(**first);
  c1->Put(absl::StrCat(kConfigMaps, "gone"), "x");
  etcdserverpb::TxnRequest txn;
  *txn.add_success() = PutOp("plain/1", "a");
  *txn.add_success() = PutOp(absl::StrCat(kPods, "1"), "b");
  *txn.add_success() = DeleteOp(absl::StrCat(kConfigMaps, "gone"));
  *txn.add_success() = PutOp("plain/2", "c");
  *txn.add_success() = PutOp(absl::StrCat(kEvents, "1"), "d");
  *txn.add_success() = PutOp(absl::StrCat(kPods, "0"), "e");
  const int64_t rev = c1->Txn(txn, true);
  auto replay = [&](const ServerProcess& server) {
    std::vector<std::string> events;
    WatchSession session(server.channel());
    EXPECT_TRUE(session.Send(CreateWatch(kAll, kAll, rev)));
    while (events.size() < 6) {
      auto resp = session.Next();
      if (!resp.has_value() || resp->canceled()) {
        ADD_FAILURE() << "the watch ended after " << events.size() << " events";
        break;
      }
      for (const auto& e : resp->events()) {
        events.push_back(absl::StrCat(e.type(), " ", e.kv().key(), " @", e.kv().mod_revision()));
      }
    }
    return absl::StrJoin(events, "\n");
  };
  const std::string before = replay(**first);
  EXPECT_EQ(before,
            absl::StrJoin(
                {absl::StrCat("0 plain/1 @", rev), absl::StrCat("0 ", kPods, "1 @", rev),
                 absl::StrCat("1 ", kConfigMaps, "gone @", rev), absl::StrCat("0 plain/2 @", rev),
                 absl::StrCat("0 ", kEvents, "1 @", rev), absl::StrCat("0 ", kPods, "0 @", rev)},
                "\n"))
      << "op order while running";
  c1.reset();  // closes its connection, which would hold up the shutdown
  EXPECT_TRUE(ExitedCleanly((*first)->Terminate()));
  auto second = ServerProcess::StartRametcdOn(data);
  ASSERT_TRUE(second.ok()) << second.status();
  std::vector<std::string> sorted = absl::StrSplit(before, '\n');
  std::sort(sorted.begin(), sorted.end(), [](const std::string& a, const std::string& b) {
    return a.substr(2) < b.substr(2);  // by key (after the event type)
  });
  EXPECT_EQ(absl::StrJoin(sorted, "\n"), replay(**second)) << "after a restart: key order";
}

}  // namespace
}  // namespace rametcd::testing
