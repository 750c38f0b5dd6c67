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
    EXPECT_TRUE(store_.Put(&req, &resp).ok());
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
  absl::Status s = store_.Txn(&txn, &resp);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "etcdserver: key not found");
  EXPECT_EQ(store_.revision(), before);
  EXPECT_EQ(Keys(Get(kNul, kNul)), (std::vector<std::string>{"keep", "victim"}));
  EXPECT_EQ(Get("victim").kvs(0).version(), 1);
  EXPECT_EQ(store_.indexed_keys(), 2u);
  EXPECT_EQ(store_.retained_versions(), 2u);
  EXPECT_EQ(Get(kNul, kNul, before).count(), 2);
}

TEST_F(StoreTest, PutMovesTheValueOutOfTheRequest) {
  etcdserverpb::PutRequest req;
  req.set_key("k");
  req.set_value(std::string(4096, 'v'));
  etcdserverpb::PutResponse resp;
  ASSERT_TRUE(store_.Put(&req, &resp).ok());
  EXPECT_TRUE(req.value().empty());
  EXPECT_EQ(Get("k").kvs(0).value(), std::string(4096, 'v'));
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
      ASSERT_TRUE(s->Put(&req, &resp).ok());
    }
    etcdserverpb::DeleteRangeRequest del;
    del.set_key("b");
    etcdserverpb::DeleteRangeResponse del_resp;
    ASSERT_TRUE(s->DeleteRange(del, &del_resp).ok());
    etcdserverpb::PutRequest req;
    req.set_key("c");
    req.set_value("1");
    etcdserverpb::PutResponse resp;
    ASSERT_TRUE(s->Put(&req, &resp).ok());
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
  ASSERT_TRUE(store_.Put(&leased, &put_resp).ok());
  leased.set_key("m");
  leased.set_value("w");
  leased.set_lease(8);
  ASSERT_TRUE(store_.Put(&leased, &put_resp).ok());
  Put("a", "2");
  Delete("b");
  etcdserverpb::TxnRequest txn;
  auto* put = txn.add_success()->mutable_request_put();
  put->set_key("c");
  put->set_value("1");
  txn.add_success()->mutable_request_delete_range()->set_key("a");
  etcdserverpb::TxnResponse txn_resp;
  ASSERT_TRUE(store_.Txn(&txn, &txn_resp).ok());
  Put("b", "again");

  Store replica;
  ASSERT_TRUE(replica.GrantLease(7, 60).ok());  // lease 8 stays unknown to the replica
  size_t orphans = 0;
  for (const auto& entry : store_.history().entries()) {
    std::vector<mvccpb::Event> events = entry->events;
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
    for (size_t j = 0; j < want.events.size(); ++j) {
      EXPECT_EQ(got.events[j].SerializeAsString(), want.events[j].SerializeAsString())
          << "revision " << want.revision << " event " << j;
    }
  }
  EXPECT_EQ(replica.LeaseKeys(7), std::vector<std::string>{"l"});
  EXPECT_FALSE(replica.LeaseExists(8));  // the orphan keeps its ID without creating the lease

  // Revisions must go forward and carry something; a refused one changes nothing.
  std::vector<mvccpb::Event> none;
  EXPECT_EQ(replica.ApplyReplicated(replica.revision() + 1, none, &orphans).code(),
            absl::StatusCode::kFailedPrecondition);
  std::vector<mvccpb::Event> stale = store_.history().entries().back()->events;
  EXPECT_EQ(replica.ApplyReplicated(replica.revision(), stale, &orphans).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(*replica.HashAt(0), *store_.HashAt(0));
}

}  // namespace
}  // namespace rametcd::mvcc
