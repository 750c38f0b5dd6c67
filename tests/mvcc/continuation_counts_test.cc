// ContinuationCounts: a recorded page's continuation is found once, by exactly its begin key
// (the last key + "\0"), end and revision; the set stays bounded, oldest dropped first.
#include "mvcc/continuation_counts.h"

#include <string>

#include "gtest/gtest.h"

namespace rametcd::mvcc {
namespace {

const std::string kNul("\0", 1);

TEST(ContinuationCountsTest, FoundOnceByTheNextPagesBeginEndAndRevision) {
  ContinuationCounts counts;
  counts.Record("/registry/pods/a", "/registry/pods0", 7, 42);
  EXPECT_FALSE(counts.Take("/registry/pods/a", "/registry/pods0", 7).has_value());
  EXPECT_FALSE(counts.Take("/registry/pods/a" + kNul, "/registry/pods0", 8).has_value());
  EXPECT_FALSE(counts.Take("/registry/pods/a" + kNul, "/registry/pods1", 7).has_value());
  EXPECT_EQ(counts.Take("/registry/pods/a" + kNul, "/registry/pods0", 7), 42);
  EXPECT_FALSE(counts.Take("/registry/pods/a" + kNul, "/registry/pods0", 7).has_value());
  EXPECT_EQ(counts.size(), 0u);
}

TEST(ContinuationCountsTest, BoundedOldestFirstAndLongKeysAreNotKept) {
  ContinuationCounts counts;
  const int n = static_cast<int>(ContinuationCounts::kMaxEntries) + 10;
  for (int i = 0; i < n; ++i) counts.Record("k" + std::to_string(i), "z", 1, i);
  EXPECT_EQ(counts.size(), ContinuationCounts::kMaxEntries);
  EXPECT_FALSE(counts.Take("k0" + kNul, "z", 1).has_value());
  EXPECT_FALSE(counts.Take("k9" + kNul, "z", 1).has_value());
  EXPECT_EQ(counts.Take("k10" + kNul, "z", 1), 10);
  EXPECT_EQ(counts.Take("k" + std::to_string(n - 1) + kNul, "z", 1), n - 1);

  const std::string long_key(ContinuationCounts::kMaxKeyBytes, 'k');
  counts.Record(long_key, "z", 1, 5);
  EXPECT_FALSE(counts.Take(long_key + kNul, "z", 1).has_value());
  counts.Clear();
  EXPECT_EQ(counts.size(), 0u);
}

}  // namespace
}  // namespace rametcd::mvcc
