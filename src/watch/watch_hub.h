// WatchHub: every watch of every stream, and the delivery of the store's events to them.
//
// Runs on the apply thread, next to the store, so it sees each revision exactly once and in
// order: after every batch of requests, Dispatch() delivers the new history-ring entries to the
// synced watchers, one response per revision per watch (header.revision = that revision), the
// events in the order the txn applied them. Matching an event costs a hash lookup for exact-key
// watches plus one per distinct prefix length for prefix watches, plus a scan of the (rare) other
// ranges; it does not visit unrelated watchers.
//
// A watcher whose stream refuses a response (its client reads too slowly) becomes unsynced: it is
// skipped by Dispatch() and caught up from the history ring, in batches of up to 1,000 revisions
// and about 1 MiB (header.revision = the newest visible one), when its stream drains; so is a
// watcher created with a start revision in the past. If the revision it needs is compacted, or no
// longer in the ring, it is cancelled with compact_revision, exactly as etcd cancels a watch on a
// compacted revision.
//
// Ownership: holds the streams (shared with their reactors) until RemoveStream(); borrows the
// store, which must outlive it. Thread safety: none; the apply thread only.
#ifndef RAMETCD_WATCH_WATCH_HUB_H_
#define RAMETCD_WATCH_WATCH_HUB_H_

#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/time/time.h"
#include "base/string_hash.h"
#include "etcd/api/etcdserverpb/rpc.pb.h"
#include "mvcc/store.h"
#include "watch/watch_stream.h"

namespace rametcd::watch {

class WatchHub {
 public:
  struct Options {
    // Responses at least this large are split for watches that asked for fragments (etcd uses
    // --max-request-bytes plus its 512 KiB gRPC allowance).
    int64_t fragment_bytes = 1536 * 1024 + 512 * 1024;
    // Periodic progress notifications for progress_notify watches (etcd's default: 10 min).
    absl::Duration progress_interval = absl::Minutes(10);
    // A catch-up response holds at most this many revisions, and no further revision once it
    // holds this many bytes of events (a single revision is never split but by fragments).
    int64_t catch_up_revisions = 1000;
    int64_t catch_up_bytes = 1 << 20;
    // cluster_id, member_id and raft_term of every response header.
    etcdserverpb::ResponseHeader header;
  };

  WatchHub(const Options& options, const mvcc::Store* store);
  WatchHub(const WatchHub&) = delete;
  WatchHub& operator=(const WatchHub&) = delete;

  // A create, cancel or progress request from `stream`.
  void Handle(const std::shared_ptr<WatchStream>& stream, const etcdserverpb::WatchRequest& req);
  // Delivers every revision committed since the last call, up to `visible`: the newest revision
  // clients may learn of (ApplyLoop passes the newest whose fsync-mode changes are on disk, so no
  // watch shows a change that a crash could take back). Headers of created, cancel, catch-up and
  // progress responses name no newer revision either. REQUIRES: `visible` never decreases.
  void Dispatch(int64_t visible = std::numeric_limits<int64_t>::max());
  // `stream` drained: catch up its unsynced watchers.
  void Resume(const std::shared_ptr<WatchStream>& stream);
  // The RPC ended: forget its watchers.
  void RemoveStream(const std::shared_ptr<WatchStream>& stream);
  // Sends due periodic progress notifications; returns when the next one is due.
  absl::Time Tick(absl::Time now);

  // The newest revision handed to the synced watchers.
  int64_t dispatched() const { return dispatched_; }
  size_t watcher_count() const { return watcher_count_; }
  size_t unsynced_count() const { return unsynced_.size(); }

 private:
  struct StreamState;
  struct Watcher {
    int64_t id = 0;
    StreamState* stream = nullptr;
    std::string key;  // begin of the range
    std::string end;  // exclusive end; empty: single key unless `unbounded`
    bool unbounded = false;
    enum class Index { kExact, kPrefix, kRange } index = Index::kExact;
    bool prev_kv = false, no_put = false, no_delete = false;
    bool progress_notify = false, fragment = false;
    bool synced = true;
    bool sent_since_tick = false;
    // First revision not delivered yet (for unsynced watchers and future starts).
    int64_t next_rev = 0;

    bool Contains(std::string_view k) const;
    bool Wants(const mvcc::Event& e) const;
  };
  struct StreamState {
    std::shared_ptr<WatchStream> stream;
    absl::flat_hash_map<int64_t, std::unique_ptr<Watcher>> watchers;
    int64_t next_id = 0;
    bool progress_requested = false;
  };

  void Create(StreamState& s, const etcdserverpb::WatchCreateRequest& req);
  void Cancel(StreamState& s, int64_t id);
  void RemoveWatcher(Watcher* w);
  void Index(Watcher* w);
  void Unindex(Watcher* w);
  template <typename Fn>
  void ForEachMatch(std::string_view key, Fn&& fn);

  // Catches `w` up from the ring; on success it is synced again.
  void CatchUp(Watcher* w);
  // Sends events of `w` (fragmented if asked); false when its stream refused them.
  bool SendEvents(Watcher* w, etcdserverpb::WatchResponse response);
  void AnswerProgressIfCaughtUp(StreamState& s);
  etcdserverpb::WatchResponse NewResponse(int64_t watch_id, int64_t header_revision) const;

  const Options options_;
  const mvcc::Store* const store_;
  absl::flat_hash_map<const WatchStream*, std::unique_ptr<StreamState>> streams_;
  using WatchersByKey =
      absl::flat_hash_map<std::string, std::vector<Watcher*>, StringViewHash, StringViewEq>;
  WatchersByKey exact_;
  WatchersByKey prefixes_;
  std::map<size_t, int> prefix_lengths_;  // distinct prefix lengths in use -> watch count
  std::vector<Watcher*> ranges_;
  absl::flat_hash_set<Watcher*> unsynced_;
  absl::flat_hash_set<StreamState*> progress_pending_;
  size_t watcher_count_ = 0;
  int64_t dispatched_ = 0;  // newest revision delivered to synced watchers: the visible one
  absl::Time next_tick_;
};

}  // namespace rametcd::watch

#endif  // RAMETCD_WATCH_WATCH_HUB_H_
