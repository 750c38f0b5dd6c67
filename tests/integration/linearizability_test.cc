// Linearizability of the real server: concurrent clients run random puts, deletes, txns (compares
// on values they read, nested txns, writes in either branch) and ranges (current and at old
// revisions) over a small key space, so that they conflict, while watches of all keys, a prefix and
// a single key record every response. The whole history then goes through the checker of
// support/linearizability.h. The second test runs with --wal-default fsync and kill -9's the server
// several times in the middle of the load; each restart continues on the same data dir and the
// watches reconnect from their last revision + 1, and the history across all restarts must check.
//
// RAMETCD_LIN_OPS (default 24000) sets the operations of the first test; the kill test scales its
// restarts and final load with it.
#include "support/linearizability.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "support/server_process.h"
#include "support/watch_session.h"

namespace rametcd::testing {
namespace {

constexpr int kClients = 8;
constexpr int kDefaultOps = 24000;
const std::string kNul(1, '\0');
// Two Kubernetes resource prefixes (two WAL streams) and keys outside /registry (a third).
const std::vector<std::string> kMixedKeys = {"/registry/pods/ns/a",
                                             "/registry/pods/ns/b",
                                             "/registry/pods/ns/c",
                                             "/registry/configmaps/ns/a",
                                             "/registry/configmaps/ns/b",
                                             "/lin/x",
                                             "/lin/y",
                                             "/lin/z"};
// Keys of one WAL stream (see FsyncAcrossKill9Restarts).
const std::vector<std::string> kOneStreamKeys = {
    "/registry/pods/ns/a", "/registry/pods/ns/b", "/registry/pods/ns/c", "/registry/pods/ns/d",
    "/registry/pods/ns/e", "/registry/pods/ns/f", "/registry/pods/ns/g", "/registry/pods/ns/h"};

int OpsFromEnv() {
  const char* env = std::getenv("RAMETCD_LIN_OPS");
  const int ops = env != nullptr ? std::atoi(env) : 0;
  return ops > 0 ? ops : kDefaultOps;
}

// One client's random requests. Compares use what the client last read of a key, so that txns
// both succeed and fail; every put value is unique ("c<client>-<n>"), across restarts too.
class RequestGenerator {
 public:
  RequestGenerator(const std::vector<std::string>& keys, int client, uint32_t seed)
      : keys_(keys), client_(client), rng_(seed) {}

  etcdserverpb::RequestOp Next(int64_t newest_revision) {
    etcdserverpb::RequestOp op;
    const int dice = static_cast<int>(rng_() % 100);
    if (dice < 25) {
      auto* put = op.mutable_request_put();
      put->set_key(Key());
      put->set_value(Value());
      put->set_prev_kv(rng_() % 4 == 0);
    } else if (dice < 35) {
      auto* del = op.mutable_request_delete_range();
      del->set_key(Key());
      del->set_prev_kv(rng_() % 3 == 0);
    } else if (dice < 38) {
      auto* del = op.mutable_request_delete_range();
      del->set_key(rng_() % 2 ? "/lin/" : "/registry/pods/ns/a");
      del->set_range_end(del->key() == "/lin/" ? "/lin0" : "/registry/pods/ns/c");
      del->set_prev_kv(rng_() % 2 == 0);
    } else if (dice < 60) {
      *op.mutable_request_txn() = Txn();
    } else {
      *op.mutable_request_range() = Range(dice >= 85 ? newest_revision : 0);
    }
    return op;
  }

  // Remembers the keys a range answered, for later compares.
  void Learn(const KvOperation& op) {
    if (!op.status.ok() || !op.request.has_request_range()) return;
    const etcdserverpb::RangeRequest& req = op.request.request_range();
    if (req.revision() != 0 || req.keys_only() || req.count_only() || req.limit() != 0) return;
    if (req.range_end().empty() && op.response.response_range().kvs_size() == 0) {
      seen_.erase(req.key());
    }
    for (const mvccpb::KeyValue& kv : op.response.response_range().kvs()) seen_[kv.key()] = kv;
  }

 private:
  std::string Key() { return keys_[rng_() % keys_.size()]; }
  std::string Value() { return absl::StrCat("c", client_, "-", ++values_); }

  etcdserverpb::Compare RandomCompare() {
    etcdserverpb::Compare c;
    if (rng_() % 8 == 0) {  // every pod exists
      c.set_key("/registry/pods/ns/");
      c.set_range_end("/registry/pods/ns0");
      c.set_target(etcdserverpb::Compare::VERSION);
      c.set_result(etcdserverpb::Compare::GREATER);
      c.set_version(0);
      return c;
    }
    c.set_key(Key());
    auto it = seen_.find(c.key());
    const mvccpb::KeyValue kv = it != seen_.end() ? it->second : mvccpb::KeyValue();
    switch (rng_() % 4) {
      case 0:
        c.set_target(etcdserverpb::Compare::MOD);
        c.set_mod_revision(kv.mod_revision());
        break;
      case 1:
        c.set_target(etcdserverpb::Compare::VERSION);
        c.set_version(kv.version() + static_cast<int64_t>(rng_() % 2));
        break;
      case 2:
        c.set_target(etcdserverpb::Compare::VALUE);
        c.set_value(kv.value());
        break;
      default:
        c.set_target(etcdserverpb::Compare::CREATE);
        c.set_create_revision(kv.create_revision());
        break;
    }
    c.set_result(rng_() % 10 < 7 ? etcdserverpb::Compare::EQUAL
                                 : static_cast<etcdserverpb::Compare::CompareResult>(rng_() % 4));
    return c;
  }

  // Writes touch distinct keys (etcd refuses a txn that writes a key twice).
  etcdserverpb::TxnRequest Txn() {
    std::vector<std::string> keys = keys_;
    std::shuffle(keys.begin(), keys.end(), rng_);
    size_t next = 0;
    auto put = [&](etcdserverpb::RequestOp* op) {
      op->mutable_request_put()->set_key(keys[next++]);
      op->mutable_request_put()->set_value(Value());
      op->mutable_request_put()->set_prev_kv(rng_() % 3 == 0);
    };
    auto range = [&](etcdserverpb::RequestOp* op) { op->mutable_request_range()->set_key(Key()); };
    etcdserverpb::TxnRequest txn;
    const int compares = 1 + static_cast<int>(rng_() % 2);
    for (int i = 0; i < compares; ++i) *txn.add_compare() = RandomCompare();
    if (rng_() % 2) range(txn.add_success());
    put(txn.add_success());
    if (rng_() % 3 == 0) {
      auto* del = txn.add_success()->mutable_request_delete_range();
      del->set_key(keys[next++]);
      del->set_prev_kv(rng_() % 2 == 0);
    }
    if (rng_() % 2) range(txn.add_success());  // sees the txn's own writes
    if (rng_() % 6 == 0) {
      auto* nested = txn.add_success()->mutable_request_txn();
      *nested->add_compare() = RandomCompare();
      put(nested->add_success());
      range(nested->add_failure());
    }
    range(txn.add_failure());
    if (rng_() % 3 == 0) put(txn.add_failure());
    return txn;
  }

  etcdserverpb::RangeRequest Range(int64_t newest_revision) {
    etcdserverpb::RangeRequest r;
    switch (rng_() % 4) {
      case 0:
      case 1:
        r.set_key(Key());
        break;
      case 2:
        r.set_key("/registry/");
        r.set_range_end("/registry0");
        break;
      default:
        r.set_key(kNul);
        r.set_range_end(kNul);
        break;
    }
    if (newest_revision > 0) r.set_revision(1 + static_cast<int64_t>(rng_() % newest_revision));
    if (rng_() % 4 == 0) r.set_limit(1 + static_cast<int64_t>(rng_() % 3));
    if (rng_() % 6 == 0) r.set_keys_only(true);
    if (rng_() % 10 == 0) r.set_count_only(true);
    return r;
  }

  const std::vector<std::string>& keys_;
  const int client_;
  std::mt19937 rng_;
  int64_t values_ = 0;
  std::map<std::string, mvccpb::KeyValue> seen_;
};

// One watch on its own stream, recording every response with the time it was taken.
class RecordedWatch {
 public:
  RecordedWatch(const std::shared_ptr<grpc::Channel>& channel, int client,
                const etcdserverpb::WatchCreateRequest& create)
      : session_(channel) {
    record_.client = client;
    record_.create = create;
    record_.start = LinClock::now();
    etcdserverpb::WatchRequest req;
    *req.mutable_create_request() = create;
    session_.Send(req);
    reader_ = std::thread([this] {
      while (!stop_.load()) {
        std::optional<etcdserverpb::WatchResponse> r = session_.Next(absl::Milliseconds(20));
        if (!r.has_value()) continue;
        absl::MutexLock lock(&mu_);
        record_.received.push_back({LinClock::now(), std::move(*r)});
      }
    });
  }
  ~RecordedWatch() { Stop(); }

  // Asks for progress until a notification at `revision` or later arrives: then every event up
  // to it was delivered.
  bool CatchUp(int64_t revision, absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    while (absl::Now() < deadline) {
      session_.Send(ProgressRequest());
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      absl::MutexLock lock(&mu_);
      for (const WatchRecord::Received& r : record_.received) {
        const etcdserverpb::WatchResponse& resp = r.response;
        if (resp.events_size() == 0 && !resp.created() && !resp.canceled() &&
            resp.header().revision() >= revision) {
          return true;
        }
      }
    }
    return false;
  }

  // The start revision that resumes this watch without a gap or a duplicate.
  int64_t NextStart() {
    absl::MutexLock lock(&mu_);
    int64_t next = record_.create.start_revision();
    for (const WatchRecord::Received& r : record_.received) {
      const etcdserverpb::WatchResponse& resp = r.response;
      if (resp.created() && next == 0) next = resp.header().revision() + 1;
      if (!resp.created() && !resp.canceled() && resp.events_size() == 0) {
        next = std::max(next, resp.header().revision() + 1);
      }
      for (const mvccpb::Event& e : resp.events()) next = std::max(next, e.kv().mod_revision() + 1);
    }
    return next;
  }

  WatchRecord Finish() {
    Stop();
    absl::MutexLock lock(&mu_);
    return std::move(record_);
  }

 private:
  void Stop() {
    stop_ = true;
    if (reader_.joinable()) reader_.join();
  }

  WatchSession session_;
  absl::Mutex mu_;
  WatchRecord record_ ABSL_GUARDED_BY(mu_);
  std::atomic<bool> stop_{false};
  std::thread reader_;
};

// What recovery said: its summary and any transaction it dropped.
std::string RecoveryLines(const std::string& log) {
  std::string out;
  for (absl::string_view line : absl::StrSplit(log, '\n')) {
    if (absl::StrContains(line, "recovered from the data dir") ||
        absl::StrContains(line, "dropping")) {
      absl::StrAppend(&out, line, "\n");
    }
  }
  return out;
}

struct LoadOptions {
  const std::vector<std::string>* keys = &kMixedKeys;
  bool fsync = false;
  int kills = 0;      // restarts in the middle of the load
  int final_ops = 0;  // per client, after the last restart
  uint32_t seed = 1;
};

struct LoadResult {
  History history;
  size_t failed = 0;  // requests that did not succeed
  int kills = 0;
  double load_seconds = 0;
};

// Runs the clients and watches against one data dir, with `options.kills` kill -9 restarts.
LoadResult RunLoad(const LoadOptions& options) {
  LoadResult result;
  TempDir dir;
  const std::string data = dir.path() + "/data";
  const std::vector<std::string> flags = options.fsync
                                             ? std::vector<std::string>{"--wal-default", "fsync"}
                                             : std::vector<std::string>{};
  std::vector<etcdserverpb::WatchCreateRequest> watches(3);
  watches[0].set_key(kNul);  // everything, from the first revision, with prev_kv
  watches[0].set_range_end(kNul);
  watches[0].set_start_revision(1);
  watches[0].set_prev_kv(true);
  watches[1].set_key("/registry/pods/");  // a prefix, from now on
  watches[1].set_range_end("/registry/pods0");
  watches[2].set_key(options.keys->at(5));  // one key, with prev_kv
  watches[2].set_prev_kv(true);
  std::vector<RequestGenerator> generators;
  std::mt19937 rng(options.seed);
  for (int c = 0; c < kClients; ++c) generators.emplace_back(*options.keys, c, rng());
  std::atomic<int64_t> newest{1};
  const auto started = std::chrono::steady_clock::now();

  for (int phase = 0; phase <= options.kills; ++phase) {
    auto server = ServerProcess::StartRametcdOn(data, flags);
    if (!server.ok()) {
      ADD_FAILURE() << "phase " << phase << ": " << server.status();
      return result;
    }
    if (phase > 0) {
      // Where the restarted server came back, before anyone writes.
      std::printf("restart %d: %s", phase, RecoveryLines((*server)->log()).c_str());
      auto kv = (*server)->NewKvStub();
      etcdserverpb::RequestOp probe;
      probe.mutable_request_range()->set_key(kNul);
      probe.mutable_request_range()->set_range_end(kNul);
      probe.mutable_request_range()->set_count_only(true);
      KvOperation op = RunKvOperation(*kv, -1, probe, absl::Seconds(30));
      EXPECT_TRUE(op.status.ok()) << op.status;
      result.history.crashes.back().recovered_revision =
          op.response.response_range().header().revision();
      result.history.operations.push_back(std::move(op));
    }
    std::vector<std::unique_ptr<RecordedWatch>> watchers;
    for (size_t w = 0; w < watches.size(); ++w) {
      watchers.push_back(std::make_unique<RecordedWatch>((*server)->channel(),
                                                         100 + static_cast<int>(w), watches[w]));
    }
    const bool killed_phase = phase < options.kills;
    std::atomic<bool> stop{false};
    std::vector<std::vector<KvOperation>> recorded(kClients);
    std::vector<std::thread> clients;
    for (int c = 0; c < kClients; ++c) {
      clients.emplace_back([&, c] {
        grpc::ChannelArguments args;
        args.SetInt("client-index", c);  // a connection of its own
        auto kv = etcdserverpb::KV::NewStub(grpc::CreateCustomChannel(
            (*server)->endpoint(), grpc::InsecureChannelCredentials(), args));
        for (int i = 0; !stop.load() && (killed_phase || i < options.final_ops); ++i) {
          KvOperation op =
              RunKvOperation(*kv, c, generators[c].Next(newest.load()), absl::Seconds(10));
          const bool ok = op.status.ok();
          if (ok) {
            int64_t seen = newest.load();
            const int64_t rev = op.request.has_request_range()
                                    ? op.response.response_range().header().revision()
                                    : 0;
            while (rev > seen && !newest.compare_exchange_weak(seen, rev)) {
            }
          }
          generators[c].Learn(op);
          recorded[c].push_back(std::move(op));
          if (!ok) break;  // the server is gone (or failing: the checker will say)
        }
      });
    }
    if (killed_phase) {
      std::this_thread::sleep_for(std::chrono::milliseconds(300 + rng() % 500));
      EXPECT_NE((*server)->Kill(), -1);
      result.history.crashes.push_back({LinClock::now(), 0});
      ++result.kills;
      stop = true;
    }
    for (auto& t : clients) t.join();
    if (!killed_phase) {
      // The final state, then every watch caught up to it.
      auto kv = (*server)->NewKvStub();
      etcdserverpb::RequestOp all;
      all.mutable_request_range()->set_key(kNul);
      all.mutable_request_range()->set_range_end(kNul);
      KvOperation final_read = RunKvOperation(*kv, -1, all, absl::Seconds(30));
      EXPECT_TRUE(final_read.status.ok()) << final_read.status;
      const int64_t final_rev = final_read.response.response_range().header().revision();
      result.history.operations.push_back(std::move(final_read));
      for (auto& w : watchers) {
        EXPECT_TRUE(w->CatchUp(final_rev, absl::Seconds(20)))
            << "a watch did not catch up to revision " << final_rev;
      }
    }
    for (size_t w = 0; w < watchers.size(); ++w) {
      const int64_t next = watchers[w]->NextStart();
      if (next > 0) watches[w].set_start_revision(next);
      result.history.watches.push_back(watchers[w]->Finish());
    }
    size_t phase_ops = 0, phase_failed = 0;
    for (auto& ops : recorded) {
      for (KvOperation& op : ops) {
        ++phase_ops;
        if (!op.status.ok()) ++phase_failed;
        result.history.operations.push_back(std::move(op));
      }
    }
    result.failed += phase_failed;
    std::printf("phase %d: %zu operations (%zu failed)%s, newest revision %lld\n", phase, phase_ops,
                phase_failed, killed_phase ? ", then kill -9" : "",
                static_cast<long long>(newest.load()));
  }
  result.load_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return result;
}

void Check(const LoadResult& load) {
  const auto started = std::chrono::steady_clock::now();
  const LinearizabilityReport report = CheckHistory(load.history);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::printf("%zu operations, %zu watch streams, %d kills: load %.2f s, check %.2f s\n%s\n",
              load.history.operations.size(), load.history.watches.size(), load.kills,
              load.load_seconds, seconds, report.Summary().c_str());
  for (const std::string& v : report.violations) ADD_FAILURE() << v;
  EXPECT_EQ(report.violations_not_shown, 0u);
  EXPECT_GT(report.watch_events_checked, 0u);
}

TEST(LinearizabilityTest, ConcurrentClientsAndWatches) {
  const int ops = OpsFromEnv();
  LoadOptions options;
  options.final_ops = (ops + kClients - 1) / kClients;
  options.seed = 20240601;
  const LoadResult load = RunLoad(options);
  EXPECT_EQ(load.failed, 0u) << "requests failed without a restart";
  Check(load);
}

LoadOptions KillOptions(const std::vector<std::string>* keys) {
  const int scale = std::max(1, OpsFromEnv() / kDefaultOps);
  LoadOptions options;
  options.keys = keys;
  options.fsync = true;
  options.kills = 6 * scale;
  options.final_ops = 200 * scale;
  options.seed = 777;
  return options;
}

// The keys live in one WAL stream: a kill -9 leaves each stream a prefix of its writes.
TEST(LinearizabilityTest, FsyncAcrossKill9Restarts) {
  Check(RunLoad(KillOptions(&kOneStreamKeys)));
}

// Keys in several WAL streams: a kill -9 in the middle of a WAL batch can leave one stream's part
// of it on disk and not another's. Recovery drops such a batch whole (wal/batches.h); before it
// did, it kept a later unacknowledged write and lost an earlier one (revisions left empty, and a
// kept txn that depended on a lost write showed a state that never existed).
TEST(LinearizabilityTest, FsyncAcrossKill9RestartsWithSeveralWalStreams) {
  Check(RunLoad(KillOptions(&kMixedKeys)));
}

}  // namespace
}  // namespace rametcd::testing
