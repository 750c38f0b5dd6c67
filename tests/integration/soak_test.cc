// Soak: a seeded random workload against the store with its durability layer, in process, the way
// the server runs them (the test thread plays the apply thread): puts with and without leases,
// single and ranged deletes, compare-and-swap txns with nested branches, txns that fail and roll
// back, reads at past revisions, compactions released in steps, lease grants, renewals,
// revocations and expiry on a simulated clock; small WAL segments, so rotations and checkpoints
// happen all the time. Along the way:
//   - the revision never goes back, and every write answers with the store's new revision;
//   - Store::CheckInvariants (hash map vs index, block counts, versions, counters, the history
//     ring against the versions) holds, and the Lessor and the Store agree on leases and their
//     keys;
//   - several times the WAL is stopped and a new store is recovered from the data dir, as the
//     server does on start: every key with all its readable versions (create/mod revision,
//     version, value, lease), the revision, the compaction point, HashKV at the current and at
//     past revisions, the leases with their TTLs and keys must be what they were.
// RAMETCD_SOAK_SECONDS sets the length (default 45); RAMETCD_SOAK_SEED replays a run (the seed is
// printed first).
#include <stdlib.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "base/logging.h"
#include "gtest/gtest.h"
#include "lease/lessor.h"
#include "mvcc/store.h"
#include "server/request_checks.h"
#include "wal/io_backend.h"
#include "wal/layout.h"
#include "wal/recovery.h"
#include "wal/wal.h"

namespace rametcd {
namespace {

constexpr mvcc::HistoryRing::Options kHistory{.max_events = 20000, .max_bytes = 8 << 20};

int64_t EnvOr(const char* name, int64_t fallback) {
  const char* value = ::getenv(name);
  return value != nullptr && *value != '\0' ? std::stoll(value) : fallback;
}

// Everything a client could observe, in a comparable form.
struct Snapshot {
  int64_t revision = 0;
  int64_t compacted = 0;
  uint32_t hash = 0;
  std::map<int64_t, uint32_t> past_hashes;  // HashKV at some earlier revisions
  std::vector<std::string> versions;        // "key@mod create version lease value", key order
  std::map<int64_t, std::pair<int64_t, std::vector<std::string>>> leases;  // TTL, keys

  bool operator==(const Snapshot&) const = default;
};

// The store, its lessor and its WAL, opened on a data dir.
class Engine {
 public:
  explicit Engine(const std::string& data_dir) : data_dir_(data_dir) {}
  ~Engine() { Close(); }

  // Recovers from the data dir, as the server does on start, and attaches a new WAL.
  void Open(absl::Time now) {
    store_ = std::make_unique<mvcc::Store>(kHistory);
    lessor_ = std::make_unique<lease::Lessor>(lease::Lessor::Options{}, store_.get());
    const std::string wal_dir = wal::WalDir(data_dir_);
    auto recovered = wal::Recover({wal_dir, false}, store_.get(), lessor_.get(), now);
    ASSERT_TRUE(recovered.ok()) << recovered.status();
    EXPECT_EQ(recovered->torn_tails, 0u);
    EXPECT_TRUE(recovered->incomplete_batches.empty());
    EXPECT_EQ(recovered->orphan_lease_keys, 0u);
    wal::Wal::Options options;
    options.dir = wal_dir;
    ASSERT_TRUE(options.modes.AddPrefix("/registry/leases/=fsync").ok());
    options.segment_bytes = 256 << 10;  // rotate and checkpoint often
    options.checkpoint_after_compaction_bytes = 64 << 10;
    auto backend = wal::MakeIoBackend(wal::IoKind::kAuto);
    ASSERT_TRUE(backend.ok()) << backend.status();
    auto started = wal::Wal::Start(std::move(options), *std::move(backend), *recovered);
    ASSERT_TRUE(started.ok()) << started.status();
    wal_ = *std::move(started);
    store_->set_change_log(wal_.get());
  }
  void Close() {
    if (wal_ == nullptr) return;
    wal_->Stop();
    store_->set_change_log(nullptr);
    wal_.reset();
  }

  mvcc::Store& store() { return *store_; }
  lease::Lessor& lessor() { return *lessor_; }
  wal::Wal& wal() { return *wal_; }

 private:
  const std::string data_dir_;
  std::unique_ptr<mvcc::Store> store_;
  std::unique_ptr<lease::Lessor> lessor_;
  std::unique_ptr<wal::Wal> wal_;
};

// What a read can see: below the compaction point only each key's newest version, unless it is a
// tombstone (what Store::HashAt covers), whatever physical compaction has released so far.
Snapshot Capture(Engine& engine, const std::vector<int64_t>& past) {
  mvcc::Store& store = engine.store();
  Snapshot s;
  s.revision = store.revision();
  s.compacted = store.compacted_revision();
  s.hash = *store.HashAt(0);
  for (int64_t rev : past) {
    if (rev > s.compacted && rev <= s.revision) s.past_hashes[rev] = *store.HashAt(rev);
  }
  store.ForEachKey([&](std::string_view key, const mvcc::KeyEntry& entry) {
    const auto& vs = entry.versions;
    for (size_t i = 0; i < vs.size(); ++i) {
      const mvcc::KeyVersion& v = vs[i];
      const bool superseded = i + 1 < vs.size() && vs[i + 1].mod_revision <= s.compacted;
      if (v.mod_revision <= s.compacted && (superseded || v.IsTombstone())) continue;
      s.versions.push_back(absl::StrCat(std::string(key), "@", v.mod_revision, " ",
                                        v.create_revision, " ", v.version, " ", v.lease, " ",
                                        std::string(v.value.view())));
    }
  });
  for (int64_t id : engine.lessor().Leases()) {
    s.leases[id] = {engine.lessor().Remaining(id, absl::InfinitePast()).granted,
                    store.LeaseKeys(id)};
  }
  return s;
}

// The Lessor's leases are the Store's, and each lease's keys are exactly the live keys naming it.
void ExpectLeasesAgree(Engine& engine) {
  std::map<int64_t, std::vector<std::string>> named;
  engine.store().ForEachKey([&](std::string_view key, const mvcc::KeyEntry& entry) {
    const mvcc::KeyVersion* live = entry.Live();
    if (live != nullptr && live->lease != 0) named[live->lease].emplace_back(key);
  });
  const std::vector<int64_t> leases = engine.lessor().Leases();
  for (int64_t id : leases) {
    ASSERT_TRUE(engine.store().LeaseExists(id)) << id;
    ASSERT_EQ(engine.store().LeaseKeys(id), named[id]) << "lease " << id;
    named.erase(id);
  }
  ASSERT_TRUE(named.empty()) << "keys name lease " << named.begin()->first << ", which is gone";
}

class Workload {
 public:
  Workload(uint64_t seed, Engine& engine) : rng_(seed), engine_(engine) {}

  // One random operation; fails the test on an unexpected answer.
  void Step() {
    mvcc::Store& store = engine_.store();
    const int64_t before = store.revision();
    int64_t answered = 0;  // the revision a write answered with
    const int dice = Pick(100);
    if (dice < 40) {
      etcdserverpb::PutRequest put = NewPut(Key());
      etcdserverpb::PutResponse resp;
      ASSERT_TRUE(store.Put(put, &resp).ok());
      answered = resp.header().revision();
    } else if (dice < 50) {
      etcdserverpb::DeleteRangeRequest del;
      del.set_key(Key());
      if (Pick(4) == 0) del.set_range_end(del.key() + "\xff");
      etcdserverpb::DeleteRangeResponse resp;
      ASSERT_TRUE(store.DeleteRange(del, &resp).ok());
      answered = resp.header().revision();
    } else if (dice < 68) {
      etcdserverpb::TxnRequest txn = NewTxn();
      absl::Status valid = server::CheckTxnRequest(txn, 128);
      ASSERT_TRUE(valid.ok()) << valid << ": " << txn.ShortDebugString();
      etcdserverpb::TxnResponse resp;
      // Fails (and rolls back) when a put with ignore_value meets a key deleted before it.
      if (store.Txn(txn, &resp).ok()) answered = resp.header().revision();
    } else if (dice < 78) {
      etcdserverpb::RangeRequest range;
      range.set_key(Key());
      range.set_range_end(Pick(2) == 0 ? range.key() + "\xff" : "");
      const int64_t oldest = std::max<int64_t>(store.compacted_revision(), 1);
      range.set_revision(oldest + Pick(static_cast<int>(store.revision() - oldest + 1)));
      etcdserverpb::RangeResponse resp;
      absl::Status s = store.Range(range, &resp);
      ASSERT_TRUE(s.ok()) << s << " at " << range.revision();
      ASSERT_EQ(resp.header().revision(), store.revision());
    } else if (dice < 86) {
      LeaseOp();
    } else if (dice < 88) {
      // Now and then, compact somewhere in the last few thousand revisions.
      const int64_t target = store.revision() - Pick(5000);
      if (Pick(8) == 0 && target > store.compacted_revision()) {
        ASSERT_TRUE(store.Compact(target).ok());
      }
    } else {
      now_ += absl::Milliseconds(200);
    }
    ASSERT_GE(store.revision(), before) << "the revision went back";
    if (answered != 0) {
      ASSERT_EQ(answered, store.revision());
    }
    if (store.revision() != before) ++writes_;
    now_ += absl::Milliseconds(5);
    // What the apply loop does between request batches (lease expiry makes revisions too).
    if (engine_.lessor().ExpireDue(now_, 1000) > 0) {
      std::erase_if(leases_, [&](int64_t id) { return !store.LeaseExists(id); });
    }
    store.CompactSome(500);
  }

  absl::Time now() const { return now_; }
  int64_t writes() const { return writes_; }

 private:
  int Pick(int n) { return static_cast<int>(rng_() % static_cast<uint64_t>(n)); }

  // 2,000 keys over several prefix blocks and none.
  std::string Key() {
    static const char* const kPrefixes[] = {"/registry/pods/ns1/",
                                            "/registry/pods/ns2/",
                                            "/registry/apps/deployments/ns1/",
                                            "/registry/leases/kube-node-lease/",
                                            "/config/",
                                            "z"};
    return absl::StrCat(kPrefixes[Pick(6)], "k", Pick(333));
  }

  etcdserverpb::PutRequest NewPut(const std::string& key) {
    etcdserverpb::PutRequest put;
    put.set_key(key);
    const int size = Pick(20) == 0 ? 4096 + Pick(8192) : Pick(200);
    put.set_value(std::string(size, static_cast<char>('a' + Pick(26))));
    if (!leases_.empty() && Pick(5) == 0) put.set_lease(leases_[Pick(leases_.size())]);
    return put;
  }

  // Compare-and-swap on a key's mod revision (right half the time), then puts and deletes, at
  // times in sibling nested txns, at times a put with ignore_value that can fail.
  etcdserverpb::TxnRequest NewTxn() {
    mvcc::Store& store = engine_.store();
    etcdserverpb::TxnRequest txn;
    const std::string key = Key();
    etcdserverpb::RangeRequest get;
    get.set_key(key);
    etcdserverpb::RangeResponse current;
    EXPECT_TRUE(store.Range(get, &current).ok());
    auto* cmp = txn.add_compare();
    cmp->set_key(key);
    cmp->set_target(etcdserverpb::Compare::MOD);
    cmp->set_result(etcdserverpb::Compare::EQUAL);
    const int64_t mod = current.kvs_size() > 0 ? current.kvs(0).mod_revision() : 0;
    cmp->set_mod_revision(Pick(2) == 0 ? mod : mod + 1);
    *txn.add_success()->mutable_request_put() = NewPut(key);
    std::set<std::string> used = {key};
    for (int i = Pick(4); i > 0; --i) {
      const std::string other = Key();
      if (!used.insert(other).second) continue;
      if (Pick(3) == 0) {
        // put in one nested txn, delete in the next: two versions at one revision
        *txn.add_success()->mutable_request_txn()->add_success()->mutable_request_put() =
            NewPut(other);
        txn.add_success()
            ->mutable_request_txn()
            ->add_success()
            ->mutable_request_delete_range()
            ->set_key(other);
      } else if (Pick(2) == 0) {
        etcdserverpb::PutRequest put = NewPut(other);
        put.set_ignore_value(Pick(2) == 0);
        if (put.ignore_value()) put.clear_value();
        *txn.add_success()->mutable_request_put() = std::move(put);
      } else {
        txn.add_success()->mutable_request_delete_range()->set_key(other);
      }
    }
    txn.add_failure()->mutable_request_range()->set_key(key);
    if (Pick(2) == 0) txn.add_failure()->mutable_request_delete_range()->set_key(Key());
    return txn;
  }

  void LeaseOp() {
    lease::Lessor& lessor = engine_.lessor();
    const int dice = Pick(10);
    if (dice < 4 || leases_.empty()) {
      auto granted = lessor.Grant(0, 2 + Pick(20), now_);
      ASSERT_TRUE(granted.ok()) << granted.status();
      leases_.push_back(granted->id);
    } else if (dice < 8) {
      EXPECT_GT(lessor.KeepAlive(leases_[Pick(leases_.size())], now_), 0);
    } else {
      const size_t i = Pick(leases_.size());
      ASSERT_TRUE(lessor.Revoke(leases_[i]).ok());
      leases_.erase(leases_.begin() + i);
    }
  }

  std::mt19937_64 rng_;
  Engine& engine_;
  absl::Time now_ = absl::FromUnixSeconds(1'700'000'000);
  std::vector<int64_t> leases_;
  int64_t writes_ = 0;
};

TEST(SoakTest, RandomWorkloadKeepsInvariantsAcrossRestarts) {
  const int64_t seconds = EnvOr("RAMETCD_SOAK_SECONDS", 45);
  const uint64_t seed = static_cast<uint64_t>(EnvOr("RAMETCD_SOAK_SEED", std::random_device{}()));
  std::printf("soak: %lld s, seed %llu (RAMETCD_SOAK_SEED=%llu replays it)\n",
              static_cast<long long>(seconds), static_cast<unsigned long long>(seed),
              static_cast<unsigned long long>(seed));
  SetLogLevel(LogLevel::kWarn);  // not a line per checkpoint
  char tmpl[] = "/tmp/rametcd-soak-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  struct Cleanup {
    std::string dir;
    ~Cleanup() { std::filesystem::remove_all(dir); }
  } cleanup{dir};

  Engine engine(dir);
  Workload workload(seed, engine);
  ASSERT_NO_FATAL_FAILURE(engine.Open(workload.now()));
  std::mt19937_64 rng(seed ^ 0x5eed);
  const auto start = std::chrono::steady_clock::now();
  const auto end = start + std::chrono::seconds(seconds);
  // Restarts at least six times, more often in long runs only up to once a minute.
  const auto restart_every = std::chrono::seconds(std::clamp<int64_t>(seconds / 7, 1, 60));
  const auto check_every = std::chrono::seconds(std::clamp<int64_t>(seconds / 30, 1, 10));
  auto next_restart = start + restart_every;
  auto next_check = start + check_every;
  int restarts = 0, checks = 0;
  int64_t steps = 0;
  while (std::chrono::steady_clock::now() < end) {
    for (int i = 0; i < 100; ++i) {
      ASSERT_NO_FATAL_FAILURE(workload.Step()) << "step " << steps << ", seed " << seed;
      ++steps;
    }
    const auto now = std::chrono::steady_clock::now();
    if (now >= next_check) {
      absl::Status status = engine.store().CheckInvariants();
      ASSERT_TRUE(status.ok()) << status << " (step " << steps << ", seed " << seed << ")";
      ASSERT_NO_FATAL_FAILURE(ExpectLeasesAgree(engine)) << "step " << steps << ", seed " << seed;
      ++checks;
      next_check = now + check_every;
    }
    if (now >= next_restart) {
      mvcc::Store& store = engine.store();
      std::vector<int64_t> past;
      for (int i = 0; i < 3; ++i) {
        const int64_t span = store.revision() - std::max<int64_t>(store.compacted_revision(), 0);
        past.push_back(store.revision() - static_cast<int64_t>(rng() % std::max<int64_t>(span, 1)));
      }
      const Snapshot before = Capture(engine, past);
      engine.Close();
      ASSERT_NO_FATAL_FAILURE(engine.Open(workload.now()));
      absl::Status status = engine.store().CheckInvariants();
      ASSERT_TRUE(status.ok()) << status << " after restart " << restarts << ", seed " << seed;
      const Snapshot after = Capture(engine, past);
      ASSERT_EQ(after.revision, before.revision);
      ASSERT_EQ(after.compacted, before.compacted);
      ASSERT_EQ(after.versions.size(), before.versions.size());
      for (size_t i = 0; i < before.versions.size(); ++i) {
        ASSERT_EQ(after.versions[i].substr(0, 200), before.versions[i].substr(0, 200))
            << "restart " << restarts << ", seed " << seed;
      }
      ASSERT_TRUE(after == before)
          << "hashes or leases differ after restart " << restarts << ", seed " << seed;
      ++restarts;
      std::printf(
          "restart %d at step %lld: revision %lld, compacted %lld, %zu keys, %zu versions, "
          "%zu leases, %zu history events, WAL %llu bytes on disk\n",
          restarts, static_cast<long long>(steps), static_cast<long long>(after.revision),
          static_cast<long long>(after.compacted), engine.store().indexed_keys(),
          engine.store().retained_versions(), after.leases.size(),
          engine.store().history().events(),
          static_cast<unsigned long long>(engine.wal().stats().disk_bytes));
      next_restart = std::chrono::steady_clock::now() + restart_every;
    }
  }
  std::printf("soak: %lld steps, %lld writes, %d invariant checks, %d restarts\n",
              static_cast<long long>(steps), static_cast<long long>(workload.writes()), checks,
              restarts);
  EXPECT_GE(restarts, 3);
  EXPECT_GE(checks, 3);
}

}  // namespace
}  // namespace rametcd
