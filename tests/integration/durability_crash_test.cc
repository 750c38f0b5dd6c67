// Durability across crashes: a server on one data dir is killed with SIGKILL in the middle of a
// concurrent write load (puts, deletes and three-prefix txns from several clients), again and
// again, and each restart is checked against a model of what the clients sent and what was
// acknowledged.
//
// Every key is written by one client thread only, so each key's writes form one sequence in which
// only the last may be unacknowledged. After a restart each key must show the state after some
// prefix of its sequence (value, version, create and mod revision all consistent), no key or
// value may appear that nobody sent, a txn visible in one key must be applied in all its keys, and
// the revision never goes backwards. With --wal-default fsync the prefix must include every
// acknowledged write and the revision must reach the newest acknowledged one; with buffered the
// test only measures how many acknowledged writes a kill loses.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "support/server_process.h"

namespace rametcd::testing {
namespace {

constexpr int kWriters = 4;
constexpr int kKeysPerPrefix = 8;
const char* const kPrefixes[] = {"/registry/pods/ns/", "/registry/configmaps/ns/", "/crash/"};
constexpr char kProbeKey[] = "/crash/probe";
const std::string kAll(1, '\0');

std::string StatusString(const grpc::Status& s) {
  return absl::StrCat("status ", s.error_code(), ": ", s.error_message());
}

std::string KeyOf(int prefix, int writer, int index) {
  return absl::StrCat(kPrefixes[prefix], "w", writer, "-k", index);
}

// One write to one key, as its client saw it.
struct Op {
  int64_t id = 0;  // shared by the parts of one txn
  bool put = true;
  std::string value;
  bool acked = false;
  int64_t revision = 0;  // from the response header, when acked
};

// One key: its recovered state at the start of the cycle, and the writes sent since, in order.
struct KeyLog {
  std::optional<mvccpb::KeyValue> baseline;
  std::vector<Op> ops;
};

using Model = std::map<std::string, KeyLog>;

// The state a key has after ops[0..k) applied to its baseline. An unacknowledged put's revision
// is unknown: `recovered` supplies it when it shows that put's value.
std::optional<mvccpb::KeyValue> StateAfter(const std::string& key, const KeyLog& log, size_t k,
                                           const std::optional<mvccpb::KeyValue>& recovered) {
  std::optional<mvccpb::KeyValue> state = log.baseline;
  for (size_t i = 0; i < k; ++i) {
    const Op& op = log.ops[i];
    if (!op.put) {
      state.reset();
      continue;
    }
    int64_t rev = op.revision;
    if (!op.acked) rev = recovered.has_value() ? recovered->mod_revision() : -1;
    mvccpb::KeyValue kv;
    kv.set_key(key);
    kv.set_value(op.value);
    kv.set_mod_revision(rev);
    kv.set_create_revision(state.has_value() ? state->create_revision() : rev);
    kv.set_version(state.has_value() ? state->version() + 1 : 1);
    state = kv;
  }
  return state;
}

bool SameState(const std::optional<mvccpb::KeyValue>& a, const std::optional<mvccpb::KeyValue>& b) {
  if (a.has_value() != b.has_value()) return false;
  return !a.has_value() || a->SerializeAsString() == b->SerializeAsString();
}

std::string StateString(const std::optional<mvccpb::KeyValue>& s) {
  return s.has_value() ? s->ShortDebugString() : "(absent)";
}

struct CycleResult {
  int64_t revision = 0;
  size_t acked = 0;  // distinct acknowledged writes of the cycle
  size_t lost = 0;   // of those, not recovered
};

// Checks the restarted server against the model and makes its state the new baseline.
CycleResult VerifyAndRebaseline(const ServerProcess& server, Model& model,
                                const absl::flat_hash_set<std::string>& sent, bool fsync,
                                int64_t max_acked, int64_t previous_revision) {
  CycleResult result;
  auto kv = server.NewKvStub();
  etcdserverpb::RangeRequest req;
  req.set_key(kAll);
  req.set_range_end(kAll);
  etcdserverpb::RangeResponse resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  grpc::Status s = kv->Range(&ctx, req, &resp);
  EXPECT_TRUE(s.ok()) << StatusString(s);
  result.revision = resp.header().revision();
  EXPECT_GE(result.revision, previous_revision) << "the revision went backwards";
  if (fsync) {
    EXPECT_GE(result.revision, max_acked) << "an acknowledged revision was forgotten";
  }

  std::map<std::string, mvccpb::KeyValue> recovered;
  for (const auto& r : resp.kvs()) {
    if (!model.count(r.key())) {
      ADD_FAILURE() << "invented key: " << r.ShortDebugString();
      continue;
    }
    if (!sent.contains(r.value())) ADD_FAILURE() << "invented value: " << r.ShortDebugString();
    EXPECT_LE(r.mod_revision(), result.revision) << r.ShortDebugString();
    recovered[r.key()] = r;
  }

  // Per key: which prefixes of its writes the recovered state matches.
  std::map<std::string, std::pair<size_t, size_t>> matched;  // key -> (min k, max k)
  std::set<int64_t> acked_ids, lost_ids;
  for (const auto& [key, log] : model) {
    std::optional<mvccpb::KeyValue> got;
    if (auto it = recovered.find(key); it != recovered.end()) got = it->second;
    std::optional<size_t> lo, hi;
    for (size_t k = 0; k <= log.ops.size(); ++k) {
      if (SameState(StateAfter(key, log, k, got), got)) {
        if (!lo) lo = k;
        hi = k;
      }
    }
    size_t last_acked = 0;  // writes [0, last_acked) include every acknowledged one
    for (size_t i = 0; i < log.ops.size(); ++i) {
      if (log.ops[i].acked) last_acked = i + 1;
      if (log.ops[i].acked) acked_ids.insert(log.ops[i].id);
    }
    if (!hi.has_value()) {
      std::vector<std::string> ops;
      for (const Op& op : log.ops) {
        ops.push_back(absl::StrCat(op.put ? "put " + op.value.substr(0, 24) : "delete",
                                   op.acked ? absl::StrCat(" @", op.revision) : " (unacked)"));
      }
      ADD_FAILURE() << key << " recovered as " << StateString(got)
                    << ", which no prefix of its writes gives; baseline "
                    << StateString(log.baseline) << ", writes:\n  " << absl::StrJoin(ops, "\n  ");
      continue;
    }
    matched[key] = {*lo, *hi};
    if (fsync && last_acked > 0) {
      // The newest acknowledged write, checked directly. Only an unacknowledged write after it
      // may have replaced it.
      const Op& op = log.ops[last_acked - 1];
      const bool replaced = last_acked < log.ops.size() && *hi == log.ops.size();
      if (got.has_value()) {
        EXPECT_GE(got->mod_revision(), op.revision)
            << key << ": the acknowledged write @" << op.revision << " was lost";
        if (got->mod_revision() == op.revision) {
          EXPECT_EQ(got->value(), op.value) << key;
        }
      } else {
        EXPECT_TRUE(!op.put || replaced)
            << key << ": the acknowledged put @" << op.revision << " was lost";
      }
      EXPECT_GE(*hi, last_acked) << key << " lost acknowledged writes: recovered as "
                                 << StateString(got) << ", newest acknowledged write @"
                                 << op.revision;
    }
    for (size_t i = *hi; i < log.ops.size(); ++i) {
      if (log.ops[i].acked) lost_ids.insert(log.ops[i].id);
    }
  }

  // A txn visible in one of its keys is applied in all of them.
  std::map<int64_t, std::vector<std::pair<std::string, size_t>>> txn_parts;  // id -> (key, index)
  for (const auto& [key, log] : model) {
    for (size_t i = 0; i < log.ops.size(); ++i) txn_parts[log.ops[i].id].push_back({key, i});
  }
  for (const auto& [id, parts] : txn_parts) {
    if (parts.size() < 2) continue;
    bool visible = false;
    for (const auto& [key, index] : parts) {
      auto it = matched.find(key);
      if (it != matched.end() && it->second.first > index) visible = true;
    }
    if (!visible) continue;
    for (const auto& [key, index] : parts) {
      auto it = matched.find(key);
      if (it == matched.end()) continue;
      EXPECT_GT(it->second.second, index)
          << "txn " << id << " recovered in part only: missing in " << key;
    }
  }

  result.acked = acked_ids.size();
  result.lost = lost_ids.size();
  for (auto& [key, log] : model) {
    auto it = recovered.find(key);
    log.baseline = it == recovered.end() ? std::nullopt : std::make_optional(it->second);
    log.ops.clear();
  }
  return result;
}

// Shared by the writer threads of one cycle.
struct Load {
  Model* model;
  absl::Mutex mu;
  absl::flat_hash_set<std::string>* sent;  // inserts under mu
  std::atomic<int64_t> next_id{1};
  std::atomic<int64_t> max_acked{0};
  std::atomic<bool> stop{false};
};

// One client: writes only its own keys until told to stop or a call fails (the server died).
void Writer(const std::string& endpoint, int writer, int cycle, uint32_t seed, Load& load) {
  grpc::ChannelArguments args;
  args.SetInt("writer", writer);  // a connection of its own
  auto kv = etcdserverpb::KV::NewStub(
      grpc::CreateCustomChannel(endpoint, grpc::InsecureChannelCredentials(), args));
  {
    grpc::ClientContext ctx;
    ctx.set_wait_for_ready(true);
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    etcdserverpb::RangeRequest req;
    req.set_key("warm-up");
    etcdserverpb::RangeResponse resp;
    if (!kv->Range(&ctx, req, &resp).ok()) return;
  }
  std::mt19937 rng(seed);
  int64_t n = 0;
  auto new_value = [&](const std::string& key) {
    std::string v = absl::StrCat("c", cycle, "-w", writer, "-n", ++n, "-", key, "-");
    v.append(20 + rng() % 200, static_cast<char>('a' + n % 26));
    absl::MutexLock lock(&load.mu);
    load.sent->insert(v);
    return v;
  };
  auto present = [&](const std::string& key) {
    const KeyLog& log = load.model->at(key);
    if (log.ops.empty()) return log.baseline.has_value();
    return log.ops.back().put;
  };
  while (!load.stop.load()) {
    const int dice = rng() % 100;
    const int index = rng() % kKeysPerPrefix;
    const int64_t id = load.next_id.fetch_add(1);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    grpc::Status s;
    int64_t revision = 0;
    std::vector<Op*> ops;
    if (dice < 15) {  // one txn over all three prefixes
      etcdserverpb::TxnRequest req;
      for (int p = 0; p < 3; ++p) {
        const std::string key = KeyOf(p, writer, index);
        Op op{id, true, new_value(key)};
        auto* put = req.add_success()->mutable_request_put();
        put->set_key(key);
        put->set_value(op.value);
        load.model->at(key).ops.push_back(op);
        ops.push_back(&load.model->at(key).ops.back());
      }
      etcdserverpb::TxnResponse resp;
      s = kv->Txn(&ctx, req, &resp);
      revision = resp.header().revision();
      if (s.ok() && !resp.succeeded()) s = grpc::Status(grpc::StatusCode::INTERNAL, "txn failed");
    } else {
      const std::string key = KeyOf(rng() % 3, writer, index);
      if (dice < 30 && present(key)) {
        load.model->at(key).ops.push_back(Op{id, false});
        ops.push_back(&load.model->at(key).ops.back());
        etcdserverpb::DeleteRangeRequest req;
        req.set_key(key);
        etcdserverpb::DeleteRangeResponse resp;
        s = kv->DeleteRange(&ctx, req, &resp);
        revision = resp.header().revision();
        if (s.ok() && resp.deleted() != 1) {
          ADD_FAILURE() << "delete of " << key << " deleted " << resp.deleted();
        }
      } else {
        Op op{id, true, new_value(key)};
        load.model->at(key).ops.push_back(op);
        ops.push_back(&load.model->at(key).ops.back());
        etcdserverpb::PutRequest req;
        req.set_key(key);
        req.set_value(op.value);
        etcdserverpb::PutResponse resp;
        s = kv->Put(&ctx, req, &resp);
        revision = resp.header().revision();
      }
    }
    if (!s.ok()) return;  // the server is gone; this write stays unacknowledged
    for (Op* op : ops) {
      op->acked = true;
      op->revision = revision;
    }
    int64_t prev = load.max_acked.load();
    while (prev < revision && !load.max_acked.compare_exchange_weak(prev, revision)) {
    }
  }
}

std::string RecoveredLine(const ServerProcess& server) {
  const std::string log = server.log();
  const size_t at = log.find("recovered from the data dir");
  if (at == std::string::npos) return "(no recovery line)";
  const size_t begin = log.rfind('\n', at) == std::string::npos ? 0 : log.rfind('\n', at) + 1;
  return log.substr(begin, log.find('\n', at) - begin);
}

// Runs `cycles` kill -9 cycles on one data dir, then a final restart, checking each restart.
void RunCrashCycles(const std::string& mode, int cycles, uint32_t seed) {
  const absl::Time start = absl::Now();
  TempDir dir;
  const std::string data = dir.path() + "/data";
  Model model;
  for (int p = 0; p < 3; ++p) {
    for (int w = 0; w < kWriters; ++w) {
      for (int i = 0; i < kKeysPerPrefix; ++i) model[KeyOf(p, w, i)];
    }
  }
  model[kProbeKey];
  absl::flat_hash_set<std::string> sent;
  const bool fsync = mode == "fsync";
  std::mt19937 rng(seed);
  int64_t max_acked = 0, revision = 1;
  size_t total_acked = 0, total_lost = 0;
  std::string killed_flags;  // of the server the last cycle killed

  for (int cycle = 0; cycle <= cycles; ++cycle) {
    const absl::Time cycle_start = absl::Now();
    std::vector<std::string> flags = {"--wal-default", mode, "--wal-io-backend",
                                      cycle % 2 ? "posix" : "io_uring"};
    if (cycle % 3 != 0) flags.insert(flags.end(), {"--wal-segment-bytes", "16384"});
    auto server = ServerProcess::StartRametcdOn(data, flags);
    ASSERT_TRUE(server.ok()) << "cycle " << cycle << ": " << server.status();
    const CycleResult verified =
        VerifyAndRebaseline(**server, model, sent, fsync, max_acked, revision);
    ASSERT_FALSE(::testing::Test::HasFailure())
        << "cycle " << cycle << " (" << absl::StrJoin(flags, " ") << ")\n"
        << RecoveredLine(**server);
    revision = verified.revision;
    if (cycle > 0) {
      total_acked += verified.acked;
      total_lost += verified.lost;
      if (!fsync) {
        std::printf("buffered kill -9: lost %zu of %zu acknowledged writes (killed: %s)\n",
                    verified.lost, verified.acked, killed_flags.c_str());
      }
    }
    // The restarted server takes writes again, numbered on from the recovered revision.
    {
      auto kv = (*server)->NewKvStub();
      etcdserverpb::PutRequest req;
      req.set_key(kProbeKey);
      req.set_value(absl::StrCat("probe-", cycle));
      sent.insert(req.value());
      etcdserverpb::PutResponse resp;
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
      grpc::Status s = kv->Put(&ctx, req, &resp);
      ASSERT_TRUE(s.ok()) << StatusString(s);
      EXPECT_EQ(resp.header().revision(), revision + 1);
      model[kProbeKey].ops.push_back(Op{0, true, req.value(), true, resp.header().revision()});
      max_acked = std::max(max_acked, resp.header().revision());
    }
    if (cycle == cycles) {
      std::printf("%s cycle %d: final restart verified, revision %lld\n", mode.c_str(), cycle,
                  static_cast<long long>(revision));
      break;
    }

    Load load;
    load.model = &model;
    load.sent = &sent;
    std::vector<std::thread> writers;
    for (int w = 0; w < kWriters; ++w) {
      writers.emplace_back(Writer, (*server)->endpoint(), w, cycle, rng(), std::ref(load));
    }
    const int run_ms = 100 + rng() % 301;
    std::this_thread::sleep_for(std::chrono::milliseconds(run_ms));
    const int killed = (*server)->Kill();
    killed_flags = absl::StrJoin(flags, " ");
    load.stop = true;
    for (auto& t : writers) t.join();
    EXPECT_NE(killed, -1);
    max_acked = std::max(max_acked, load.max_acked.load());
    size_t sent_ops = 0, acked_ops = 0;
    for (const auto& [key, log] : model) {
      for (const Op& op : log.ops) {
        ++sent_ops;
        acked_ops += op.acked;
      }
    }
    std::printf(
        "%s cycle %d (%s): recovered revision %lld; killed after %d ms: %zu key writes sent, "
        "%zu acknowledged, newest acknowledged revision %lld; cycle took %.0f ms\n",
        mode.c_str(), cycle, absl::StrJoin(flags, " ").c_str(), static_cast<long long>(revision),
        run_ms, sent_ops, acked_ops, static_cast<long long>(load.max_acked.load()),
        absl::ToDoubleMilliseconds(absl::Now() - cycle_start));
  }
  std::printf("%s: %d kills, %zu acknowledged writes, %zu lost, %.2f s\n", mode.c_str(), cycles,
              total_acked, total_lost, absl::ToDoubleSeconds(absl::Now() - start));
  EXPECT_GT(total_acked, static_cast<size_t>(cycles)) << "the load hardly wrote anything";
  if (fsync) {
    EXPECT_EQ(total_lost, 0u);
  }
}

TEST(DurabilityCrashTest, FsyncLosesNoAcknowledgedWriteOnKill) {
  RunCrashCycles("fsync", 20, 1234);
}

TEST(DurabilityCrashTest, BufferedLossOnKillIsMeasuredAndConsistent) {
  RunCrashCycles("buffered", 8, 5678);
}

}  // namespace
}  // namespace rametcd::testing
