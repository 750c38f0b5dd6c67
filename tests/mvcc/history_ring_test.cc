#include "mvcc/history_ring.h"

#include "gtest/gtest.h"

namespace rametcd::mvcc {
namespace {

std::shared_ptr<RevisionEvents> Entry(int64_t revision, int events, size_t bytes) {
  auto e = std::make_shared<RevisionEvents>();
  e->revision = revision;
  e->events.resize(events);
  e->bytes = bytes;
  return e;
}

TEST(HistoryRingTest, EvictsOldestRevisionsBeyondTheBounds) {
  HistoryRing ring({/*max_events=*/5, /*max_bytes=*/1000});
  EXPECT_EQ(ring.covered_from(), 1);
  for (int64_t rev = 2; rev <= 4; ++rev) ring.Append(Entry(rev, 2, 10));
  // 6 events > 5: revision 2 left, so revisions from 3 on are covered.
  EXPECT_EQ(ring.covered_from(), 3);
  EXPECT_EQ(ring.events(), 4u);
  ring.Append(Entry(7, 1, 990));  // 1010 bytes > 1000: revision 3 leaves, 1000 fit
  EXPECT_EQ(ring.covered_from(), 4);
  ASSERT_EQ(ring.entries().size(), 2u);
  EXPECT_EQ(ring.entries().front()->revision, 4);
}

TEST(HistoryRingTest, KeepsTheNewestEntryWhateverItsSize) {
  HistoryRing ring({/*max_events=*/1, /*max_bytes=*/1});
  ring.Append(Entry(2, 10, 5000));
  ASSERT_EQ(ring.entries().size(), 1u);
  EXPECT_EQ(ring.covered_from(), 1);
  ring.Append(Entry(3, 10, 5000));
  EXPECT_EQ(ring.covered_from(), 3);
}

TEST(HistoryRingTest, DropBeforeDropsOldRevisionsInBoundedSteps) {
  HistoryRing ring({100, 100000});
  for (int64_t rev : {2, 3, 5, 8}) ring.Append(Entry(rev, 2, 10));
  EXPECT_FALSE(ring.DropBefore(8, 2));  // 2 and 3 go; 5 is left below 8
  EXPECT_EQ(ring.covered_from(), 4);
  EXPECT_EQ(ring.events(), 4u);
  EXPECT_EQ(ring.bytes(), 20u);
  EXPECT_TRUE(ring.DropBefore(8, 2));
  ASSERT_EQ(ring.entries().size(), 1u);
  EXPECT_EQ(ring.entries().front()->revision, 8);
  // Revisions 6 and 7 had no events: the ring still describes everything from 8 on.
  EXPECT_EQ(ring.covered_from(), 8);
  EXPECT_TRUE(ring.DropBefore(9, 10));
  EXPECT_TRUE(ring.entries().empty());
  EXPECT_EQ(ring.covered_from(), 9);
  EXPECT_EQ(ring.events(), 0u);
  EXPECT_TRUE(ring.DropBefore(3, 10));  // an older bound changes nothing
  EXPECT_EQ(ring.covered_from(), 9);
}

TEST(HistoryRingTest, LowerBound) {
  HistoryRing ring({100, 100000});
  for (int64_t rev : {2, 3, 5, 8}) ring.Append(Entry(rev, 1, 1));
  EXPECT_EQ(ring.LowerBound(1), 0u);
  EXPECT_EQ(ring.LowerBound(3), 1u);
  EXPECT_EQ(ring.LowerBound(4), 2u);
  EXPECT_EQ(ring.LowerBound(8), 3u);
  EXPECT_EQ(ring.LowerBound(9), 4u);
  // Far from the newest entries (a binary search), every revision of a longer ring.
  HistoryRing longer({1000, 100000});
  for (int64_t rev = 2; rev <= 200; rev += 2) longer.Append(Entry(rev, 1, 1));
  for (int64_t rev = 0; rev <= 202; ++rev) {
    EXPECT_EQ(longer.LowerBound(rev), static_cast<size_t>(rev <= 2 ? 0 : (rev - 1) / 2)) << rev;
  }
}

}  // namespace
}  // namespace rametcd::mvcc
