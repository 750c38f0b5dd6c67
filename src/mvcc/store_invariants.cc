// Store::CheckInvariants: the consistency checks of the store's in-memory structures, kept apart
// from store.cc because nothing on the request path uses them (tests and soak runs do).
#include <algorithm>
#include <string_view>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "mvcc/resource_prefix.h"
#include "mvcc/store.h"

namespace rametcd::mvcc {
namespace {

template <typename... Parts>
absl::Status Broken(const Parts&... parts) {
  return absl::InternalError(absl::StrCat("store invariant broken: ", parts...));
}

std::string Quoted(std::string_view key) {
  return absl::StrCat("\"", absl::CHexEscape(absl::string_view(key.data(), key.size())), "\"");
}

// Equal fields, and the same bytes: an event shares the store's value rather than copying it.
bool SameVersion(const KeyVersion& a, const KeyVersion& b) {
  return a.create_revision == b.create_revision && a.mod_revision == b.mod_revision &&
         a.version == b.version && a.lease == b.lease && a.value.data() == b.value.data() &&
         a.value.size() == b.value.size();
}

std::string Describe(const Event& event) {
  mvccpb::Event proto;
  event.ToProto(/*with_prev=*/true, &proto);
  return proto.ShortDebugString();
}

}  // namespace

absl::Status Store::CheckInvariants() const {
  if (revision_ < 1) return Broken("revision ", revision_, " < 1");
  if (compacted_ > revision_) {
    return Broken("compaction point ", compacted_, " above the revision ", revision_);
  }
  if (compaction_ && compaction_->revision > compacted_) {
    return Broken("pending compaction at ", compaction_->revision, " above the compaction point ",
                  compacted_);
  }

  // The prefix blocks: their keys belong to them, and their live counts are right.
  absl::flat_hash_map<std::string_view, const KeyIndex::Block*> blocks;
  size_t block_keys = 0;
  absl::Status status;
  index_.ForEachBlock([&](const KeyIndex::Block& block) {
    blocks[block.prefix] = &block;
    block_keys += block.keys.size();
    int64_t live = 0;
    for (const auto& [key, entry] : block.keys) {
      if (ResourcePrefixOf(key) != block.prefix && status.ok()) {
        status = Broken("key ", Quoted(key), " in the block of prefix ", Quoted(block.prefix));
      }
      if (!entry->versions.empty() && entry->Live() != nullptr) ++live;
    }
    if (live != block.live_keys && status.ok()) {
      status = Broken("block ", Quoted(block.prefix), " counts ", block.live_keys,
                      " live keys, holds ", live);
    }
  });
  RETURN_IF_ERROR(status);

  // Every indexed key, in key order: the same key and entry as in the hash map, in the right
  // tree; its versions ordered and numbered; the counters.
  size_t scanned = 0, prefixed = 0, versions = 0;
  int64_t retained_bytes = 0, live_bytes = 0;
  std::string_view previous;
  KeyRange all;
  all.unbounded = true;
  auto check_key = [&](std::string_view key, const KeyEntry& entry) -> absl::Status {
    if (scanned > 0 && !(previous < key)) {
      return Broken("index visits ", Quoted(key), " after ", Quoted(previous));
    }
    previous = key;
    ++scanned;
    auto it = entries_.find(key);
    if (it == entries_.end()) return Broken("indexed key ", Quoted(key), " not in the hash map");
    if (&it->second != &entry || it->first.data() != key.data()) {
      return Broken("index entry of ", Quoted(key), " is not the hash map's");
    }
    if (std::string_view prefix = ResourcePrefixOf(key); !prefix.empty()) {
      ++prefixed;
      auto block = blocks.find(prefix);
      if (block == blocks.end() || !block->second->keys.contains(key)) {
        return Broken("key ", Quoted(key), " is not in the block of its prefix");
      }
    }
    const auto& vs = entry.versions;
    if (vs.empty()) return Broken("key ", Quoted(key), " has no versions");
    size_t at_or_below_compaction = 0;
    for (size_t i = 0; i < vs.size(); ++i) {
      const KeyVersion& v = vs[i];
      const KeyVersion* before = i > 0 ? &vs[i - 1] : nullptr;
      auto where = [&] {
        return absl::StrCat("key ", Quoted(key), " version at ", v.mod_revision);
      };
      if (v.mod_revision < 1 || v.mod_revision > revision_) {
        return Broken(where(), " outside [1, ", revision_, "]");
      }
      // One txn may put and then delete a key (sibling nested txns), or delete and put it again
      // (a delete to the end of the key space, which the duplicate-key check does not see).
      if (before != nullptr &&
          (v.mod_revision < before->mod_revision ||
           (v.mod_revision == before->mod_revision && before->IsTombstone() == v.IsTombstone()))) {
        return Broken(where(), " follows one at ", before->mod_revision,
                      " (a revision holds at most a put and a delete of a key)");
      }
      if (v.mod_revision <= compacted_) ++at_or_below_compaction;
      retained_bytes += VersionBytes(key, v);
      if (v.IsTombstone()) continue;
      if (v.create_revision < 1 || v.create_revision > v.mod_revision) {
        return Broken(where(), " was created at ", v.create_revision);
      }
      // A put after a tombstone starts a generation: version 1, created by itself. Otherwise it
      // continues the one before it (the oldest retained version may have lost its predecessors).
      bool numbered = true;
      if (before == nullptr ? v.version == 1 : before->IsTombstone()) {
        numbered = v.version == 1 && v.create_revision == v.mod_revision;
      } else if (before != nullptr) {
        numbered = v.version == before->version + 1 && v.create_revision == before->create_revision;
      }
      if (!numbered) {
        return Broken(where(), " has version ", v.version, " created at ", v.create_revision,
                      before ? absl::StrCat(" after version ", before->version, " created at ",
                                            before->create_revision)
                             : std::string());
      }
    }
    versions += vs.size();
    if (const KeyVersion* live = entry.Live(); live != nullptr) {
      live_bytes += VersionBytes(key, *live);
    }
    // Compact keeps, of the versions at or below the compaction point, the newest unless it is a
    // tombstone; until CompactSome has visited every key, older ones may remain.
    if (!compaction_ &&
        (at_or_below_compaction > 1 || (at_or_below_compaction == 1 && vs[0].IsTombstone()))) {
      return Broken("key ", Quoted(key), " keeps ", at_or_below_compaction,
                    " versions at or below the compaction point ", compacted_);
    }
    return absl::OkStatus();
  };
  index_.Scan(
      all,
      [&](std::string_view key, const KeyEntry& entry) {
        status = check_key(key, entry);
        return status.ok() ? KeyIndex::Next::kKey : KeyIndex::Next::kStop;
      },
      [](const KeyIndex::Block&) { return false; });
  RETURN_IF_ERROR(status);
  if (scanned != entries_.size() || scanned != index_.size() || prefixed != block_keys) {
    return Broken("the index walks ", scanned, " keys (", prefixed, " in prefix blocks holding ",
                  block_keys, "), counts ", index_.size(), "; the hash map holds ",
                  entries_.size());
  }
  if (versions != retained_versions_ || retained_bytes != retained_bytes_ ||
      live_bytes != live_bytes_) {
    return Broken("counters say ", retained_versions_, " versions, ", retained_bytes_,
                  " retained bytes, ", live_bytes_, " live bytes; the keys hold ", versions, ", ",
                  retained_bytes, ", ", live_bytes);
  }

  // Lease attachments: each attached key exists and its newest version names the lease.
  for (const auto& [id, keys] : leases_) {
    for (const std::string& key : keys) {
      auto it = entries_.find(key);
      const KeyVersion* live = it == entries_.end() ? nullptr : it->second.Live();
      if (live == nullptr || live->lease != id) {
        return Broken("key ", Quoted(key), " is attached to lease ", id, " but ",
                      live == nullptr ? "does not exist" : absl::StrCat("has lease ", live->lease));
      }
    }
  }

  // The history ring: ordered, counted, and for every revision it covers after the compaction
  // point exactly one event per version the store holds at that revision, in the same order for
  // versions of one key.
  const auto& ring = history_.entries();
  size_t ring_events = 0, ring_bytes = 0, matched = 0;
  const int64_t checked_from = std::max(history_.covered_from(), compacted_ + 1);
  if (history_.covered_from() > revision_ + 1) {
    return Broken("history covers from ", history_.covered_from(), " past the revision ",
                  revision_);
  }
  for (size_t i = 0; i < ring.size(); ++i) {
    const RevisionEvents& entry = *ring[i];
    const int64_t rev = entry.revision;
    if (rev < history_.covered_from() || rev > revision_ ||
        (i > 0 && rev <= ring[i - 1]->revision)) {
      return Broken("history entry of revision ", rev, " out of order or range (covered from ",
                    history_.covered_from(), ", revision ", revision_, ")");
    }
    if (entry.events.empty()) return Broken("history entry of revision ", rev, " has no events");
    ring_events += entry.events.size();
    ring_bytes += entry.bytes;
    if (rev < checked_from) continue;
    // Which of a key's versions at `rev` the next event of that key is.
    absl::flat_hash_map<std::string_view, size_t> seen;
    for (const Event& event : entry.events) {
      const std::string_view key = event.key;
      auto where = [&] { return absl::StrCat("history event for ", Quoted(key), " at ", rev); };
      if (event.kv.mod_revision != rev) {
        return Broken(where(), " has mod_revision ", event.kv.mod_revision);
      }
      auto it = entries_.find(key);
      if (it == entries_.end()) return Broken(where(), ": the key is not in the store");
      if (it->first.data() != event.key.data()) {
        return Broken(where(), " holds a copy of the key, not the store's");
      }
      const auto& vs = it->second.versions;
      auto first = std::lower_bound(vs.begin(), vs.end(), rev, [](const KeyVersion& v, int64_t r) {
        return v.mod_revision < r;
      });
      const size_t nth = seen[key]++;
      if (static_cast<size_t>(vs.end() - first) <= nth || first[nth].mod_revision != rev) {
        return Broken(where(), ": the store has no such version");
      }
      const KeyVersion& v = first[nth];
      const bool is_delete = event.type == mvccpb::Event::DELETE;
      if (is_delete != v.IsTombstone() || (!is_delete && !SameVersion(event.kv, v))) {
        return Broken(where(), " is {", Describe(event), "}, the store's version ",
                      v.IsTombstone() ? "a tombstone" : "differs (or is not shared)");
      }
      // prev_kv: the key before the transaction, where the store still knows it.
      if (rev - 1 >= compacted_) {
        const KeyVersion* prev = it->second.At(rev - 1);
        if (prev == nullptr ? event.prev.has_value()
                            : !event.prev.has_value() || !SameVersion(*event.prev, *prev)) {
          return Broken(where(), " is {", Describe(event), "}; the store ",
                        prev ? "has another version before" : "none");
        }
      }
      ++matched;
    }
  }
  if (ring_events != history_.events() || ring_bytes != history_.bytes()) {
    return Broken("history counts ", history_.events(), " events, ", history_.bytes(),
                  " bytes; holds ", ring_events, ", ", ring_bytes);
  }
  size_t expected = 0;
  for (const auto& [key, entry] : entries_) {
    for (const KeyVersion& v : entry.versions) expected += v.mod_revision >= checked_from;
  }
  if (matched != expected) {
    return Broken("the store holds ", expected, " versions from revision ", checked_from,
                  " on, the history ", matched, " events for them");
  }
  return absl::OkStatus();
}

}  // namespace rametcd::mvcc
