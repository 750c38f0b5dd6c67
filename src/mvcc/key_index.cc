#include "mvcc/key_index.h"

#include "base/logging.h"
#include "mvcc/resource_prefix.h"

namespace rametcd::mvcc {

KeyIndex::Block* KeyIndex::BlockFor(std::string_view key) {
  std::string_view prefix = ResourcePrefixOf(key);
  if (prefix.empty()) return nullptr;
  auto it = blocks_.find(absl::string_view(prefix.data(), prefix.size()));
  if (it == blocks_.end()) {
    auto block = std::make_unique<Block>();
    block->prefix = std::string(prefix);
    it = blocks_.emplace(block->prefix, std::move(block)).first;
  }
  return it->second.get();
}

void KeyIndex::Insert(std::string_view key, KeyEntry* entry) {
  Block* block = BlockFor(key);
  Tree& tree = block ? block->keys : other_;
  bool inserted = tree.emplace(key, entry).second;
  CHECK(inserted);
  ++size_;
}

void KeyIndex::Erase(std::string_view key) {
  Block* block = BlockFor(key);
  Tree& tree = block ? block->keys : other_;
  size_t erased = tree.erase(key);
  CHECK(erased == 1);
  --size_;
}

void KeyIndex::AddLive(std::string_view key, int64_t delta) {
  if (Block* block = BlockFor(key)) block->live_keys += delta;
}

}  // namespace rametcd::mvcc
