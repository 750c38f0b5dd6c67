#include "mvcc/store.h"

#include <algorithm>
#include <limits>
#include <map>

#include "absl/strings/str_cat.h"
#include "base/crc32c.h"
#include "base/etcd_errors.h"
#include "base/logging.h"
#include "base/status_macros.h"

namespace rametcd::mvcc {
namespace {

using etcdserverpb::Compare;
using etcdserverpb::RangeRequest;
using etcdserverpb::RequestOp;

constexpr size_t kAll = std::numeric_limits<size_t>::max();

// The value a sort target orders by, as an integer (VALUE and KEY compare bytes instead).
int64_t SortField(const KeyVersion& v, RangeRequest::SortTarget target) {
  switch (target) {
    case RangeRequest::VERSION:
      return v.version;
    case RangeRequest::CREATE:
      return v.create_revision;
    case RangeRequest::MOD:
      return v.mod_revision;
    default:
      return 0;
  }
}

int CompareInt(int64_t a, int64_t b) { return a < b ? -1 : (a > b ? 1 : 0); }

// etcd's compareKV: how the key's field relates to the compare's operand. An operand of another
// kind than the target (e.g. target MOD with `version` set) counts as 0, as in etcd.
bool CompareHolds(const Compare& cmp, std::string_view value, int64_t version, int64_t create,
                  int64_t mod, int64_t lease) {
  int result = 0;
  switch (cmp.target()) {
    case Compare::VALUE: {
      std::string_view want =
          cmp.target_union_case() == Compare::kValue ? std::string_view(cmp.value()) : "";
      int c = value.compare(want);
      result = c < 0 ? -1 : (c > 0 ? 1 : 0);
      break;
    }
    case Compare::CREATE:
      result = CompareInt(
          create, cmp.target_union_case() == Compare::kCreateRevision ? cmp.create_revision() : 0);
      break;
    case Compare::MOD:
      result = CompareInt(
          mod, cmp.target_union_case() == Compare::kModRevision ? cmp.mod_revision() : 0);
      break;
    case Compare::VERSION:
      result =
          CompareInt(version, cmp.target_union_case() == Compare::kVersion ? cmp.version() : 0);
      break;
    case Compare::LEASE:
      result = CompareInt(lease, cmp.target_union_case() == Compare::kLease ? cmp.lease() : 0);
      break;
    default:
      break;
  }
  switch (cmp.result()) {
    case Compare::EQUAL:
      return result == 0;
    case Compare::NOT_EQUAL:
      return result != 0;
    case Compare::GREATER:
      return result > 0;
    case Compare::LESS:
      return result < 0;
    default:
      return true;
  }
}

}  // namespace

absl::Status Store::ResolveReadRevision(int64_t requested, int64_t current, int64_t* rev) const {
  if (requested > current) return etcd_errors::FutureRev();
  *rev = requested <= 0 ? current : requested;
  if (*rev < compacted_) return etcd_errors::Compacted();
  return absl::OkStatus();
}

int64_t Store::Collect(const KeyRange& range, int64_t rev, bool at_head, size_t want,
                       std::vector<Hit>* hits, bool count_keys) const {
  if (range.single) {
    auto it = entries_.find(range.begin);
    if (it == entries_.end()) return 0;
    const KeyVersion* v = at_head ? it->second.Live() : it->second.At(rev);
    if (v == nullptr) return 0;
    if (want > 0) hits->push_back({it->first, v});
    return 1;
  }
  if (range.Empty()) return 0;
  if (!count_keys) {
    if (want == 0) return 0;
    index_.Scan(
        range,
        [&](std::string_view key, const KeyEntry& entry) {
          const KeyVersion* v = at_head ? entry.Live() : entry.At(rev);
          if (v != nullptr) hits->push_back({key, v});
          return hits->size() >= want ? KeyIndex::Next::kStop : KeyIndex::Next::kKey;
        },
        [](const KeyIndex::Block&) { return false; });
    return 0;
  }
  // At the head revision a block the range covers whole supplies its count, and its keys are
  // walked only while `hits` needs more.
  int64_t count = 0;
  std::string_view counted_block;
  index_.Scan(
      range,
      [&](std::string_view key, const KeyEntry& entry) {
        const bool counted = !counted_block.empty() && key.starts_with(counted_block);
        const KeyVersion* v = at_head ? entry.Live() : entry.At(rev);
        if (v != nullptr) {
          if (!counted) ++count;
          if (hits->size() < want) hits->push_back({key, v});
        }
        return counted && hits->size() >= want ? KeyIndex::Next::kSkipBlock : KeyIndex::Next::kKey;
      },
      [&](const KeyIndex::Block& block) {
        if (!at_head) return false;
        count += block.live_keys;
        counted_block = block.prefix;
        return hits->size() >= want;
      });
  return count;
}

absl::Status Store::Range(const etcdserverpb::RangeRequest& req,
                          etcdserverpb::RangeResponse* resp) {
  return RangeAt(req, revision_, resp, &continuations_);
}

absl::Status Store::RangeAt(const etcdserverpb::RangeRequest& req, int64_t current,
                            etcdserverpb::RangeResponse* resp, ContinuationCounts* continuations) {
  int64_t rev = 0;
  RETURN_IF_ERROR(ResolveReadRevision(req.revision(), current, &rev));
  resp->mutable_header()->set_revision(current);

  // As etcd: sorting or filtering fetches everything; otherwise one key beyond the limit.
  const bool filtered = req.min_mod_revision() != 0 || req.max_mod_revision() != 0 ||
                        req.min_create_revision() != 0 || req.max_create_revision() != 0;
  int64_t fetch = req.limit();
  if (req.sort_order() != RangeRequest::NONE || filtered) fetch = 0;
  size_t want = kAll;
  if (req.count_only()) {
    want = 0;
  } else if (fetch > 0) {
    want = static_cast<size_t>(fetch) + 1;
  }
  std::vector<Hit> hits;
  KeyRange range = KeyRange::FromRequest(req.key(), req.range_end());
  // A page of a paginated list, in key order: its count may be known from the page before.
  const bool paged = continuations != nullptr && req.limit() > 0 && !filtered && !range.single &&
                     req.sort_order() == RangeRequest::NONE &&
                     req.sort_target() == RangeRequest::KEY;
  const std::optional<int64_t> known =
      paged ? continuations->Take(req.key(), req.range_end(), rev) : std::nullopt;
  if (known.has_value()) {
    Collect(range, rev, rev == current, want, &hits, /*count_keys=*/false);
    resp->set_count(*known);
  } else {
    resp->set_count(Collect(range, rev, rev == current, want, &hits));
  }

  if (filtered) {
    std::erase_if(hits, [&req](const Hit& h) {
      return (req.max_mod_revision() != 0 && h.kv->mod_revision > req.max_mod_revision()) ||
             (req.min_mod_revision() != 0 && h.kv->mod_revision < req.min_mod_revision()) ||
             (req.max_create_revision() != 0 &&
              h.kv->create_revision > req.max_create_revision()) ||
             (req.min_create_revision() != 0 && h.kv->create_revision < req.min_create_revision());
    });
  }
  RangeRequest::SortOrder order = req.sort_order();
  const RangeRequest::SortTarget target = req.sort_target();
  if (target != RangeRequest::KEY && order == RangeRequest::NONE) order = RangeRequest::ASCEND;
  if (order == RangeRequest::ASCEND || order == RangeRequest::DESCEND) {
    // Stable, so that equal elements stay in key order (as etcd's insertion sort keeps them for
    // small results).
    auto less = [target](const Hit& a, const Hit& b) {
      switch (target) {
        case RangeRequest::KEY:
          return a.key < b.key;
        case RangeRequest::VALUE:
          return a.kv->value.view() < b.kv->value.view();
        default:
          return SortField(*a.kv, target) < SortField(*b.kv, target);
      }
    };
    if (order == RangeRequest::DESCEND) {
      std::stable_sort(hits.begin(), hits.end(),
                       [&less](const Hit& a, const Hit& b) { return less(b, a); });
    } else {
      std::stable_sort(hits.begin(), hits.end(), less);
    }
  }
  if (req.limit() > 0 && hits.size() > static_cast<size_t>(req.limit())) {
    hits.resize(req.limit());
    resp->set_more(true);
    if (paged) {
      continuations->Record(hits.back().key, req.range_end(), rev, resp->count() - req.limit());
    }
  }
  resp->mutable_kvs()->Reserve(static_cast<int>(hits.size()));
  for (const Hit& h : hits) FillKeyValue(h.key, *h.kv, req.keys_only(), resp->add_kvs());
  return absl::OkStatus();
}

absl::Status Store::CheckLease(int64_t lease) const {
  if (lease == 0 || leases_.contains(lease)) return absl::OkStatus();
  return etcd_errors::LeaseNotFound();
}

void Store::Reattach(std::string_view key, int64_t from, int64_t to) {
  if (from == to) return;
  if (from != 0) {
    auto it = leases_.find(from);
    if (it != leases_.end()) it->second.erase(key);
  }
  if (to != 0) leases_[to].emplace(key);
}

absl::Status Store::GrantLease(int64_t id, int64_t ttl) {
  if (!leases_.try_emplace(id).second) {
    return absl::FailedPreconditionError("etcdserver: lease already exists");
  }
  if (change_log_ != nullptr) change_log_->LeaseGranted(id, ttl);
  return absl::OkStatus();
}

std::vector<std::string> Store::LeaseKeys(int64_t id) const {
  std::vector<std::string> keys;
  auto it = leases_.find(id);
  if (it == leases_.end()) return keys;
  keys.assign(it->second.begin(), it->second.end());
  std::sort(keys.begin(), keys.end());
  return keys;
}

absl::Status Store::RevokeLease(int64_t id) {
  auto it = leases_.find(id);
  if (it == leases_.end()) return etcd_errors::LeaseNotFound();
  std::vector<std::string> keys(it->second.begin(), it->second.end());
  std::sort(keys.begin(), keys.end());  // DELETE events in key order, as a ranged delete
  WriteTxn txn(revision_);
  for (const std::string& key : keys) {
    auto entry = entries_.find(key);
    if (entry != entries_.end() && entry->second.Live() != nullptr) {
      Tombstone(txn, entry->first, entry->second);
    }
  }
  leases_.erase(id);
  Commit(txn);
  if (change_log_ != nullptr) change_log_->LeaseRevoked(id);
  return absl::OkStatus();
}

absl::Status Store::Put(const etcdserverpb::PutRequest& req, etcdserverpb::PutResponse* resp) {
  RETURN_IF_ERROR(CheckLease(req.lease()));  // etcd checks the lease before the key
  WriteTxn txn(revision_);
  RETURN_IF_ERROR(PutIn(txn, req, resp));
  Commit(txn);
  return absl::OkStatus();
}

absl::Status Store::PutIn(WriteTxn& txn, const etcdserverpb::PutRequest& req,
                          etcdserverpb::PutResponse* resp) {
  if (req.ignore_value() || req.ignore_lease()) {
    // In a Txn this was checked before the write started, but an earlier op of the same txn may
    // have deleted the key (etcd panics then; rametcd fails the txn, which is rolled back).
    auto it = entries_.find(req.key());
    if (it == entries_.end() || it->second.Live() == nullptr) return etcd_errors::KeyNotFound();
  }
  auto [it, inserted] = entries_.try_emplace(req.key());
  std::string_view key = it->first;
  KeyEntry& entry = it->second;
  if (inserted) index_.Insert(key, &entry);
  const KeyVersion* prev = inserted ? nullptr : entry.Live();
  RecordUndo(txn, key, &entry, inserted, prev != nullptr);

  KeyVersion next;
  next.mod_revision = txn.WriteRevision();
  if (prev != nullptr) {
    if (req.prev_kv()) FillKeyValue(key, *prev, false, resp->mutable_prev_kv());
    next.create_revision = prev->create_revision;
    next.version = prev->version + 1;
  } else {
    next.create_revision = next.mod_revision;
    next.version = 1;
  }
  next.lease = req.ignore_lease() ? prev->lease : req.lease();
  next.value = req.ignore_value() ? prev->value : SharedBytes(req.value());
  AddEvent(txn, mvccpb::Event::PUT, it->first, next, entry.At(txn.begin));
  AppendVersion(key, entry, std::move(next));
  ++txn.changes;
  resp->mutable_header()->set_revision(txn.WriteRevision());
  return absl::OkStatus();
}

void Store::AddEvent(WriteTxn& txn, mvccpb::Event::EventType type, const SharedBytes& key,
                     const KeyVersion& current, const KeyVersion* prev) {
  Event& event = txn.events.emplace_back();
  event.type = type;
  event.key = key;
  if (type == mvccpb::Event::PUT) {
    event.kv = current;
  } else {
    event.kv.mod_revision = current.mod_revision;  // etcd's DELETE event: key and revision only
  }
  if (prev != nullptr) event.prev = *prev;
  // Approximate encoded size: enough to bound the history ring.
  txn.event_bytes += 2 * key.size() + current.value.size() + (prev ? prev->value.size() : 0) + 64;
}

const SharedBytes& Store::StoredKey(std::string_view key) const {
  auto it = entries_.find(key);
  CHECK(it != entries_.end());
  return it->first;
}

void Store::Commit(WriteTxn& txn) {
  if (txn.changes == 0) return;
  revision_ = txn.WriteRevision();
  auto entry = std::make_shared<RevisionEvents>();
  entry->revision = revision_;
  entry->events = std::move(txn.events);
  entry->bytes = txn.event_bytes;
  if (change_log_ != nullptr) change_log_->Committed(entry);
  history_.Append(std::move(entry));
}

void Store::AppendVersion(std::string_view key, KeyEntry& entry, KeyVersion v, bool attach) {
  const KeyVersion* live = entry.versions.empty() ? nullptr : entry.Live();
  const bool was_live = live != nullptr;
  Reattach(key, was_live ? live->lease : 0, v.IsTombstone() || !attach ? 0 : v.lease);
  if (was_live != !v.IsTombstone()) index_.AddLive(key, was_live ? -1 : 1);
  retained_bytes_ += VersionBytes(key, v);
  if (was_live) live_bytes_ -= VersionBytes(key, *live);
  if (!v.IsTombstone()) live_bytes_ += VersionBytes(key, v);
  entry.versions.push_back(std::move(v));
  ++retained_versions_;
}

void Store::RestoreKey(SharedBytes key, std::span<KeyVersion> versions) {
  auto [it, inserted] = entries_.try_emplace(std::move(key));
  if (inserted) index_.Insert(it->first, &it->second);
  for (KeyVersion& v : versions) {
    // The revision covers every version held, also one past what a damaged checkpoint claims to
    // cover: else the next write's revision would sort below it (the history ring CHECK-fails).
    revision_ = std::max(revision_, v.mod_revision);
    AppendVersion(it->first, it->second, std::move(v));
  }
  if (it->second.versions.empty()) {
    index_.Erase(it->first);
    entries_.erase(it);
  }
}

void Store::ApplyLogged(int64_t revision,
                        const google::protobuf::RepeatedPtrField<mvccpb::KeyValue>& changes) {
  for (const mvccpb::KeyValue& kv : changes) {
    if (kv.version() == 0) {  // a delete of a key that is not there changes nothing
      auto found = entries_.find(kv.key());
      if (found == entries_.end() || found->second.Live() == nullptr) continue;
    }
    auto [it, inserted] = entries_.try_emplace(kv.key());
    if (inserted) index_.Insert(it->first, &it->second);
    KeyVersion v = VersionFromProto(kv);
    v.mod_revision = revision;
    AppendVersion(it->first, it->second, std::move(v));
  }
  revision_ = std::max(revision_, revision);
}

absl::Status Store::ApplyReplicated(int64_t revision, std::span<const mvccpb::Event> events,
                                    size_t* orphans) {
  if (revision <= revision_ || events.empty()) {
    return absl::FailedPreconditionError(absl::StrCat("cannot apply revision ", revision, " with ",
                                                      events.size(), " events at revision ",
                                                      revision_));
  }
  WriteTxn txn(revision - 1);
  for (const mvccpb::Event& event : events) {
    const mvccpb::KeyValue& kv = event.kv();
    if (event.type() == mvccpb::Event::DELETE) {
      auto found = entries_.find(kv.key());
      if (found != entries_.end() && found->second.Live() != nullptr) {
        Tombstone(txn, found->first, found->second);
      }
      continue;
    }
    auto [it, inserted] = entries_.try_emplace(kv.key());
    if (inserted) index_.Insert(it->first, &it->second);
    KeyVersion v = VersionFromProto(kv);
    v.mod_revision = revision;
    const bool attach = v.lease == 0 || leases_.contains(v.lease);
    if (!attach) ++*orphans;
    AddEvent(txn, mvccpb::Event::PUT, it->first, v, it->second.At(txn.begin));
    AppendVersion(it->first, it->second, std::move(v), attach);
    ++txn.changes;
  }
  Commit(txn);
  return absl::OkStatus();
}

void Store::RebuildHistory() {
  // Every retained version after the compaction point is one event; visiting keys in order
  // gives each revision's events in key order.
  std::map<int64_t, std::shared_ptr<RevisionEvents>> revisions;
  KeyRange all;
  all.unbounded = true;
  index_.Scan(
      all,
      [&](std::string_view key, KeyEntry& entry) {
        const auto& versions = entry.versions;
        for (size_t i = 0; i < versions.size(); ++i) {
          const KeyVersion& v = versions[i];
          if (v.mod_revision <= compacted_) continue;
          auto& slot = revisions[v.mod_revision];
          if (!slot) {
            slot = std::make_shared<RevisionEvents>();
            slot->revision = v.mod_revision;
          }
          WriteTxn txn(v.mod_revision - 1);
          // prev_kv is the key before the transaction: skip a put of the same revision that a
          // delete follows (sibling nested txns).
          size_t before = i;
          while (before > 0 && versions[before - 1].mod_revision == v.mod_revision) --before;
          const KeyVersion* prev =
              before > 0 && !versions[before - 1].IsTombstone() ? &versions[before - 1] : nullptr;
          AddEvent(txn, v.IsTombstone() ? mvccpb::Event::DELETE : mvccpb::Event::PUT,
                   StoredKey(key), v, prev);
          slot->events.push_back(std::move(txn.events.front()));
          slot->bytes += txn.event_bytes;
        }
        return KeyIndex::Next::kKey;
      },
      [](const KeyIndex::Block&) { return false; });
  history_.Reset(compacted_ + 1);
  for (auto& [rev, entry] : revisions) history_.Append(std::move(entry));
}

size_t Store::FinishRestore(int64_t revision, int64_t compacted,
                            const std::vector<int64_t>& leases) {
  revision_ = std::max({revision_, revision, compacted});
  size_t orphans = 0;
  absl::flat_hash_set<int64_t> granted(leases.begin(), leases.end());
  for (auto it = leases_.begin(); it != leases_.end();) {
    if (granted.contains(it->first)) {
      ++it;
      continue;
    }
    orphans += it->second.size();
    leases_.erase(it++);
  }
  for (int64_t id : leases) leases_.try_emplace(id);
  if (compacted > compacted_ && compacted <= revision_) {
    compacted_ = compacted;
    compaction_ = Compaction{compacted, std::string()};
    while (!CompactSome(100000)) {
    }
  }
  RebuildHistory();
  return orphans;
}

void Store::RecordUndo(WriteTxn& txn, std::string_view key, KeyEntry* entry, bool created,
                       bool was_live) {
  if (txn.record_undo) txn.undo.push_back({key, entry, created, was_live});
}

void Store::RollBack(WriteTxn& txn) {
  for (auto it = txn.undo.rbegin(); it != txn.undo.rend(); ++it) {
    const KeyVersion* live = it->entry->Live();
    const bool is_live = live != nullptr;
    const int64_t lease_after = is_live ? live->lease : 0;
    retained_bytes_ -= VersionBytes(it->key, it->entry->versions.back());
    if (is_live) live_bytes_ -= VersionBytes(it->key, *live);
    it->entry->versions.pop_back();
    const KeyVersion* restored = it->entry->versions.empty() ? nullptr : it->entry->Live();
    if (restored != nullptr) live_bytes_ += VersionBytes(it->key, *restored);
    Reattach(it->key, lease_after, restored != nullptr ? restored->lease : 0);
    --retained_versions_;
    if (is_live != it->was_live) index_.AddLive(it->key, it->was_live ? 1 : -1);
    if (it->created) {
      index_.Erase(it->key);
      auto found = entries_.find(it->key);
      CHECK(found != entries_.end());
      entries_.erase(found);
    }
  }
  txn.undo.clear();
  txn.changes = 0;
}

absl::Status Store::DeleteRange(const etcdserverpb::DeleteRangeRequest& req,
                                etcdserverpb::DeleteRangeResponse* resp) {
  WriteTxn txn(revision_);
  DeleteIn(txn, req, resp);
  Commit(txn);
  return absl::OkStatus();
}

void Store::DeleteIn(WriteTxn& txn, const etcdserverpb::DeleteRangeRequest& req,
                     etcdserverpb::DeleteRangeResponse* resp) {
  KeyRange range = KeyRange::FromRequest(req.key(), req.range_end());
  int64_t deleted = 0;
  auto delete_one = [&](const SharedBytes& key, KeyEntry& entry) {
    const KeyVersion* live = entry.Live();
    if (live == nullptr) return;
    if (req.prev_kv()) FillKeyValue(key, *live, false, resp->add_prev_kvs());
    Tombstone(txn, key, entry);
    ++deleted;
  };
  if (range.single) {
    auto it = entries_.find(range.begin);
    if (it != entries_.end()) delete_one(it->first, it->second);
  } else if (!range.Empty()) {
    // Appending a tombstone changes no index structure, so it is safe inside the scan.
    index_.Scan(
        range,
        [&](std::string_view key, KeyEntry& entry) {
          delete_one(StoredKey(key), entry);
          return KeyIndex::Next::kKey;
        },
        [](const KeyIndex::Block&) { return false; });
  }
  resp->set_deleted(deleted);
  resp->mutable_header()->set_revision(txn.ReadRevision());
}

void Store::Tombstone(WriteTxn& txn, const SharedBytes& key, KeyEntry& entry) {
  RecordUndo(txn, key, &entry, /*created=*/false, /*was_live=*/true);
  KeyVersion tombstone;
  tombstone.mod_revision = txn.WriteRevision();
  AddEvent(txn, mvccpb::Event::DELETE, key, tombstone, entry.At(txn.begin));
  AppendVersion(key, entry, std::move(tombstone));
  ++txn.changes;
}

bool Store::EvaluateCompare(const Compare& cmp) const {
  std::vector<Hit> hits;
  Collect(KeyRange::FromRequest(cmp.key(), cmp.range_end()), revision_, true, kAll, &hits);
  if (hits.empty()) {
    // A missing key compares as all zeros, except that a VALUE compare always fails.
    if (cmp.target() == Compare::VALUE) return false;
    return CompareHolds(cmp, "", 0, 0, 0, 0);
  }
  for (const Hit& h : hits) {
    if (!CompareHolds(cmp, h.kv->value, h.kv->version, h.kv->create_revision, h.kv->mod_revision,
                      h.kv->lease)) {
      return false;
    }
  }
  return true;
}

void Store::DecidePath(const etcdserverpb::TxnRequest& req, std::vector<bool>* path) const {
  bool ok = std::all_of(req.compare().begin(), req.compare().end(),
                        [this](const Compare& c) { return EvaluateCompare(c); });
  path->push_back(ok);
  for (const RequestOp& op : ok ? req.success() : req.failure()) {
    if (op.has_request_txn()) DecidePath(op.request_txn(), path);
  }
}

absl::Status Store::CheckPath(const etcdserverpb::TxnRequest& req, const std::vector<bool>& path,
                              CheckKind kind, size_t* pos) const {
  const bool ok = path[(*pos)++];
  for (const RequestOp& op : ok ? req.success() : req.failure()) {
    if (op.has_request_txn()) {
      RETURN_IF_ERROR(CheckPath(op.request_txn(), path, kind, pos));
    } else if (kind == CheckKind::kPuts && op.has_request_put()) {
      const etcdserverpb::PutRequest& put = op.request_put();
      if (put.ignore_value() || put.ignore_lease()) {
        auto it = entries_.find(put.key());
        if (it == entries_.end() || it->second.Live() == nullptr) {
          return etcd_errors::KeyNotFound();
        }
      }
      RETURN_IF_ERROR(CheckLease(put.lease()));
    } else if (kind == CheckKind::kRanges && op.has_request_range()) {
      // As etcd's checkRange: against the state before the txn, where a negative revision is
      // below any compaction point.
      const int64_t rev = op.request_range().revision();
      if (rev == 0 || rev == revision_) continue;
      if (rev > revision_) return etcd_errors::FutureRev();
      if (rev < compacted_) return etcd_errors::Compacted();
    }
  }
  return absl::OkStatus();
}

absl::Status Store::Txn(const etcdserverpb::TxnRequest& req, etcdserverpb::TxnResponse* resp) {
  std::vector<bool> path;
  DecidePath(req, &path);
  // etcd checks every put on the chosen path before any range, so a put error wins.
  for (CheckKind kind : {CheckKind::kPuts, CheckKind::kRanges}) {
    size_t pos = 0;
    RETURN_IF_ERROR(CheckPath(req, path, kind, &pos));
  }
  WriteTxn txn(revision_, /*record_undo=*/true);
  size_t pos = 0;
  if (absl::Status applied = ApplyPath(txn, req, path, &pos, resp); !applied.ok()) {
    RollBack(txn);
    return applied;
  }
  Commit(txn);
  resp->mutable_header()->set_revision(revision_);
  return absl::OkStatus();
}

absl::Status Store::ApplyPath(WriteTxn& txn, const etcdserverpb::TxnRequest& req,
                              const std::vector<bool>& path, size_t* pos,
                              etcdserverpb::TxnResponse* resp) {
  const bool ok = path[(*pos)++];
  resp->set_succeeded(ok);
  resp->mutable_header();  // nested txn responses carry an empty header, as in etcd
  const auto& ops = ok ? req.success() : req.failure();
  resp->mutable_responses()->Reserve(ops.size());
  for (const RequestOp& op : ops) {
    etcdserverpb::ResponseOp* out = resp->add_responses();
    switch (op.request_case()) {
      case RequestOp::kRequestRange: {
        absl::Status s =
            RangeAt(op.request_range(), txn.ReadRevision(), out->mutable_response_range(),
                    /*continuations=*/nullptr);
        CHECK(s.ok());  // CheckPath validated the revision
        break;
      }
      case RequestOp::kRequestPut:
        RETURN_IF_ERROR(PutIn(txn, op.request_put(), out->mutable_response_put()));
        break;
      case RequestOp::kRequestDeleteRange:
        DeleteIn(txn, op.request_delete_range(), out->mutable_response_delete_range());
        break;
      case RequestOp::kRequestTxn:
        RETURN_IF_ERROR(ApplyPath(txn, op.request_txn(), path, pos, out->mutable_response_txn()));
        break;
      case RequestOp::REQUEST_NOT_SET:
        CHECK(false);  // rejected by the request checks
    }
  }
  return absl::OkStatus();
}

absl::Status Store::Compact(int64_t revision) {
  if (revision <= compacted_) return etcd_errors::Compacted();
  if (revision > revision_) return etcd_errors::FutureRev();
  compacted_ = revision;
  continuations_.Clear();
  if (change_log_ != nullptr) change_log_->Compacted(revision);
  // A newer compaction subsumes an unfinished one: restart the walk with the new bound.
  compaction_ = Compaction{revision, std::string()};
  return absl::OkStatus();
}

bool Store::CompactSome(size_t max_keys) {
  if (!compaction_) return true;
  const int64_t bound = compaction_->revision;
  std::vector<std::string_view> emptied;
  std::string resume;
  bool finished = true;
  size_t visited = 0;
  KeyRange rest;
  rest.begin = compaction_->resume_key;
  rest.unbounded = true;
  index_.Scan(
      rest,
      [&](std::string_view key, KeyEntry& entry) {
        if (visited == max_keys) {
          resume = std::string(key);
          finished = false;
          return KeyIndex::Next::kStop;
        }
        ++visited;
        auto& versions = entry.versions;
        // Keep the newest version at or below the bound (unless it is a tombstone) and all newer.
        auto newer =
            std::upper_bound(versions.begin(), versions.end(), bound,
                             [](int64_t rev, const KeyVersion& v) { return rev < v.mod_revision; });
        if (newer == versions.begin()) return KeyIndex::Next::kKey;
        auto keep = newer - 1;
        if (keep->IsTombstone()) ++keep;
        size_t drop = keep - versions.begin();
        if (drop == 0) return KeyIndex::Next::kKey;
        for (auto v = versions.begin(); v != keep; ++v) retained_bytes_ -= VersionBytes(key, *v);
        versions.erase(versions.begin(), keep);
        retained_versions_ -= drop;
        if (versions.empty()) {
          emptied.push_back(key);
        } else if (versions.capacity() > 2 * versions.size()) {
          versions.shrink_to_fit();
        }
        return KeyIndex::Next::kKey;
      },
      [](const KeyIndex::Block&) { return false; });
  for (std::string_view key : emptied) {
    index_.Erase(key);
    auto it = entries_.find(key);
    CHECK(it != entries_.end());
    entries_.erase(it);
  }
  if (finished) {
    compaction_.reset();
  } else {
    compaction_->resume_key = std::move(resume);
  }
  return finished;
}

void Store::ForEachKey(absl::FunctionRef<void(std::string_view, const KeyEntry&)> fn) const {
  KeyRange all;
  all.unbounded = true;
  index_.Scan(
      all,
      [&](std::string_view key, const KeyEntry& entry) {
        fn(key, entry);
        return KeyIndex::Next::kKey;
      },
      [](const KeyIndex::Block&) { return false; });
}

absl::StatusOr<uint32_t> Store::HashAt(int64_t revision) const {
  if (revision > 0 && revision <= compacted_) return etcd_errors::Compacted();
  if (revision > revision_) return etcd_errors::FutureRev();
  const int64_t rev = revision > 0 ? revision : revision_;
  uint32_t crc = 0;
  auto add_int = [&crc](int64_t n) {
    char bytes[8];
    for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>(static_cast<uint64_t>(n) >> (8 * i));
    crc = Crc32cExtend(crc, std::string_view(bytes, sizeof(bytes)));
  };
  add_int(compacted_);
  ForEachKey([&](std::string_view key, const KeyEntry& entry) {
    const auto& versions = entry.versions;
    for (size_t i = 0; i < versions.size(); ++i) {
      const KeyVersion& v = versions[i];
      if (v.mod_revision > rev) break;
      // Below the compaction point only the newest version survives, and not as a tombstone:
      // what physical compaction keeps (CompactSome).
      const bool superseded = i + 1 < versions.size() && versions[i + 1].mod_revision <= compacted_;
      if (v.mod_revision <= compacted_ && (superseded || v.IsTombstone())) continue;
      add_int(static_cast<int64_t>(key.size()));
      crc = Crc32cExtend(crc, key);
      add_int(v.mod_revision);
      add_int(v.create_revision);
      add_int(v.version);
      add_int(v.lease);
      add_int(static_cast<int64_t>(v.value.size()));
      crc = Crc32cExtend(crc, v.value);
    }
  });
  return crc;
}

}  // namespace rametcd::mvcc
