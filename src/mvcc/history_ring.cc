#include "mvcc/history_ring.h"

#include <algorithm>

#include "base/logging.h"

namespace rametcd::mvcc {

void Event::ToProto(bool with_prev, mvccpb::Event* out) const {
  out->set_type(type);
  if (type == mvccpb::Event::PUT) {
    FillKeyValue(key, kv, /*keys_only=*/false, out->mutable_kv());
  } else {
    out->mutable_kv()->set_key(key.data(), key.size());
    out->mutable_kv()->set_mod_revision(kv.mod_revision);
  }
  if (with_prev && prev.has_value()) {
    FillKeyValue(key, *prev, /*keys_only=*/false, out->mutable_prev_kv());
  }
}

void HistoryRing::Append(std::shared_ptr<const RevisionEvents> entry) {
  CHECK(entries_.empty() || entry->revision > entries_.back()->revision);
  events_ += entry->events.size();
  bytes_ += entry->bytes;
  entries_.push_back(std::move(entry));
  // Keep at least the newest entry, whatever its size: live delivery needs it.
  while (entries_.size() > 1 && (events_ > options_.max_events || bytes_ > options_.max_bytes)) {
    PopOldest();
  }
}

bool HistoryRing::DropBefore(int64_t revision, size_t max_entries) {
  for (size_t i = 0; i < max_entries && !entries_.empty() && entries_.front()->revision < revision;
       ++i) {
    PopOldest();
  }
  if (!entries_.empty() && entries_.front()->revision < revision) return false;
  covered_from_ = std::max(covered_from_, revision);
  return true;
}

void HistoryRing::PopOldest() {
  const RevisionEvents& oldest = *entries_.front();
  events_ -= oldest.events.size();
  bytes_ -= oldest.bytes;
  covered_from_ = oldest.revision + 1;
  entries_.pop_front();
}

void HistoryRing::Reset(int64_t revision) {
  entries_.clear();
  events_ = 0;
  bytes_ = 0;
  covered_from_ = std::max<int64_t>(revision, 1);
}

size_t HistoryRing::LowerBound(int64_t revision) const {
  // Live delivery asks for the newest entries: look at the last few before searching the deque.
  size_t i = entries_.size();
  for (int steps = 0; steps < 4 && i > 0 && entries_[i - 1]->revision >= revision; ++steps) --i;
  if (i == 0 || entries_[i - 1]->revision < revision) return i;
  auto it =
      std::lower_bound(entries_.begin(), entries_.begin() + static_cast<ptrdiff_t>(i), revision,
                       [](const std::shared_ptr<const RevisionEvents>& e, int64_t rev) {
                         return e->revision < rev;
                       });
  return static_cast<size_t>(it - entries_.begin());
}

}  // namespace rametcd::mvcc
