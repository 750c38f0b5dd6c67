// Differential watch scenarios: the same Watch requests and writes against a real etcd 3.4 and
// rametcd; every watch's responses must match (header IDs masked). Responses of different
// watches on one stream are compared per watch, since their interleaving is not specified.
#include <map>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "support/differential.h"
#include "support/watch_session.h"

namespace rametcd::testing {
namespace {

using etcdserverpb::WatchCreateRequest;
using etcdserverpb::WatchRequest;
using etcdserverpb::WatchResponse;

const std::string kNul("\0", 1);

// Responses of one stream, grouped by watch ID, in arrival order, with header IDs masked.
using PerWatch = std::map<int64_t, std::vector<std::string>>;

PerWatch Drain(WatchSession& s, absl::Duration quiet) {
  PerWatch out;
  while (auto r = s.Next(quiet)) {
    r->mutable_header()->clear_cluster_id();
    r->mutable_header()->clear_member_id();
    r->mutable_header()->clear_raft_term();
    out[r->watch_id()].push_back(r->ShortDebugString());
  }
  return out;
}

class WatchDiffTest : public ::testing::Test {
 protected:
  void SetUp() override { Start(); }
  void Start() {
    auto d = Differential::Start();
    ASSERT_TRUE(d.ok()) << d.status();
    d_ = std::move(*d);
    etcd_ = std::make_unique<WatchSession>(d_->etcd().channel());
    ram_ = std::make_unique<WatchSession>(d_->rametcd().channel());
  }

  void Send(const WatchRequest& req) {
    ASSERT_TRUE(etcd_->Send(req));
    ASSERT_TRUE(ram_->Send(req));
  }
  // Everything both streams sent until they have been quiet for a while must match.
  void ExpectSameResponses(const char* step) {
    // etcd catches unsynced watchers up every 100 ms: give it time to.
    PerWatch want = Drain(*etcd_, absl::Milliseconds(400));
    PerWatch got = Drain(*ram_, absl::Milliseconds(150));
    EXPECT_EQ(got, want) << step;
    EXPECT_FALSE(want.empty()) << step << ": the scenario expected responses";
  }
  void Write(const etcdserverpb::PutRequest& put) { ASSERT_EQ(d_->Put(put), ""); }
  void Write(const etcdserverpb::DeleteRangeRequest& del) { ASSERT_EQ(d_->DeleteRange(del), ""); }
  void Write(const etcdserverpb::TxnRequest& txn) { ASSERT_EQ(d_->Txn(txn), ""); }

  std::unique_ptr<Differential> d_;
  std::unique_ptr<WatchSession> etcd_, ram_;
};

TEST_F(WatchDiffTest, IdsDuplicatesEmptyRangesAndCancel) {
  Send(CreateWatch("a"));  // id 0
  Send(CreateWatch("a"));  // id 1
  WatchRequest chosen = CreateWatch("b");
  chosen.mutable_create_request()->set_watch_id(7);
  Send(chosen);
  Send(chosen);                 // duplicate ID
  Send(CreateWatch("b", "a"));  // empty range
  Send(CreateWatch("b", "b"));  // empty range
  ExpectSameResponses("creates");
  Send(CancelWatch(1));
  Send(CancelWatch(42));   // unknown: no answer
  Send(CreateWatch("c"));  // next free automatic ID
  ExpectSameResponses("cancel and reuse");
  Write(Put("a", "1"));
  Write(Put("b", "2"));
  ExpectSameResponses("events after cancel");
}

TEST_F(WatchDiffTest, KeyPrefixRangeAndFromKeyWatches) {
  Send(CreateWatch("a"));
  Send(CreateWatch("p/", "p0"));
  Send(CreateWatch("k1", "k3"));
  Send(CreateWatch("x", kNul));
  Send(CreateWatch(kNul, kNul));
  Send(CreateWatch(""));  // an empty key means "\0"
  ExpectSameResponses("creates");
  Write(Put("a", "1"));
  Write(Put("p/1", "1"));
  Write(Put("k2", "1"));
  Write(Put("k3", "1"));
  Write(Put("y", "1"));
  Write(Delete("p/1"));
  etcdserverpb::TxnRequest txn;  // one revision, events in op order
  *txn.add_success() = Op(Put("p/2", "2"));
  *txn.add_success() = Op(Put("a", "2"));
  *txn.add_success() = Op(Delete("k2"));
  *txn.add_success() = Op(Put("p/0", "0"));
  Write(txn);
  Write(Delete("a", "z"));  // ranged delete: key order
  ExpectSameResponses("events");
}

TEST_F(WatchDiffTest, StartRevisionsPrevKvAndFilters) {
  Write(Put("h", "1"));
  Write(Put("h", "2"));
  Write(Delete("h"));
  Write(Put("h", "3"));
  Write(Put("g", "1"));
  const int64_t current = d_->revision();
  WatchRequest past = CreateWatch("g", "i", 2);
  past.mutable_create_request()->set_prev_kv(true);
  Send(past);
  WatchRequest mid = CreateWatch("h", "", 4);
  Send(mid);
  WatchRequest no_put = CreateWatch("h", "", 1);
  no_put.mutable_create_request()->add_filters(WatchCreateRequest::NOPUT);
  Send(no_put);
  WatchRequest no_delete = CreateWatch("h", "", 1);
  no_delete.mutable_create_request()->add_filters(WatchCreateRequest::NODELETE);
  no_delete.mutable_create_request()->set_prev_kv(true);
  Send(no_delete);
  Send(CreateWatch("h", "", current + 2));  // future: only revisions >= current + 2
  ExpectSameResponses("catch-up");
  Write(Put("h", "4"));  // current + 1: not for the future watch
  Write(Put("h", "5"));
  Write(Delete("h"));
  ExpectSameResponses("live");
}

TEST_F(WatchDiffTest, CompactedStartRevision) {
  for (int i = 0; i < 5; ++i) Write(Put("c", std::to_string(i)));
  ASSERT_EQ(d_->Compact(CompactTo(4)), "");
  Send(CreateWatch("c", "", 3));  // below the compaction: created, then canceled
  Send(CreateWatch("c", "", 4));  // at it: served
  ExpectSameResponses("compacted");
}

TEST_F(WatchDiffTest, ProgressRequestWhenCaughtUp) {
  Write(Put("q", "1"));
  Send(CreateWatch("q"));
  ExpectSameResponses("create");
  Send(ProgressRequest());
  ExpectSameResponses("progress");
}

TEST_F(WatchDiffTest, HalfClosedStreamKeepsDelivering) {
  Send(CreateWatch("z"));
  ExpectSameResponses("create");
  ASSERT_TRUE(etcd_->HalfClose());
  ASSERT_TRUE(ram_->HalfClose());
  Write(Put("z", "1"));
  ExpectSameResponses("after half-close");
}

TEST_F(WatchDiffTest, LargeRevisionsAreSplitOnlyWhenAsked) {
  // etcd fragments responses of at least --max-request-bytes + 512 KiB (2 MiB by default). With
  // prev_kv, one txn rewriting 12 values of 110 KiB (1.3 MiB, below the request limit) makes a
  // 2.6 MiB response.
  const std::string old_value(110 * 1024, 'a'), new_value(110 * 1024, 'b');
  for (int i = 0; i < 12; ++i) Write(Put("f/" + std::to_string(i), old_value));
  WatchRequest fragmented = CreateWatch("f/", "f0");
  fragmented.mutable_create_request()->set_fragment(true);
  fragmented.mutable_create_request()->set_prev_kv(true);
  Send(fragmented);
  WatchRequest whole = CreateWatch("f/", "f0");
  whole.mutable_create_request()->set_prev_kv(true);
  Send(whole);
  ExpectSameResponses("create");
  etcdserverpb::TxnRequest txn;
  for (int i = 0; i < 12; ++i) *txn.add_success() = Op(Put("f/" + std::to_string(i), new_value));
  Write(txn);
  PerWatch want = Drain(*etcd_, absl::Milliseconds(400));
  PerWatch got = Drain(*ram_, absl::Milliseconds(150));
  ASSERT_EQ(want[0].size(), 2u) << "etcd fragments the response in two";
  EXPECT_EQ(got, want);
}

}  // namespace
}  // namespace rametcd::testing
