#include "mvcc/continuation_counts.h"

#include <utility>

namespace rametcd::mvcc {

void ContinuationCounts::Record(std::string_view last_key, std::string_view end, int64_t revision,
                                int64_t remaining) {
  if (last_key.size() >= kMaxKeyBytes || end.size() > kMaxKeyBytes) return;
  std::string begin;
  begin.reserve(last_key.size() + 1);
  begin.append(last_key);
  begin.push_back('\0');
  Key key{std::move(begin), std::string(end), revision};
  if (order_.size() == kMaxEntries) {
    counts_.erase(order_.front());
    order_.pop_front();
  }
  counts_.insert_or_assign(key, remaining);
  order_.push_back(std::move(key));
}

std::optional<int64_t> ContinuationCounts::Take(std::string_view begin, std::string_view end,
                                                int64_t revision) {
  if (counts_.empty()) return std::nullopt;
  auto it = counts_.find(Key{std::string(begin), std::string(end), revision});
  if (it == counts_.end()) return std::nullopt;
  const int64_t count = it->second;
  counts_.erase(it);
  return count;
}

void ContinuationCounts::Clear() {
  counts_.clear();
  order_.clear();
}

}  // namespace rametcd::mvcc
