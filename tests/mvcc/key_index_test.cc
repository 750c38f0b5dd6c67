#include "mvcc/key_index.h"

#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "mvcc/resource_prefix.h"

namespace rametcd::mvcc {
namespace {

const std::string kNul("\0", 1);

// Owns the keys and entries the index points to.
struct Fixture {
  KeyIndex index;
  std::map<std::string, std::unique_ptr<KeyEntry>> entries;

  void Insert(const std::string& key) {
    auto [it, inserted] = entries.emplace(key, std::make_unique<KeyEntry>());
    if (inserted) index.Insert(it->first, it->second.get());
  }
  void Erase(const std::string& key) {
    auto it = entries.find(key);
    if (it == entries.end()) return;
    index.Erase(it->first);
    entries.erase(it);
  }
  std::vector<std::string> Scan(const KeyRange& range) {
    std::vector<std::string> keys;
    index.Scan(
        range,
        [&](std::string_view key, KeyEntry&) {
          keys.emplace_back(key);
          return KeyIndex::Next::kKey;
        },
        [](const KeyIndex::Block&) { return false; });
    return keys;
  }
  std::vector<std::string> Expected(const KeyRange& range) {
    std::vector<std::string> keys;
    for (const auto& [key, entry] : entries) {
      if (range.Contains(key)) keys.push_back(key);
    }
    return keys;
  }
};

TEST(KeyIndexTest, ScanMergesBlocksAndOtherKeysInKeyOrder) {
  Fixture f;
  for (const char* k :
       {"/registry/pods/ns/a", "/registry/pods/ns/b", "/registry/health", "/registry/podsx",
        "/registry/example.com/foos/ns/x", "/registry/pods", "a", "/registry/pods0", "\xff"}) {
    f.Insert(k);
  }
  EXPECT_EQ(f.index.block_count(), 2u);
  for (const KeyRange& r :
       {KeyRange::FromRequest(kNul, kNul), KeyRange::FromRequest("/registry/", "/registry0"),
        KeyRange::FromRequest("/registry/pods/ns/b", kNul),
        KeyRange::FromRequest("/registry/pods", "/registry/pods/ns/b")}) {
    EXPECT_EQ(f.Scan(r), f.Expected(r));
  }
}

TEST(KeyIndexTest, ScanStopsWhenAskedAndSkipsCoveredBlocks) {
  Fixture f;
  for (const char* k : {"/registry/pods/a", "/registry/pods/b", "/registry/x", "z"}) f.Insert(k);
  std::vector<std::string> seen;
  f.index.Scan(
      KeyRange::FromRequest(kNul, kNul),
      [&](std::string_view key, KeyEntry&) {
        seen.emplace_back(key);
        return seen.size() < 2 ? KeyIndex::Next::kKey : KeyIndex::Next::kStop;
      },
      [](const KeyIndex::Block&) { return false; });
  EXPECT_EQ(seen, (std::vector<std::string>{"/registry/pods/a", "/registry/pods/b"}));

  seen.clear();
  std::vector<std::string> blocks;
  f.index.Scan(
      KeyRange::FromRequest(kNul, kNul),
      [&](std::string_view key, KeyEntry&) {
        seen.emplace_back(key);
        return KeyIndex::Next::kKey;
      },
      [&](const KeyIndex::Block& block) {
        blocks.push_back(block.prefix);
        return true;
      });
  EXPECT_EQ(blocks, (std::vector<std::string>{"/registry/pods/"}));
  EXPECT_EQ(seen, (std::vector<std::string>{"/registry/x", "z"}));
}

TEST(KeyIndexTest, VisitorCanLeaveABlockEarly) {
  Fixture f;
  for (const char* k : {"/registry/pods/a", "/registry/pods/b", "/registry/pods/c", "/registry/x",
                        "/registry/z.io/r/1", "/registry/z.io/r/2"}) {
    f.Insert(k);
  }
  std::vector<std::string> seen;
  f.index.Scan(
      KeyRange::FromRequest(kNul, kNul),
      [&](std::string_view key, KeyEntry&) {
        seen.emplace_back(key);
        return KeyIndex::Next::kSkipBlock;  // only the first key of each block
      },
      [](const KeyIndex::Block&) { return false; });
  EXPECT_EQ(seen,
            (std::vector<std::string>{"/registry/pods/a", "/registry/x", "/registry/z.io/r/1"}));
}

TEST(KeyIndexTest, LiveCountsPerBlock) {
  Fixture f;
  f.Insert("/registry/pods/a");
  f.index.AddLive("/registry/pods/a", 1);
  f.index.AddLive("/registry/pods/b", 1);
  f.index.AddLive("other", 1);  // keys outside blocks are not counted
  f.index.AddLive("/registry/pods/a", -1);
  int64_t live = -1;
  f.index.Scan(
      KeyRange::FromRequest("/registry/pods/", "/registry/pods0"),
      [](std::string_view, KeyEntry&) { return KeyIndex::Next::kKey; },
      [&](const KeyIndex::Block& block) {
        live = block.live_keys;
        return true;
      });
  EXPECT_EQ(live, 1);
}

TEST(KeyIndexTest, RandomizedScansMatchAnOrderedSet) {
  std::mt19937 rng(7);
  const std::vector<std::string> parts = {
      "/registry/", "pods/", "a.b/", "c/", "x", "/", "y", std::string("\xff", 1), kNul, "z"};
  auto random_key = [&] {
    std::string k;
    for (int n = 1 + rng() % 5; n > 0; --n) k += parts[rng() % parts.size()];
    return k;
  };
  Fixture f;
  for (int i = 0; i < 3000; ++i) {
    std::string k = random_key();
    if (rng() % 4 == 0) {
      f.Erase(k);
    } else {
      f.Insert(k);
    }
    if (i % 10 == 0) {
      KeyRange r;
      std::string begin = random_key(), end = random_key();
      switch (rng() % 3) {
        case 0:
          r = KeyRange::FromRequest(begin, end);
          break;
        case 1:
          r = KeyRange::FromRequest(begin, kNul);
          break;
        default: {
          std::string prefix = random_key();
          std::string prefix_end = PrefixEnd(prefix);
          r = KeyRange::FromRequest(prefix, prefix_end);
          ASSERT_EQ(f.Scan(r), f.Expected(r));
          continue;
        }
      }
      ASSERT_EQ(f.Scan(r), f.Expected(r)) << "iteration " << i;
    }
  }
  EXPECT_EQ(f.index.size(), f.entries.size());
}

}  // namespace
}  // namespace rametcd::mvcc
