// ContinuationCounts: how many keys the next page of a paginated list holds, known from the page
// before it, so that serving a page costs its own keys rather than every key after it.
//
// etcd's Range answers `count`, the number of keys in the whole range at the read revision, also
// when `limit` cuts the page short. Kubernetes (and etcd's clients) list a resource in pages:
// each next page asks for [last key + "\0", same end) at the first page's revision. A page of
// `limit` keys from `begin`, unsorted and unfiltered, ending at key L with `more` set, says that
// [L + "\0", end) holds `count - limit` keys at that revision: the state at a revision never
// changes (writes make newer revisions) until a compaction makes the revision unreadable.
//
// Bounded: at most kMaxEntries continuations, oldest dropped first, keys of at most
// kMaxKeyBytes each. Each continuation is used once (the next page records its own).
//
// Thread safety: none; owned by the Store.
#ifndef RAMETCD_MVCC_CONTINUATION_COUNTS_H_
#define RAMETCD_MVCC_CONTINUATION_COUNTS_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>

#include "absl/container/flat_hash_map.h"

namespace rametcd::mvcc {

class ContinuationCounts {
 public:
  static constexpr size_t kMaxEntries = 256;
  static constexpr size_t kMaxKeyBytes = 4096;

  // A page of [begin, end) at `revision` ended at `last_key` with `remaining` keys after it.
  void Record(std::string_view last_key, std::string_view end, int64_t revision, int64_t remaining);
  // The count of [begin, end) at `revision` if a page recorded it; forgets it.
  std::optional<int64_t> Take(std::string_view begin, std::string_view end, int64_t revision);
  // Drops everything (after a compaction, whose revisions can no longer be read).
  void Clear();

  size_t size() const { return counts_.size(); }

 private:
  using Key = std::tuple<std::string, std::string, int64_t>;  // begin, end, revision
  absl::flat_hash_map<Key, int64_t> counts_;
  std::deque<Key> order_;  // insertion order, for dropping the oldest; may hold taken keys
};

}  // namespace rametcd::mvcc

#endif  // RAMETCD_MVCC_CONTINUATION_COUNTS_H_
