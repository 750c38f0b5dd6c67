// KeyIndex: the ordered view of every key in the store, split into one B-tree per Kubernetes
// resource prefix (see resource_prefix.h) plus one B-tree for all other keys.
//
// Splitting keeps each kind's tree small and lets a range that covers a whole prefix (a list of
// all pods, a count of all leases) be answered from that prefix's block alone. Scan() walks any
// key interval in key order across blocks and the "other" tree: because blocks are disjoint
// intervals of the key space, the walk alternates between the other tree and one block at a time,
// so no k-way merge is needed.
//
// Ownership: the index holds views of keys and pointers to entries owned by the Store; the Store
// erases a key here before freeing it. Each block counts its live keys (the Store reports
// liveness changes), so counting a whole block at the current revision is O(1).
//
// Thread safety: none; owned by the Store.
#ifndef RAMETCD_MVCC_KEY_INDEX_H_
#define RAMETCD_MVCC_KEY_INDEX_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/container/btree_map.h"
#include "mvcc/key_entry.h"
#include "mvcc/key_range.h"

namespace rametcd::mvcc {

class KeyIndex {
 public:
  using Tree = absl::btree_map<std::string_view, KeyEntry*>;

  // The keys of one resource prefix.
  struct Block {
    std::string prefix;
    Tree keys;
    int64_t live_keys = 0;  // keys whose newest version is not a tombstone
  };

  KeyIndex() = default;
  KeyIndex(const KeyIndex&) = delete;
  KeyIndex& operator=(const KeyIndex&) = delete;

  // REQUIRES: `key` is not in the index; the view stays valid until Erase(key).
  void Insert(std::string_view key, KeyEntry* entry);
  // REQUIRES: `key` is in the index.
  void Erase(std::string_view key);

  // Tells the index that `key` became live (+1) or deleted (-1) at the current revision.
  void AddLive(std::string_view key, int64_t delta);

  size_t size() const { return size_; }
  size_t block_count() const { return blocks_.size(); }
  // Calls fn(const Block&) for every prefix block, in key order.
  template <typename Fn>
  void ForEachBlock(Fn&& fn) const {
    for (const auto& [prefix, block] : blocks_) fn(*block);
  }

  // What a Scan visitor wants next.
  enum class Next {
    kKey,        // the next key
    kStop,       // nothing more
    kSkipBlock,  // leave the current prefix block (like kKey for keys outside blocks)
  };

  // Visits the keys of `range` (which must not be single) in key order.
  //   on_key(std::string_view key, KeyEntry& entry) -> Next.
  //   on_block(const Block& block) -> bool: called for each block the range covers entirely,
  //     before its keys; returning true skips the block's keys (the caller accounted for them).
  template <typename OnKey, typename OnBlock>
  void Scan(const KeyRange& range, OnKey&& on_key, OnBlock&& on_block) const;

 private:
  Block* BlockFor(std::string_view key);

  // Prefix -> block; prefixes are disjoint intervals, ordered by their first key.
  absl::btree_map<std::string, std::unique_ptr<Block>> blocks_;
  Tree other_;
  size_t size_ = 0;
};

template <typename OnKey, typename OnBlock>
void KeyIndex::Scan(const KeyRange& range, OnKey&& on_key, OnBlock&& on_block) const {
  auto before_end = [&range](std::string_view k) { return range.unbounded || k < range.end; };
  auto other_it = other_.lower_bound(range.begin);
  // The first block that can hold keys >= begin: the one containing begin, or the next one.
  auto block_it = blocks_.upper_bound(absl::string_view(range.begin.data(), range.begin.size()));
  if (block_it != blocks_.begin()) {
    auto prev = std::prev(block_it);
    if (std::string_view(range.begin).substr(0, prev->first.size()) == prev->first) {
      block_it = prev;
    }
  }
  while (true) {
    const bool have_block = block_it != blocks_.end() && before_end(block_it->first);
    // Other keys that sort before the next block.
    for (; other_it != other_.end(); ++other_it) {
      std::string_view k = other_it->first;
      if (!before_end(k) || (have_block && k >= block_it->first)) break;
      if (on_key(k, *other_it->second) == Next::kStop) return;
    }
    if (!have_block) return;
    const Block& block = *block_it->second;
    if (!(range.CoversPrefix(block.prefix) && on_block(block))) {
      for (auto it = block.keys.lower_bound(range.begin); it != block.keys.end(); ++it) {
        if (!before_end(it->first)) return;
        Next next = on_key(it->first, *it->second);
        if (next == Next::kStop) return;
        if (next == Next::kSkipBlock) break;
      }
    }
    ++block_it;
  }
}

}  // namespace rametcd::mvcc

#endif  // RAMETCD_MVCC_KEY_INDEX_H_
