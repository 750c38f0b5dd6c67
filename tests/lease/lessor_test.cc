// The Lessor with injected time: minimum and maximum TTLs, unique IDs, keepalive moving the
// expiry, bounded expiry batches, and revocation through the store.
#include "lease/lessor.h"

#include <set>

#include "gtest/gtest.h"

namespace rametcd::lease {
namespace {

class LessorTest : public ::testing::Test {
 protected:
  void Put(const std::string& key, int64_t lease) {
    etcdserverpb::PutRequest req;
    req.set_key(key);
    req.set_lease(lease);
    etcdserverpb::PutResponse resp;
    ASSERT_TRUE(store_.Put(req, &resp).ok());
  }

  const absl::Time t0_ = absl::FromUnixSeconds(1000);
  mvcc::Store store_;
  Lessor lessor_{Lessor::Options{}, &store_};
};

TEST_F(LessorTest, GrantRules) {
  auto a = lessor_.Grant(7, 1, t0_);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->id, 7);
  EXPECT_EQ(a->ttl, 2);  // raised to the minimum
  EXPECT_EQ(lessor_.Grant(7, 10, t0_).status().message(), "etcdserver: lease already exists");
  EXPECT_EQ(lessor_.Grant(8, 9'000'000'001, t0_).status().code(), absl::StatusCode::kOutOfRange);
  std::set<int64_t> ids;
  for (int i = 0; i < 1000; ++i) {
    auto g = lessor_.Grant(0, 60, t0_);
    ASSERT_TRUE(g.ok());
    EXPECT_GT(g->id, 0);
    ids.insert(g->id);
  }
  EXPECT_EQ(ids.size(), 1000u);
  EXPECT_EQ(lessor_.Leases().size(), 1001u);
}

TEST_F(LessorTest, KeepAliveMovesTheExpiry) {
  ASSERT_TRUE(lessor_.Grant(1, 10, t0_).ok());
  Put("k", 1);
  EXPECT_EQ(lessor_.Remaining(1, t0_ + absl::Seconds(4)).remaining, 6);
  EXPECT_EQ(lessor_.KeepAlive(1, t0_ + absl::Seconds(8)), 10);
  EXPECT_EQ(lessor_.ExpireDue(t0_ + absl::Seconds(12), 100), 0u);  // the old expiry is stale
  EXPECT_EQ(lessor_.NextExpiry(), t0_ + absl::Seconds(18));
  EXPECT_EQ(lessor_.ExpireDue(t0_ + absl::Seconds(18), 100), 1u);
  EXPECT_FALSE(store_.LeaseExists(1));
  EXPECT_EQ(lessor_.Remaining(1, t0_).remaining, -1);
  EXPECT_EQ(lessor_.KeepAlive(1, t0_), 0);
}

TEST_F(LessorTest, ExpiryRunsInBoundedBatchesOneRevisionPerLease) {
  for (int64_t id = 1; id <= 50; ++id) {
    ASSERT_TRUE(lessor_.Grant(id, 5, t0_).ok());
    Put("k" + std::to_string(id) + "a", id);
    Put("k" + std::to_string(id) + "b", id);
  }
  const int64_t before = store_.revision();
  EXPECT_EQ(lessor_.ExpireDue(t0_ + absl::Seconds(4), 100), 0u);
  EXPECT_EQ(lessor_.ExpireDue(t0_ + absl::Seconds(5), 20), 20u);
  EXPECT_EQ(store_.revision(), before + 20);
  EXPECT_EQ(lessor_.ExpireDue(t0_ + absl::Seconds(5), 100), 30u);
  EXPECT_EQ(store_.revision(), before + 50);
  EXPECT_EQ(lessor_.size(), 0u);
  EXPECT_EQ(lessor_.NextExpiry(), absl::InfiniteFuture());
}

TEST_F(LessorTest, ManyKeepalivesKeepTheHeapBounded) {
  ASSERT_TRUE(lessor_.Grant(1, 10, t0_).ok());
  for (int i = 0; i < 100000; ++i) {
    lessor_.KeepAlive(1, t0_ + absl::Milliseconds(i));
    ASSERT_LE(lessor_.heap_size(), 4u * lessor_.size() + 1025u);
  }
  // Stale entries are dropped as they pile up; expiry still follows the last keepalive.
  EXPECT_EQ(lessor_.NextExpiry(), t0_ + absl::Milliseconds(99999) + absl::Seconds(10));
}

}  // namespace
}  // namespace rametcd::lease
