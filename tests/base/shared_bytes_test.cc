#include "base/shared_bytes.h"

#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace rametcd {
namespace {

TEST(SharedBytesTest, CopiesShareTheBytesAndTheLastOwnerFrees) {
  SharedBytes a(std::string(1024, 'x'));
  SharedBytes b = a;
  EXPECT_EQ(a.data(), b.data());
  EXPECT_EQ(b.view(), std::string(1024, 'x'));
  SharedBytes c = std::move(a);
  EXPECT_TRUE(a.empty());  // NOLINT(bugprone-use-after-move): a moved-from value is empty
  EXPECT_EQ(c.data(), b.data());
  b = SharedBytes("other");
  EXPECT_EQ(b.view(), "other");
  EXPECT_EQ(c.view(), std::string(1024, 'x'));  // still alive through c (ASan checks the rest)
}

TEST(SharedBytesTest, EmptyAllocatesNothingAndReadsAsEmpty) {
  SharedBytes empty;
  SharedBytes from_empty{std::string_view()};
  EXPECT_TRUE(empty.empty());
  EXPECT_TRUE(from_empty.empty());
  EXPECT_EQ(empty.size(), 0u);
  EXPECT_EQ(std::string_view(empty), "");
  EXPECT_NE(empty.data(), nullptr);
  EXPECT_EQ(empty.data(), from_empty.data());
}

TEST(SharedBytesTest, HoldsAnyBytes) {
  const std::string bytes("a\0b\xff", 4);
  SharedBytes s(bytes);
  EXPECT_EQ(s.size(), 4u);
  EXPECT_EQ(s.view(), bytes);
}

// Owners on several threads copy and drop references to the same bytes (TSan and ASan check
// the count).
TEST(SharedBytesTest, ReferencesMayBeDroppedOnAnyThread) {
  SharedBytes shared(std::string(100, 'v'));
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([copy = shared] {
      for (int i = 0; i < 10000; ++i) {
        SharedBytes again = copy;
        ASSERT_EQ(again.size(), 100u);
      }
    });
  }
  shared = SharedBytes();
  for (std::thread& t : threads) t.join();
}

}  // namespace
}  // namespace rametcd
