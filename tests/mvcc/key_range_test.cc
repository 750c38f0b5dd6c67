#include "mvcc/key_range.h"

#include "gtest/gtest.h"

namespace rametcd::mvcc {
namespace {

const std::string kNul("\0", 1);

TEST(KeyRangeTest, FromRequestNamesEtcdsCases) {
  KeyRange single = KeyRange::FromRequest("a", "");
  EXPECT_TRUE(single.single);
  EXPECT_TRUE(single.Contains("a"));
  EXPECT_FALSE(single.Contains("ab"));

  KeyRange from = KeyRange::FromRequest("b", kNul);
  EXPECT_TRUE(from.unbounded);
  EXPECT_FALSE(from.Contains("a"));
  EXPECT_TRUE(from.Contains("b"));
  EXPECT_TRUE(from.Contains("\xff\xff"));

  KeyRange all = KeyRange::FromRequest(kNul, kNul);
  EXPECT_TRUE(all.Contains(kNul));
  EXPECT_TRUE(all.Contains("a"));

  KeyRange interval = KeyRange::FromRequest("b", "d");
  EXPECT_FALSE(interval.Empty());
  EXPECT_TRUE(interval.Contains("b"));
  EXPECT_TRUE(interval.Contains("c\xff"));
  EXPECT_FALSE(interval.Contains("d"));

  EXPECT_TRUE(KeyRange::FromRequest("d", "b").Empty());
  EXPECT_TRUE(KeyRange::FromRequest("d", "d").Empty());
  EXPECT_FALSE(KeyRange::FromRequest("d", "").Empty());
}

TEST(KeyRangeTest, PrefixEndIncrementsTheLastByteBelow0xff) {
  EXPECT_EQ(PrefixEnd("abc"), "abd");
  EXPECT_EQ(PrefixEnd("/registry/pods/"), "/registry/pods0");
  EXPECT_EQ(PrefixEnd("a\xff"), "b");
  EXPECT_EQ(PrefixEnd("a\xff\xff"), "b");
  EXPECT_EQ(PrefixEnd("\xff\xff"), kNul);
  EXPECT_EQ(PrefixEnd(""), kNul);
}

TEST(KeyRangeTest, CoversPrefix) {
  EXPECT_TRUE(
      KeyRange::FromRequest("/registry/pods/", "/registry/pods0").CoversPrefix("/registry/pods/"));
  EXPECT_TRUE(KeyRange::FromRequest("/registry/", "/registry0").CoversPrefix("/registry/pods/"));
  EXPECT_TRUE(KeyRange::FromRequest(kNul, kNul).CoversPrefix("/registry/pods/"));
  EXPECT_FALSE(
      KeyRange::FromRequest("/registry/pods/a", "/registry/pods0").CoversPrefix("/registry/pods/"));
  EXPECT_FALSE(
      KeyRange::FromRequest("/registry/pods/", "/registry/pods/z").CoversPrefix("/registry/pods/"));
  EXPECT_FALSE(KeyRange::FromRequest("/registry/pods/", "").CoversPrefix("/registry/pods/"));
}

}  // namespace
}  // namespace rametcd::mvcc
