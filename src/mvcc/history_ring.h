// HistoryRing: the most recent committed events, grouped by revision, in revision order. Watches
// are fed from it: live delivery reads the newest entries, and a watcher that starts in the past
// or fell behind catches up from it without walking the store.
//
// Bounds: at most `max_events` events and `max_bytes` bytes of events; the oldest revisions are
// dropped first. Revisions below the compaction point that every watch has been handed are
// dropped too (DropBefore), so that a compaction frees their values here as in the store.
// covered_from() is the oldest revision the ring still fully describes: every event of every
// revision in [covered_from(), newest] is here (revisions without events included).
//
// Thread safety: none; owned by the Store (the apply thread). Entries are shared_ptr so that a
// reader holding one keeps it alive after eviction.
#ifndef RAMETCD_MVCC_HISTORY_RING_H_
#define RAMETCD_MVCC_HISTORY_RING_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>

#include "absl/container/inlined_vector.h"
#include "base/shared_bytes.h"
#include "etcd/api/mvccpb/kv.pb.h"
#include "mvcc/key_entry.h"

namespace rametcd::mvcc {

// One change of a write transaction. The key and the values are the store's own bytes, shared
// (base/shared_bytes.h), not copies.
struct Event {
  mvccpb::Event::EventType type = mvccpb::Event::PUT;
  SharedBytes key;
  // PUT: the key's new version. DELETE: only mod_revision is set (etcd's delete event).
  KeyVersion kv;
  // The key as it was before the transaction, when it existed; watchers that did not ask for
  // prev_kv do not get it.
  std::optional<KeyVersion> prev;

  // etcd's Event; prev_kv only when `with_prev`.
  void ToProto(bool with_prev, mvccpb::Event* out) const;
};

// All events of one write transaction, in the order it made them.
struct RevisionEvents {
  int64_t revision = 0;
  absl::InlinedVector<Event, 1> events;
  size_t bytes = 0;
};

class HistoryRing {
 public:
  struct Options {
    size_t max_events = 1'000'000;
    size_t max_bytes = 512ull << 20;
  };

  explicit HistoryRing(const Options& options) : options_(options) {}

  // REQUIRES: revision > every revision appended before.
  void Append(std::shared_ptr<const RevisionEvents> entry);

  // Drops up to `max_entries` of the oldest entries with a revision below `revision`; returns
  // true when none is left. covered_from() becomes at least `revision`.
  // REQUIRES: revision <= the newest revision appended + 1.
  bool DropBefore(int64_t revision, size_t max_entries);

  // Recovery: empties the ring, which will describe every revision from `revision` on.
  void Reset(int64_t revision);

  int64_t covered_from() const { return covered_from_; }
  size_t events() const { return events_; }
  size_t bytes() const { return bytes_; }

  // The index of the first entry with revision >= `revision` (entries().size() if none).
  size_t LowerBound(int64_t revision) const;
  const std::deque<std::shared_ptr<const RevisionEvents>>& entries() const { return entries_; }

 private:
  void PopOldest();

  const Options options_;
  std::deque<std::shared_ptr<const RevisionEvents>> entries_;
  int64_t covered_from_ = 1;  // a fresh store (revision 1) has no events to miss
  size_t events_ = 0;
  size_t bytes_ = 0;
};

}  // namespace rametcd::mvcc

#endif  // RAMETCD_MVCC_HISTORY_RING_H_
