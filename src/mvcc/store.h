// Store: the in-memory MVCC key-value store behind the etcd KV API.
//
// State: one global revision; per key its retained versions (KeyEntry), reachable in O(1) through
// a hash map and in key order through the KeyIndex. Every write transaction (a Put, a DeleteRange
// that deletes something, a Txn with at least one effective write) advances the revision by one,
// and all its changes carry that revision. Versions older than the compaction point are dropped
// by Compact(), which is cheap to call: it records the new compaction revision at once (reads
// below it fail from then on) and the memory is released by CompactSome() in bounded steps, so a
// compaction of millions of keys never stalls writes for long.
//
// The request-level methods take etcd's protobuf messages and fill the response's payload and
// header.revision directly (no intermediate copies); the service layer fills the rest of the
// header. They implement etcd's applier semantics, including the checks that depend on state
// (revision bounds, ignore_value/ignore_lease on missing keys, unknown leases). Stateless request
// validation (empty keys, op counts, duplicate keys in a txn) is the service layer's job, done
// before requests reach the store (see server/request_checks.h).
//
// Thread safety: none. The Store is owned by one thread (server/apply_loop.h) that serializes all
// reads and writes, which also makes every operation linearizable.
#ifndef RAMETCD_MVCC_STORE_H_
#define RAMETCD_MVCC_STORE_H_

#include <algorithm>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/container/node_hash_map.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/string_hash.h"
#include "etcd/api/etcdserverpb/rpc.pb.h"
#include "mvcc/change_log.h"
#include "mvcc/continuation_counts.h"
#include "mvcc/history_ring.h"
#include "mvcc/key_entry.h"
#include "mvcc/key_index.h"
#include "mvcc/key_range.h"

namespace rametcd::mvcc {

class Store {
 public:
  explicit Store(const HistoryRing::Options& history = {}) : history_(history) {}
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // A fresh store is at revision 1; the first write makes it 2.
  int64_t revision() const { return revision_; }
  // -1 until the first compaction (etcd accepts Compact(0) once on a fresh store).
  int64_t compacted_revision() const { return compacted_; }

  absl::Status Range(const etcdserverpb::RangeRequest& req, etcdserverpb::RangeResponse* resp);
  absl::Status Put(const etcdserverpb::PutRequest& req, etcdserverpb::PutResponse* resp);
  absl::Status DeleteRange(const etcdserverpb::DeleteRangeRequest& req,
                           etcdserverpb::DeleteRangeResponse* resp);
  absl::Status Txn(const etcdserverpb::TxnRequest& req, etcdserverpb::TxnResponse* resp);

  // Marks every version older than `revision` (except each key's newest one at `revision`)
  // as gone. Errors: OutOfRange (compacted / future revision), as etcd.
  absl::Status Compact(int64_t revision);
  // True while memory from an earlier Compact() is still to be released.
  bool compaction_pending() const { return compaction_.has_value(); }
  // Releases the versions of up to `max_keys` keys; returns true when the compaction finished.
  bool CompactSome(size_t max_keys);

  // Leases (their TTLs are the Lessor's; the store knows which exist and what is attached).
  // Errors: FailedPrecondition "lease already exists". `ttl` is only passed on to the change log.
  absl::Status GrantLease(int64_t id, int64_t ttl);
  // Deletes every key attached to `id` in one revision (none if no key is attached) and forgets
  // the lease. Errors: NotFound "requested lease not found".
  absl::Status RevokeLease(int64_t id);
  bool LeaseExists(int64_t id) const { return leases_.contains(id); }
  // Keys attached to `id`, in key order.
  std::vector<std::string> LeaseKeys(int64_t id) const;

  // Every later change is reported to `log` (not owned; must outlive the store or be reset).
  void set_change_log(ChangeLog* log) { change_log_ = log; }

  // Recovery, before the store serves anything and before a change log is attached:
  // Installs the retained versions of a key from a checkpoint, oldest first (version 0: a
  // tombstone), moving them in. No watch events.
  void RestoreKey(SharedBytes key, std::span<KeyVersion> versions);
  // Applies a logged write transaction as it was recorded (absolute versions). Transactions
  // may come in any revision order as long as each key's versions come oldest first.
  void ApplyLogged(int64_t revision,
                   const google::protobuf::RepeatedPtrField<mvccpb::KeyValue>& changes);
  // Ends recovery: sets the revision and the compaction point (releasing compacted versions),
  // makes `leases` the set of leases, and rebuilds the watch history from the retained versions
  // (events of one revision in key order). Keys attached to a lease not in `leases` keep its ID
  // but are not attached to anything (as etcd does); returns how many such keys there were.
  size_t FinishRestore(int64_t revision, int64_t compacted, const std::vector<int64_t>& leases);

  // Live import (server/live_import.h): makes `revision` with exactly the changes another etcd
  // made at that revision, as its watch reported them (PUT events carry the key's full new
  // state, DELETE events the key), through the normal commit path: watch events, change log.
  // A PUT whose lease this store does not know keeps the ID
  // but is attached to nothing (as etcd does for keys of a lost lease); `orphans` counts them.
  // Errors: FailedPrecondition when `revision` is not above the store's revision or there are no
  // events (nothing is changed then).
  absl::Status ApplyReplicated(int64_t revision, std::span<const mvccpb::Event> events,
                               size_t* orphans);

  // A CRC32C of the MVCC state as of `revision` (0: current): every version a read at a
  // revision in (compaction point, `revision`] can see, in key order, with all its fields. Equal
  // states give equal hashes, also across restarts and whatever physical compaction has already
  // released. Errors: etcd's HashKV errors (compacted when revision <= the compaction point,
  // future revision).
  absl::StatusOr<uint32_t> HashAt(int64_t revision) const;

  // Verifies the store's internal consistency, for tests and soak runs (store_invariants.cc):
  // the hash map and the per-prefix index hold the same keys and entries, each block's live count
  // is right, each key's versions are ordered and numbered as writes make them (and compacted
  // as Compact promises once no compaction is pending), the size counters and lease attachments
  // match, and the history ring holds exactly one event per retained version of every revision it
  // covers after the compaction point, with the right kv and prev_kv. Returns Internal naming the
  // first inconsistency. Costs O(keys + versions + history events).
  absl::Status CheckInvariants() const;

  // Calls `fn(key, entry)` for every key that has retained versions (tombstones included), in
  // key order. For whole-state readers: hashes, snapshots, exports.
  void ForEachKey(absl::FunctionRef<void(std::string_view, const KeyEntry&)> fn) const;

  // Calls `fn(prefix, live_keys)` for every Kubernetes resource prefix the index has a block
  // for, in key order (metrics).
  void ForEachPrefix(absl::FunctionRef<void(std::string_view, int64_t)> fn) const {
    index_.ForEachBlock([&](const KeyIndex::Block& b) { fn(b.prefix, b.live_keys); });
  }

  // The events of recent revisions, for watches.
  const HistoryRing& history() const { return history_; }
  // Drops up to `max_entries` history entries that no watch can ask for any more: those below
  // the compaction point (a watch from there is refused or cancelled as compacted) that the
  // watches have been handed already (revision <= `delivered`). Returns true when none is left.
  bool TrimHistory(int64_t delivered, size_t max_entries) {
    return history_.DropBefore(std::min(delivered + 1, compacted_), max_entries);
  }

  // Recovery: makes room for `keys` keys in the hash map at once.
  void ReserveKeys(size_t keys) { entries_.reserve(keys); }
  // Number of keys in the index, including deleted keys whose tombstones are not compacted yet.
  size_t indexed_keys() const { return index_.size(); }
  // Number of versions (including tombstones) held for all keys.
  size_t retained_versions() const { return retained_versions_; }
  // Bytes of keys and values of all retained versions, plus a fixed per-version overhead: the
  // size of the data set, for the space quota and Status.dbSizeInUse.
  int64_t retained_bytes() const { return retained_bytes_; }
  // The same for the current version of each live key only.
  int64_t live_bytes() const { return live_bytes_; }

 private:
  // The revision bookkeeping of one write transaction: every change it makes carries
  // `begin + 1`, and reads inside it see its own earlier changes.
  struct WriteTxn {
    // What one change did, so that a Txn failing half-way can be rolled back.
    struct Undo {
      std::string_view key;
      KeyEntry* entry;
      bool created;   // the entry did not exist before
      bool was_live;  // the key existed before the change
    };
    explicit WriteTxn(int64_t begin_revision, bool record_undo = false)
        : begin(begin_revision), record_undo(record_undo) {}

    const int64_t begin;
    const bool record_undo;  // only Txn can fail half-way and needs the undo log
    int changes = 0;
    std::vector<Undo> undo;
    // What the txn changed, in order; appended to the history when the txn commits.
    decltype(RevisionEvents::events) events;
    size_t event_bytes = 0;

    int64_t WriteRevision() const { return begin + 1; }
    int64_t ReadRevision() const { return changes > 0 ? begin + 1 : begin; }
  };

  // One key as seen at some revision.
  struct Hit {
    std::string_view key;
    const KeyVersion* kv;
  };

  // Checks a read revision against the compaction point and `current`; 0 or less means current.
  absl::Status ResolveReadRevision(int64_t requested, int64_t current, int64_t* rev) const;
  // Range at `current` (the store revision, or a txn's read revision). `continuations`: the
  // counts of next pages, used and recorded by plain Ranges only (a txn's read revision may
  // still change within the txn).
  absl::Status RangeAt(const etcdserverpb::RangeRequest& req, int64_t current,
                       etcdserverpb::RangeResponse* resp, ContinuationCounts* continuations);
  // Appends to `hits` the first `want` keys of `range` that exist at `rev` (all of them when
  // want == SIZE_MAX) and returns how many keys of the range exist at `rev`; with `count_keys`
  // false, stops once it has them (and returns 0). `at_head` says that `rev` is the newest state,
  // which lets whole prefix blocks be counted without a walk.
  int64_t Collect(const KeyRange& range, int64_t rev, bool at_head, size_t want,
                  std::vector<Hit>* hits, bool count_keys = true) const;

  // Fails only for ignore_value / ignore_lease on a key that does not exist (anymore).
  absl::Status PutIn(WriteTxn& txn, const etcdserverpb::PutRequest& req,
                     etcdserverpb::PutResponse* resp);
  void DeleteIn(WriteTxn& txn, const etcdserverpb::DeleteRangeRequest& req,
                etcdserverpb::DeleteRangeResponse* resp);
  // Records the event of a change; `prev` is the key as it was before the txn, if it existed.
  void AddEvent(WriteTxn& txn, mvccpb::Event::EventType type, const SharedBytes& key,
                const KeyVersion& current, const KeyVersion* prev);
  // Makes the txn's changes the new revision (if it changed anything) and records its events.
  void Commit(WriteTxn& txn);
  // Recovery: refills the history ring with an event per retained version.
  void RebuildHistory();
  // Appends `v` as the newest version of `key`, keeping the live count and lease index right.
  // `attach` false: the key keeps v.lease but is not attached to it.
  void AppendVersion(std::string_view key, KeyEntry& entry, KeyVersion v, bool attach = true);
  // The key's bytes as the store holds them (events share them), for a key the index found.
  // REQUIRES: `key` is in the store.
  const SharedBytes& StoredKey(std::string_view key) const;
  // Appends a tombstone at the txn's revision to a live key.
  void Tombstone(WriteTxn& txn, const SharedBytes& key, KeyEntry& entry);

  // Txn helpers, mirroring etcd's applier: the branch path is decided for the whole txn tree
  // against the state before the txn; state-dependent checks run on the chosen path before
  // anything is applied.
  bool EvaluateCompare(const etcdserverpb::Compare& cmp) const;
  void DecidePath(const etcdserverpb::TxnRequest& req, std::vector<bool>* path) const;
  enum class CheckKind { kPuts, kRanges };
  absl::Status CheckPath(const etcdserverpb::TxnRequest& req, const std::vector<bool>& path,
                         CheckKind kind, size_t* pos) const;
  absl::Status ApplyPath(WriteTxn& txn, const etcdserverpb::TxnRequest& req,
                         const std::vector<bool>& path, size_t* pos,
                         etcdserverpb::TxnResponse* resp);
  // Reverts every change recorded in `txn.undo`, newest first.
  void RollBack(WriteTxn& txn);
  void RecordUndo(WriteTxn& txn, std::string_view key, KeyEntry* entry, bool created,
                  bool was_live);

  absl::Status CheckLease(int64_t lease) const;
  // Moves `key`'s attachment from lease `from` to lease `to` (0: none).
  void Reattach(std::string_view key, int64_t from, int64_t to);

  int64_t revision_ = 1;
  int64_t compacted_ = -1;
  ChangeLog* change_log_ = nullptr;
  HistoryRing history_;
  // Lease ID -> attached keys.
  absl::flat_hash_map<int64_t, absl::flat_hash_set<std::string, StringViewHash, StringViewEq>>
      leases_;
  // Owns keys and entries; node-based so that the index's views and pointers stay valid.
  absl::node_hash_map<SharedBytes, KeyEntry, StringViewHash, StringViewEq> entries_;
  KeyIndex index_;
  ContinuationCounts continuations_;
  size_t retained_versions_ = 0;
  int64_t retained_bytes_ = 0;
  int64_t live_bytes_ = 0;

  static int64_t VersionBytes(std::string_view key, const KeyVersion& v) {
    return static_cast<int64_t>(key.size() + v.value.size() + sizeof(KeyVersion));
  }

  // An unfinished physical compaction: versions below `revision` are still to be released from
  // keys >= `resume_key`.
  struct Compaction {
    int64_t revision;
    std::string resume_key;
  };
  std::optional<Compaction> compaction_;
};

}  // namespace rametcd::mvcc

#endif  // RAMETCD_MVCC_STORE_H_
