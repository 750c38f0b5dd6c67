// Unit tests of the MVCC store: revisions, versions, history reads, compaction (semantics and
// memory release), ranges across prefix blocks, txn internals. Request-level semantics are also
// proven against real etcd by the differential tests.
#include "mvcc/store.h"

#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace rametcd::mvcc {
namespace {

using etcdserverpb::RangeRequest;
using etcdserverpb::RangeResponse;

const std::string kNul("\0", 1);

class StoreTest : public ::testing::Test {
 protected:
  int64_t Put(const std::string& key, const std::string& value) {
    etcdserverpb::PutRequest req;
    req.set_key(key);
    req.set_value(value);
    etcdserverpb::PutResponse resp;
    EXPECT_TRUE(store_.Put(req, &resp).ok());
    return resp.header().revision();
  }
  int64_t Delete(const std::string& key, const std::string& end = "") {
    etcdserverpb::DeleteRangeRequest req;
    req.set_key(key);
    req.set_range_end(end);
    etcdserverpb::DeleteRangeResponse resp;
    EXPECT_TRUE(store_.DeleteRange(req, &resp).ok());
    return resp.deleted();
  }
  RangeResponse Get(const std::string& key, const std::string& end = "", int64_t rev = 0) {
    RangeRequest req;
    req.set_key(key);
    req.set_range_end(end);
    req.set_revision(rev);
    RangeResponse resp;
    absl::Status s = store_.Range(req, &resp);
    EXPECT_TRUE(s.ok()) << s;
    return resp;
  }
  std::vector<std::string> Keys(const RangeResponse& resp) {
    std::vector<std::string> keys;
    for (const auto& kv : resp.kvs()) keys.push_back(kv.key());
    return keys;
  }
  void FinishCompaction() {
    while (!store_.CompactSome(2)) {
    }
  }

  Store store_;
};

TEST_F(StoreTest, RevisionsAndVersions) {
  EXPECT_EQ(store_.revision(), 1);
  EXPECT_EQ(Put("a", "1"), 2);
  EXPECT_EQ(Put("a", "2"), 3);
  EXPECT_EQ(Put("a", "2"), 4);  // identical value: still a new revision
  auto kv = Get("a").kvs(0);
  EXPECT_EQ(kv.create_revision(), 2);
  EXPECT_EQ(kv.mod_revision(), 4);
  EXPECT_EQ(kv.version(), 3);
  EXPECT_EQ(Delete("a"), 1);
  EXPECT_EQ(store_.revision(), 5);
  EXPECT_EQ(Delete("a"), 0);  // nothing deleted: no revision
  EXPECT_EQ(store_.revision(), 5);
  EXPECT_EQ(Put("a", "new"), 6);
  kv = Get("a").kvs(0);
  EXPECT_EQ(kv.create_revision(), 6);
  EXPECT_EQ(kv.version(), 1);
}

TEST_F(StoreTest, ReadsAtOldRevisionsSeeThePast) {
  Put("k", "v1");     // 2
  Put("k", "v2");     // 3
  Delete("k");        // 4
  Put("k", "v3");     // 5
  Put("other", "x");  // 6
  EXPECT_EQ(Get("k", "", 1).kvs_size(), 0);
  EXPECT_EQ(Get("k", "", 2).kvs(0).value(), "v1");
  EXPECT_EQ(Get("k", "", 3).kvs(0).value(), "v2");
  EXPECT_EQ(Get("k", "", 4).kvs_size(), 0);
  EXPECT_EQ(Get("k", "", 5).kvs(0).value(), "v3");
  EXPECT_EQ(Get(kNul, kNul, 3).count(), 1);
  EXPECT_EQ(Get(kNul, kNul, 6).count(), 2);
  // The header carries the current revision, whatever revision was read.
  EXPECT_EQ(Get("k", "", 2).header().revision(), 6);
}

TEST_F(StoreTest, RevisionErrors) {
  Put("k", "v");
  RangeRequest future;
  future.set_key("k");
  future.set_revision(3);
  RangeResponse resp;
  absl::Status s = store_.Range(future, &resp);
  EXPECT_EQ(s.code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(s.message(), "etcdserver: mvcc: required revision is a future revision");
  ASSERT_TRUE(store_.Compact(2).ok());
  RangeRequest old;
  old.set_key("k");
  old.set_revision(1);
  s = store_.Range(old, &resp);
  EXPECT_EQ(s.message(), "etcdserver: mvcc: required revision has been compacted");
  EXPECT_EQ(store_.Compact(2).message(), "etcdserver: mvcc: required revision has been compacted");
  EXPECT_EQ(store_.Compact(3).message(),
            "etcdserver: mvcc: required revision is a future revision");
}

TEST_F(StoreTest, CompactionKeepsTheStateAtTheBoundAndReleasesTheRest) {
  for (int i = 0; i < 10; ++i) Put("k", std::to_string(i));  // revisions 2..11
  Put("gone", "x");                                          // 12
  Delete("gone");                                            // 13
  Put("later", "y");                                         // 14
  EXPECT_EQ(store_.retained_versions(), 13u);
  ASSERT_TRUE(store_.Compact(13).ok());
  // Reads at the bound still see everything as it was.
  EXPECT_EQ(Get("k", "", 13).kvs(0).value(), "9");
  FinishCompaction();
  EXPECT_FALSE(store_.compaction_pending());
  // k keeps its newest version; "gone" (deleted at 13) is dropped entirely; "later" is newer.
  EXPECT_EQ(store_.retained_versions(), 2u);
  EXPECT_EQ(store_.indexed_keys(), 2u);
  EXPECT_EQ(Get("k", "", 13).kvs(0).value(), "9");
  EXPECT_EQ(Get("k", "", 13).kvs(0).version(), 10);
  EXPECT_EQ(Get(kNul, kNul, 13).count(), 1);
  EXPECT_EQ(Get(kNul, kNul).count(), 2);
}

TEST_F(StoreTest, CompactionRunsInBoundedStepsAndANewerOneRestartsIt) {
  for (int i = 0; i < 10; ++i) Put("key" + std::to_string(i), "a");
  for (int i = 0; i < 10; ++i) Put("key" + std::to_string(i), "b");
  ASSERT_TRUE(store_.Compact(12).ok());
  EXPECT_FALSE(store_.CompactSome(3));
  EXPECT_TRUE(store_.compaction_pending());
  ASSERT_TRUE(store_.Compact(store_.revision()).ok());
  FinishCompaction();
  EXPECT_EQ(store_.retained_versions(), 10u);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(Get("key" + std::to_string(i)).kvs(0).value(), "b");
}

TEST_F(StoreTest, RangesAcrossPrefixBlocksAreKeyOrdered) {
  const std::vector<std::string> keys = {"/registry/apps.k8s.io/x/1",
                                         "/registry/health",
                                         "/registry/leases/ns/n1",
                                         "/registry/pods",
                                         "/registry/pods/ns/a",
                                         "/registry/pods/ns/b",
                                         "/registry/podsx",
                                         "a",
                                         "compact_rev_key"};
  for (auto it = keys.rbegin(); it != keys.rend(); ++it) Put(*it, "v");
  EXPECT_EQ(Keys(Get(kNul, kNul)), keys);
  EXPECT_EQ(Keys(Get("/registry/pods", "/registry/podsy")),
            (std::vector<std::string>{"/registry/pods", "/registry/pods/ns/a",
                                      "/registry/pods/ns/b", "/registry/podsx"}));
  RangeRequest limited;
  limited.set_key("/registry/");
  limited.set_range_end("/registry0");
  limited.set_limit(3);
  RangeResponse resp;
  ASSERT_TRUE(store_.Range(limited, &resp).ok());
  EXPECT_EQ(resp.count(), 7);
  EXPECT_TRUE(resp.more());
  EXPECT_EQ(resp.kvs_size(), 3);
}

TEST_F(StoreTest, HeadReadsUsingBlockCountsMatchAWalk) {
  // At the newest revision whole-block ranges take their count from the block and stop walking
  // once the page is full; pinned to the same revision explicitly, every key is walked. Both must
  // give the same answer, also with other keys and a second block around.
  std::mt19937 rng(3);
  for (int i = 0; i < 3000; ++i) {
    const int n = static_cast<int>(rng() % 300);
    std::string key = (n % 3 == 0)   ? "/registry/pods/ns/" + std::to_string(n)
                      : (n % 3 == 1) ? "/registry/leases/ns/" + std::to_string(n)
                                     : "/registry/other" + std::to_string(n);
    if (rng() % 3 == 0) {
      Delete(key);
    } else {
      Put(key, "v");
    }
    if (i % 97 != 0) continue;
    for (const auto& [begin, end] :
         std::vector<std::pair<std::string, std::string>>{{"/registry/pods/", "/registry/pods0"},
                                                          {"/registry/", "/registry0"},
                                                          {"/registry/leases/ns/5", kNul}}) {
      for (int64_t limit : {0, 1, 5, 500}) {
        for (bool count_only : {false, true}) {
          RangeRequest req;
          req.set_key(begin);
          req.set_range_end(end);
          req.set_limit(limit);
          req.set_count_only(count_only);
          RangeResponse at_head, walked;
          ASSERT_TRUE(store_.Range(req, &at_head).ok());
          req.set_revision(store_.revision());
          ASSERT_TRUE(store_.Range(req, &walked).ok());
          ASSERT_EQ(at_head.ShortDebugString(), walked.ShortDebugString())
              << "step " << i << " " << begin << " limit " << limit;
        }
      }
    }
  }
}

TEST_F(StoreTest, PagesOfAPaginatedListMatchUnpagedReadsAtTheirRevision) {
  // Pages after the first take their count from the page before (ContinuationCounts) and walk
  // only their own keys. Each page must equal what the same range at the same revision answers
  // without pagination, while writes, deletes and other lists go on between the pages.
  std::mt19937 rng(5);
  auto key_of = [](int n) {
    return (n % 4 == 0) ? "/registry/leases/ns/" + std::to_string(n)
                        : "/registry/pods/ns" + std::to_string(n % 3) + "/" + std::to_string(n);
  };
  auto churn = [&](int steps) {
    for (int i = 0; i < steps; ++i) {
      const std::string key = key_of(static_cast<int>(rng() % 400));
      if (rng() % 4 == 0) {
        Delete(key);
      } else {
        Put(key, "v" + std::to_string(i));
      }
    }
  };
  churn(1500);
  for (int list = 0; list < 12; ++list) {
    const std::string begin = list % 3 == 0 ? "/registry/" : "/registry/pods/";
    const std::string end = list % 3 == 0 ? "/registry0" : "/registry/pods0";
    const int64_t limit = 1 + static_cast<int64_t>(rng() % 40);
    std::string next = begin;
    int64_t revision = 0;
    int pages = 0;
    while (true) {
      RangeRequest req;
      req.set_key(next);
      req.set_range_end(end);
      req.set_limit(limit);
      req.set_revision(revision);
      req.set_keys_only(pages % 2 == 1);
      RangeResponse page;
      ASSERT_TRUE(store_.Range(req, &page).ok());
      if (revision == 0) revision = page.header().revision();
      // The same range at the same revision, unpaginated (never served from a continuation).
      RangeResponse whole = Get(next, end, revision);
      ASSERT_EQ(page.count(), whole.count()) << "list " << list << " page " << pages;
      ASSERT_EQ(page.more(), whole.kvs_size() > limit);
      for (int i = 0; i < page.kvs_size(); ++i) {
        ASSERT_EQ(page.kvs(i).key(), whole.kvs(i).key());
        ASSERT_EQ(page.kvs(i).mod_revision(), whole.kvs(i).mod_revision());
      }
      ++pages;
      if (!page.more()) break;
      next = page.kvs(page.kvs_size() - 1).key() + kNul;
      churn(static_cast<int>(rng() % 20));
      // Another list's first page in between, as concurrent clients make.
      RangeRequest other;
      other.set_key("/registry/pods/ns1/");
      other.set_range_end("/registry/pods/ns10");
      other.set_limit(3);
      RangeResponse ignored;
      ASSERT_TRUE(store_.Range(other, &ignored).ok());
    }
    EXPECT_GT(pages, 1);
  }
  // A compaction makes the pages' revision unreadable: the next page fails as in etcd.
  RangeRequest req;
  req.set_key("/registry/");
  req.set_range_end("/registry0");
  req.set_limit(2);
  RangeResponse first;
  ASSERT_TRUE(store_.Range(req, &first).ok());
  Put("/registry/pods/ns0/late", "v");
  ASSERT_TRUE(store_.Compact(store_.revision()).ok());
  req.set_key(first.kvs(1).key() + kNul);
  req.set_revision(first.header().revision());
  RangeResponse second;
  EXPECT_EQ(store_.Range(req, &second).message(),
            "etcdserver: mvcc: required revision has been compacted");
}

TEST_F(StoreTest, FailedTxnIsRolledBackWhole) {
  Put("keep", "1");
  Put("victim", "2");
  const int64_t before = store_.revision();
  // Nested txn 1 deletes every key; nested txn 2 then puts "victim" with ignore_lease, which the
  // pre-txn checks allowed. etcd panics on this; rametcd refuses the txn and changes nothing.
  etcdserverpb::TxnRequest txn;
  auto* first = txn.add_success()->mutable_request_txn();
  auto* del = first->add_success()->mutable_request_delete_range();
  del->set_key(kNul);
  del->set_range_end(kNul);
  first->add_success()->mutable_request_put()->set_key("new");
  auto* second = txn.add_success()->mutable_request_txn();
  auto* put = second->add_success()->mutable_request_put();
  put->set_key("victim");
  put->set_ignore_lease(true);
  etcdserverpb::TxnResponse resp;
  absl::Status s = store_.Txn(txn, &resp);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "etcdserver: key not found");
  EXPECT_EQ(store_.revision(), before);
  EXPECT_EQ(Keys(Get(kNul, kNul)), (std::vector<std::string>{"keep", "victim"}));
  EXPECT_EQ(Get("victim").kvs(0).version(), 1);
  EXPECT_EQ(store_.indexed_keys(), 2u);
  EXPECT_EQ(store_.retained_versions(), 2u);
  EXPECT_EQ(Get(kNul, kNul, before).count(), 2);
}

// The store holds each value once: the history's events share the bytes of the versions they
// describe (CheckInvariants verifies this for every event).
TEST_F(StoreTest, EventsShareTheStoredKeyAndValues) {
  Put("k", std::string(4096, 'a'));
  Put("k", std::string(4096, 'b'));
  const KeyEntry* entry = nullptr;
  std::string_view stored_key;
  store_.ForEachKey([&](std::string_view key, const KeyEntry& e) {
    stored_key = key;
    entry = &e;
  });
  ASSERT_NE(entry, nullptr);
  ASSERT_EQ(entry->versions.size(), 2u);
  const Event& event = store_.history().entries().back()->events.at(0);
  EXPECT_EQ(event.key.data(), stored_key.data());
  EXPECT_EQ(event.kv.value.data(), entry->versions[1].value.data());
  ASSERT_TRUE(event.prev.has_value());
  EXPECT_EQ(event.prev->value.data(), entry->versions[0].value.data());
  EXPECT_EQ(Get("k").kvs(0).value(), std::string(4096, 'b'));
  EXPECT_TRUE(store_.CheckInvariants().ok()) << store_.CheckInvariants();
}

TEST_F(StoreTest, HashAtSeesExactlyTheReadableStateAndIgnoresPhysicalCompaction) {
  Put("a", "1");
  Put("b", "1");
  Put("a", "2");
  Delete("b");
  const int64_t head = Put("c", "1");
  const uint32_t before = *store_.HashAt(0);
  EXPECT_EQ(*store_.HashAt(head), before);
  EXPECT_NE(*store_.HashAt(head - 1), before);

  // A second store with the same history hashes the same; one value differs: another hash.
  Store same;
  Store other;
  for (Store* s : {&same, &other}) {
    for (auto [key, value] :
         std::vector<std::pair<std::string, std::string>>{{"a", "1"}, {"b", "1"}, {"a", "2"}}) {
      etcdserverpb::PutRequest req;
      req.set_key(key);
      req.set_value(s == &other && key == "a" && value == "2" ? "X" : value);
      etcdserverpb::PutResponse resp;
      ASSERT_TRUE(s->Put(req, &resp).ok());
    }
    etcdserverpb::DeleteRangeRequest del;
    del.set_key("b");
    etcdserverpb::DeleteRangeResponse del_resp;
    ASSERT_TRUE(s->DeleteRange(del, &del_resp).ok());
    etcdserverpb::PutRequest req;
    req.set_key("c");
    req.set_value("1");
    etcdserverpb::PutResponse resp;
    ASSERT_TRUE(s->Put(req, &resp).ok());
  }
  EXPECT_EQ(*same.HashAt(0), before);
  EXPECT_NE(*other.HashAt(0), before);

  // Compaction changes the hash once (history below it is gone), and releasing the memory
  // afterwards does not change it again.
  ASSERT_TRUE(store_.Compact(head - 1).ok());
  const uint32_t compacted = *store_.HashAt(0);
  EXPECT_NE(compacted, before);
  FinishCompaction();
  EXPECT_EQ(*store_.HashAt(0), compacted);

  EXPECT_EQ(store_.HashAt(head - 1).status().message(),
            "etcdserver: mvcc: required revision has been compacted");
  EXPECT_EQ(store_.HashAt(head + 1).status().message(),
            "etcdserver: mvcc: required revision is a future revision");
}

TEST_F(StoreTest, RetainedBytesFollowPutsRollbacksAndCompaction) {
  EXPECT_EQ(store_.retained_bytes(), 0);
  Put("key", std::string(1000, 'v'));
  const int64_t one = store_.retained_bytes();
  EXPECT_GE(one, 1003);
  EXPECT_EQ(store_.live_bytes(), one);
  const int64_t rev = Put("key", std::string(1000, 'w'));
  EXPECT_EQ(store_.retained_bytes(), 2 * one);
  EXPECT_EQ(store_.live_bytes(), one);
  ASSERT_TRUE(store_.Compact(rev).ok());
  FinishCompaction();
  EXPECT_EQ(store_.retained_bytes(), one);
  Delete("key");
  EXPECT_EQ(store_.live_bytes(), 0);
  ASSERT_TRUE(store_.Compact(store_.revision()).ok());
  FinishCompaction();
  EXPECT_EQ(store_.retained_bytes(), 0);
}

}  // namespace
}  // namespace rametcd::mvcc

namespace rametcd::mvcc {
namespace {

// A history entry's events as a watch with prev_kv gets them.
std::vector<mvccpb::Event> Protos(const RevisionEvents& entry) {
  std::vector<mvccpb::Event> out(entry.events.size());
  for (size_t i = 0; i < out.size(); ++i) entry.events[i].ToProto(/*with_prev=*/true, &out[i]);
  return out;
}

// A replica fed the source's watch events (its history ring) through ApplyReplicated ends up
// with the same state at every revision, the same watch history, and the same lease index.
TEST_F(StoreTest, ApplyReplicatedReproducesTheSourceExactly) {
  ASSERT_TRUE(store_.GrantLease(7, 60).ok());
  ASSERT_TRUE(store_.GrantLease(8, 60).ok());
  Put("a", "1");
  Put("b", "1");
  etcdserverpb::PutRequest leased;
  leased.set_key("l");
  leased.set_value("v");
  leased.set_lease(7);
  etcdserverpb::PutResponse put_resp;
  ASSERT_TRUE(store_.Put(leased, &put_resp).ok());
  leased.set_key("m");
  leased.set_value("w");
  leased.set_lease(8);
  ASSERT_TRUE(store_.Put(leased, &put_resp).ok());
  Put("a", "2");
  Delete("b");
  etcdserverpb::TxnRequest txn;
  auto* put = txn.add_success()->mutable_request_put();
  put->set_key("c");
  put->set_value("1");
  txn.add_success()->mutable_request_delete_range()->set_key("a");
  etcdserverpb::TxnResponse txn_resp;
  ASSERT_TRUE(store_.Txn(txn, &txn_resp).ok());
  Put("b", "again");

  Store replica;
  ASSERT_TRUE(replica.GrantLease(7, 60).ok());  // lease 8 stays unknown to the replica
  size_t orphans = 0;
  for (const auto& entry : store_.history().entries()) {
    std::vector<mvccpb::Event> events = Protos(*entry);
    ASSERT_TRUE(replica.ApplyReplicated(entry->revision, events, &orphans).ok());
  }
  EXPECT_EQ(orphans, 1u);
  EXPECT_EQ(replica.revision(), store_.revision());
  for (int64_t rev = 2; rev <= store_.revision(); ++rev) {
    EXPECT_EQ(*replica.HashAt(rev), *store_.HashAt(rev)) << "at revision " << rev;
  }
  ASSERT_EQ(replica.history().entries().size(), store_.history().entries().size());
  for (size_t i = 0; i < store_.history().entries().size(); ++i) {
    const RevisionEvents& want = *store_.history().entries()[i];
    const RevisionEvents& got = *replica.history().entries()[i];
    EXPECT_EQ(got.revision, want.revision);
    ASSERT_EQ(got.events.size(), want.events.size());
    const std::vector<mvccpb::Event> got_events = Protos(got), want_events = Protos(want);
    for (size_t j = 0; j < want_events.size(); ++j) {
      EXPECT_EQ(got_events[j].SerializeAsString(), want_events[j].SerializeAsString())
          << "revision " << want.revision << " event " << j;
    }
  }
  EXPECT_EQ(replica.LeaseKeys(7), std::vector<std::string>{"l"});
  EXPECT_FALSE(replica.LeaseExists(8));  // the orphan keeps its ID without creating the lease

  // Revisions must go forward and carry something; a refused one changes nothing.
  std::vector<mvccpb::Event> none;
  EXPECT_EQ(replica.ApplyReplicated(replica.revision() + 1, none, &orphans).code(),
            absl::StatusCode::kFailedPrecondition);
  std::vector<mvccpb::Event> stale = Protos(*store_.history().entries().back());
  EXPECT_EQ(replica.ApplyReplicated(replica.revision(), stale, &orphans).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(*replica.HashAt(0), *store_.HashAt(0));
}

// Recovery from a damaged checkpoint whose versions lie past the revision it claims to cover
// (wal_recovery_fuzz): the store's revision still covers them, so the next write sorts after them
// (it CHECK-failed in the history ring).
TEST_F(StoreTest, RestoredVersionsRaiseTheRevision) {
  KeyVersion v;
  v.mod_revision = 10;
  v.create_revision = 10;
  v.version = 1;
  v.value = SharedBytes("v");
  store_.RestoreKey(SharedBytes("/registry/pods/a"), std::span<KeyVersion>(&v, 1));
  store_.FinishRestore(/*revision=*/2, /*compacted=*/-1, {});
  EXPECT_EQ(store_.revision(), 10);
  EXPECT_EQ(Put("/registry/pods/b", "w"), 11);
  EXPECT_EQ(store_.history().entries().back()->revision, 11);
}

// One txn may delete a key and put it again: a delete to the end of the key space ("\0") is an
// empty interval to the duplicate-key check, as in etcd (request_fuzz found CheckInvariants
// refusing the two versions at one revision this leaves).
TEST_F(StoreTest, TxnDeletesToTheEndAndPutsAgain) {
  Put("/a", "1");
  Put("/b", "2");
  etcdserverpb::TxnRequest txn;
  etcdserverpb::DeleteRangeRequest* del = txn.add_success()->mutable_request_delete_range();
  del->set_key("/a");
  del->set_range_end(kNul);
  etcdserverpb::PutRequest* put = txn.add_success()->mutable_request_put();
  put->set_key("/b");
  put->set_value("3");
  etcdserverpb::TxnResponse resp;
  ASSERT_TRUE(store_.Txn(txn, &resp).ok());
  EXPECT_EQ(store_.revision(), 4);
  EXPECT_TRUE(Get("/a").kvs().empty());
  const RangeResponse b = Get("/b");
  ASSERT_EQ(b.kvs_size(), 1);
  EXPECT_EQ(b.kvs(0).version(), 1);
  EXPECT_EQ(b.kvs(0).create_revision(), 4);
  EXPECT_EQ(b.kvs(0).value(), "3");
  EXPECT_TRUE(store_.CheckInvariants().ok()) << store_.CheckInvariants();
}

}  // namespace
}  // namespace rametcd::mvcc

namespace rametcd::mvcc {
namespace {

// A store rebuilt the way recovery rebuilds it (RestoreKey with each key's retained versions,
// then FinishRestore), as after a restart from a checkpoint.
void RestoreInto(const Store& from, const std::vector<int64_t>& leases, Store* to) {
  from.ForEachKey([&](std::string_view key, const KeyEntry& entry) {
    // Copies, as a checkpoint would hold them.
    std::vector<KeyVersion> versions;
    for (const KeyVersion& v : entry.versions) {
      versions.push_back(v);
      versions.back().value = SharedBytes(v.value.view());
    }
    to->RestoreKey(SharedBytes(key), versions);
  });
  to->FinishRestore(from.revision(), from.compacted_revision(), leases);
}

// Seeded random writes of every kind (puts with and without leases, single and ranged deletes,
// txns that take either branch, put and delete one key in sibling nested txns, or fail and roll
// back, lease grants and revocations, compactions released a few keys at a time) over keys in
// several prefix blocks and outside them, with a history ring small enough to evict.
TEST(StoreInvariantsTest, HoldOnABusyStoreAndAfterARestore) {
  Store store(HistoryRing::Options{.max_events = 300, .max_bytes = 64 << 10});
  std::mt19937 rng(20240611);
  auto pick = [&rng](int n) { return static_cast<int>(rng() % n); };
  const std::vector<std::string> prefixes = {"/registry/pods/ns/", "/registry/apps/deployments/",
                                             "/registry/leases/", "other/"};
  auto key = [&] { return prefixes[pick(4)] + std::to_string(pick(40)); };
  std::vector<int64_t> leases;
  int64_t next_lease = 1;
  for (int op = 0; op < 6000; ++op) {
    switch (pick(10)) {
      case 0:
      case 1:
      case 2: {
        etcdserverpb::PutRequest put;
        put.set_key(key());
        put.set_value(std::string(pick(100), 'v'));
        if (!leases.empty() && pick(4) == 0) put.set_lease(leases[pick(leases.size())]);
        etcdserverpb::PutResponse resp;
        ASSERT_TRUE(store.Put(put, &resp).ok());
        break;
      }
      case 3: {
        etcdserverpb::DeleteRangeRequest del;
        del.set_key(key());
        if (pick(3) == 0) del.set_range_end(del.key() + "5");
        etcdserverpb::DeleteRangeResponse resp;
        ASSERT_TRUE(store.DeleteRange(del, &resp).ok());
        break;
      }
      case 4:
      case 5: {
        // if version(a) > 1: put a, then put b / delete b in sibling nested txns; else delete a.
        etcdserverpb::TxnRequest txn;
        const std::string a = key(), b = key();
        auto* cmp = txn.add_compare();
        cmp->set_key(a);
        cmp->set_target(etcdserverpb::Compare::VERSION);
        cmp->set_result(etcdserverpb::Compare::GREATER);
        cmp->set_version(1);
        auto* put = txn.add_success()->mutable_request_put();
        put->set_key(a);
        put->set_value("txn");
        if (a != b) {
          auto* first = txn.add_success()->mutable_request_txn()->add_success();
          first->mutable_request_put()->set_key(b);
          first->mutable_request_put()->set_ignore_value(pick(4) == 0);  // may fail: rollback
          auto* second = txn.add_success()->mutable_request_txn()->add_success();
          second->mutable_request_delete_range()->set_key(b);
        }
        txn.add_failure()->mutable_request_delete_range()->set_key(a);
        etcdserverpb::TxnResponse resp;
        store.Txn(txn, &resp).IgnoreError();
        break;
      }
      case 6:
        if (pick(2) == 0 || leases.empty()) {
          ASSERT_TRUE(store.GrantLease(next_lease, 60).ok());
          leases.push_back(next_lease++);
        } else {
          const size_t i = pick(leases.size());
          ASSERT_TRUE(store.RevokeLease(leases[i]).ok());
          leases.erase(leases.begin() + i);
        }
        break;
      case 7:
        if (pick(10) == 0 && store.revision() > store.compacted_revision() + 1) {
          const int64_t span = store.revision() - store.compacted_revision();
          ASSERT_TRUE(store.Compact(store.revision() - pick(20) % span).ok());
        }
        break;
      default:
        store.CompactSome(1 + pick(30));
        break;
    }
    if (op % 50 == 0) {
      ASSERT_TRUE(store.CheckInvariants().ok()) << "after op " << op;
    }
  }
  while (!store.CompactSome(100)) {
  }
  ASSERT_TRUE(store.CheckInvariants().ok());
  EXPECT_GT(store.history().covered_from(), 1);  // the ring evicted, the check saw it
  EXPECT_GT(store.indexed_keys(), 50u);

  Store restored(HistoryRing::Options{.max_events = 300, .max_bytes = 64 << 10});
  RestoreInto(store, leases, &restored);
  absl::Status status = restored.CheckInvariants();
  EXPECT_TRUE(status.ok()) << status;
  EXPECT_EQ(*restored.HashAt(0), *store.HashAt(0));
  for (int64_t id : leases) EXPECT_EQ(restored.LeaseKeys(id), store.LeaseKeys(id));
}

// Regression: a key put and then deleted by sibling nested txns has two versions at one
// revision; after a restore the DELETE event's prev_kv was missing instead of being the key as it
// was before the txn (what it is live, and in etcd).
TEST(StoreInvariantsTest, RestoredDeleteAfterPutInOneTxnKeepsPrevKv) {
  Store store;
  etcdserverpb::PutRequest put;
  put.set_key("k");
  put.set_value("before");
  etcdserverpb::PutResponse put_resp;
  ASSERT_TRUE(store.Put(put, &put_resp).ok());
  etcdserverpb::TxnRequest txn;
  auto* nested_put = txn.add_success()->mutable_request_txn()->add_success()->mutable_request_put();
  nested_put->set_key("k");
  nested_put->set_value("during");
  txn.add_success()->mutable_request_txn()->add_success()->mutable_request_delete_range()->set_key(
      "k");
  etcdserverpb::TxnResponse txn_resp;
  ASSERT_TRUE(store.Txn(txn, &txn_resp).ok());
  Store restored;
  RestoreInto(store, {}, &restored);
  for (const Store* s : {&store, &restored}) {
    const RevisionEvents& events = *s->history().entries().back();
    ASSERT_EQ(events.events.size(), 2u);
    EXPECT_EQ(events.events[1].type, mvccpb::Event::DELETE);
    ASSERT_TRUE(events.events[1].prev.has_value());
    EXPECT_EQ(events.events[1].prev->value.view(), "before");
    EXPECT_TRUE(s->CheckInvariants().ok()) << s->CheckInvariants();
  }
}

// Records that a damaged data dir could hand recovery: the check names what is wrong.
TEST(StoreInvariantsTest, NameCorruption) {
  auto logged = [](Store& store, int64_t rev, const std::string& key, int64_t version,
                   int64_t create) {
    google::protobuf::RepeatedPtrField<mvccpb::KeyValue> changes;
    mvccpb::KeyValue* kv = changes.Add();
    kv->set_key(key);
    kv->set_version(version);
    kv->set_create_revision(create);
    kv->set_value("v");
    store.ApplyLogged(rev, changes);
  };
  {
    Store store;
    logged(store, 2, "k", 1, 2);
    logged(store, 3, "k", 3, 2);  // version 2 is missing
    store.FinishRestore(3, -1, {});
    absl::Status status = store.CheckInvariants();
    EXPECT_EQ(status.code(), absl::StatusCode::kInternal);
    EXPECT_NE(status.message().find("\"k\" version at 3 has version 3"), std::string::npos)
        << status;
  }
  {
    Store store;
    logged(store, 5, "k", 1, 5);
    logged(store, 4, "k", 2, 5);  // older than the version before it
    store.FinishRestore(5, -1, {});
    EXPECT_NE(store.CheckInvariants().message().find("version at 4 follows one at 5"),
              std::string::npos)
        << store.CheckInvariants();
  }
  {
    Store store;
    logged(store, 2, "k", 1, 2);  // no FinishRestore: the history ring lacks its event
    EXPECT_NE(store.CheckInvariants().message().find("the store holds 1 versions"),
              std::string::npos)
        << store.CheckInvariants();
  }
}

TEST(StoreHistoryTest, TrimKeepsWhatIsNotDeliveredOrNotCompacted) {
  Store store;
  for (int i = 0; i < 10; ++i) {  // revisions 2..11
    etcdserverpb::PutRequest put;
    put.set_key("k");
    etcdserverpb::PutResponse resp;
    ASSERT_TRUE(store.Put(put, &resp).ok());
  }
  EXPECT_TRUE(store.TrimHistory(/*delivered=*/11, 100));  // nothing compacted: nothing goes
  EXPECT_EQ(store.history().events(), 10u);
  ASSERT_TRUE(store.Compact(9).ok());
  EXPECT_TRUE(store.TrimHistory(/*delivered=*/5, 100));  // watches were handed up to 5 only
  EXPECT_EQ(store.history().entries().front()->revision, 6);
  EXPECT_TRUE(
      store.TrimHistory(/*delivered=*/11, 100));  // revision 9 stays: a watch may start there
  EXPECT_EQ(store.history().entries().front()->revision, 9);
  EXPECT_EQ(store.history().covered_from(), 9);
  while (store.compaction_pending()) store.CompactSome(100);
  EXPECT_TRUE(store.CheckInvariants().ok()) << store.CheckInvariants();
}

}  // namespace
}  // namespace rametcd::mvcc
