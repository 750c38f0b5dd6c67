#include "watch/watch_hub.h"

#include <algorithm>
#include <utility>

#include "base/logging.h"
#include "mvcc/key_range.h"

namespace rametcd::watch {
namespace {

using etcdserverpb::WatchResponse;

constexpr char kEmptyRange[] = "mvcc: watcher range is empty";
constexpr char kDuplicateId[] = "mvcc: duplicate watch ID provided on the WatchStream";

template <typename T>
void EraseOne(std::vector<T>& v, const T& value) {
  auto it = std::find(v.begin(), v.end(), value);
  if (it != v.end()) v.erase(it);
}

}  // namespace

bool WatchHub::Watcher::Contains(std::string_view k) const {
  if (index == Index::kExact) return k == key;
  return k >= key && (unbounded || k < end);
}

bool WatchHub::Watcher::Wants(const mvcc::Event& e) const {
  return e.type == mvccpb::Event::PUT ? !no_put : !no_delete;
}

WatchHub::WatchHub(const Options& options, const mvcc::Store* store)
    : options_(options), store_(store), dispatched_(store->revision()) {}

WatchResponse WatchHub::NewResponse(int64_t watch_id, int64_t header_revision) const {
  WatchResponse resp;
  *resp.mutable_header() = options_.header;
  resp.mutable_header()->set_revision(header_revision);
  resp.set_watch_id(watch_id);
  return resp;
}

void WatchHub::Handle(const std::shared_ptr<WatchStream>& stream,
                      const etcdserverpb::WatchRequest& req) {
  auto& state = streams_[stream.get()];
  if (state == nullptr) {
    state = std::make_unique<StreamState>();
    state->stream = stream;
  }
  switch (req.request_union_case()) {
    case etcdserverpb::WatchRequest::kCreateRequest:
      Create(*state, req.create_request());
      break;
    case etcdserverpb::WatchRequest::kCancelRequest:
      Cancel(*state, req.cancel_request().watch_id());
      break;
    case etcdserverpb::WatchRequest::kProgressRequest:
      state->progress_requested = true;
      progress_pending_.insert(state.get());
      AnswerProgressIfCaughtUp(*state);
      break;
    case etcdserverpb::WatchRequest::REQUEST_UNION_NOT_SET:
      break;
  }
}

void WatchHub::Create(StreamState& s, const etcdserverpb::WatchCreateRequest& req) {
  const int64_t current = dispatched_;
  auto refuse = [&](const char* reason) {
    WatchResponse resp = NewResponse(-1, current);
    resp.set_created(true);
    resp.set_canceled(true);
    resp.set_cancel_reason(reason);
    s.stream->SendControl(std::move(resp));
  };
  auto w = std::make_unique<Watcher>();
  // As etcd: an empty key means "\0" (the smallest key); range_end "\0" means every key >= key.
  w->key = req.key().empty() ? std::string("\0", 1) : req.key();
  if (req.range_end() == std::string_view("\0", 1)) {
    w->unbounded = true;
    w->index = Watcher::Index::kRange;
  } else if (!req.range_end().empty()) {
    w->end = req.range_end();
    if (w->key >= w->end) return refuse(kEmptyRange);
    w->index = w->end == mvcc::PrefixEnd(w->key) ? Watcher::Index::kPrefix : Watcher::Index::kRange;
  }
  if (req.watch_id() != 0) {
    if (s.watchers.contains(req.watch_id())) return refuse(kDuplicateId);
    w->id = req.watch_id();
  } else {
    while (s.watchers.contains(s.next_id)) ++s.next_id;
    w->id = s.next_id++;
  }
  w->stream = &s;
  w->prev_kv = req.prev_kv();
  w->progress_notify = req.progress_notify();
  w->fragment = req.fragment();
  for (int filter : req.filters()) {
    if (filter == etcdserverpb::WatchCreateRequest::NOPUT) w->no_put = true;
    if (filter == etcdserverpb::WatchCreateRequest::NODELETE) w->no_delete = true;
  }
  w->next_rev = req.start_revision() == 0 ? current + 1 : req.start_revision();

  WatchResponse created = NewResponse(w->id, current);
  created.set_created(true);
  s.stream->SendControl(std::move(created));

  Watcher* watcher = w.get();
  s.watchers.emplace(w->id, std::move(w));
  ++watcher_count_;
  Index(watcher);
  if (watcher->next_rev <= current) {
    watcher->synced = false;
    unsynced_.insert(watcher);
    CatchUp(watcher);
  }
}

void WatchHub::Cancel(StreamState& s, int64_t id) {
  auto it = s.watchers.find(id);
  if (it == s.watchers.end()) return;  // etcd answers nothing for an unknown watch
  RemoveWatcher(it->second.get());
  WatchResponse resp = NewResponse(id, dispatched_);
  resp.set_canceled(true);
  s.stream->SendControl(std::move(resp));
}

void WatchHub::RemoveWatcher(Watcher* w) {
  Unindex(w);
  unsynced_.erase(w);
  --watcher_count_;
  w->stream->watchers.erase(w->id);  // frees w
}

void WatchHub::RemoveStream(const std::shared_ptr<WatchStream>& stream) {
  auto it = streams_.find(stream.get());
  if (it == streams_.end()) return;
  for (auto& [id, w] : it->second->watchers) {
    Unindex(w.get());
    unsynced_.erase(w.get());
    --watcher_count_;
  }
  progress_pending_.erase(it->second.get());
  streams_.erase(it);
}

void WatchHub::Index(Watcher* w) {
  switch (w->index) {
    case Watcher::Index::kExact:
      exact_[w->key].push_back(w);
      break;
    case Watcher::Index::kPrefix:
      prefixes_[w->key].push_back(w);
      ++prefix_lengths_[w->key.size()];
      break;
    case Watcher::Index::kRange:
      ranges_.push_back(w);
      break;
  }
}

void WatchHub::Unindex(Watcher* w) {
  switch (w->index) {
    case Watcher::Index::kExact: {
      auto it = exact_.find(w->key);
      EraseOne(it->second, w);
      if (it->second.empty()) exact_.erase(it);
      break;
    }
    case Watcher::Index::kPrefix: {
      auto it = prefixes_.find(w->key);
      EraseOne(it->second, w);
      if (it->second.empty()) prefixes_.erase(it);
      if (--prefix_lengths_[w->key.size()] == 0) prefix_lengths_.erase(w->key.size());
      break;
    }
    case Watcher::Index::kRange:
      EraseOne(ranges_, w);
      break;
  }
}

template <typename Fn>
void WatchHub::ForEachMatch(std::string_view key, Fn&& fn) {
  if (auto it = exact_.find(key); it != exact_.end()) {
    for (Watcher* w : it->second) fn(w);
  }
  for (const auto& [length, count] : prefix_lengths_) {
    if (length > key.size()) break;
    if (auto it = prefixes_.find(key.substr(0, length)); it != prefixes_.end()) {
      for (Watcher* w : it->second) fn(w);
    }
  }
  for (Watcher* w : ranges_) {
    if (w->Contains(key)) fn(w);
  }
}

void WatchHub::Dispatch(int64_t visible) {
  const int64_t upto = std::max(dispatched_, std::min(visible, store_->revision()));
  const mvcc::HistoryRing& ring = store_->history();
  if (dispatched_ + 1 < ring.covered_from()) {
    // Revisions left the ring before they were delivered (cannot happen while the apply loop
    // dispatches after every request; kept as a safety net): nobody may silently miss them.
    for (auto& [ptr, s] : streams_) {
      for (auto& [id, w] : s->watchers) {
        if (w->synced && w->next_rev <= dispatched_ + 1) {
          w->synced = false;
          w->next_rev = dispatched_ + 1;
          unsynced_.insert(w.get());
        }
      }
    }
  }
  const auto& entries = ring.entries();
  for (size_t i = ring.LowerBound(dispatched_ + 1);
       i < entries.size() && entries[i]->revision <= upto; ++i) {
    const mvcc::RevisionEvents& entry = *entries[i];
    std::vector<std::pair<Watcher*, WatchResponse>> out;
    absl::flat_hash_map<Watcher*, size_t> slot;
    for (const mvcc::Event& e : entry.events) {
      ForEachMatch(e.key, [&](Watcher* w) {
        if (!w->synced || w->next_rev > entry.revision || !w->Wants(e)) return;
        auto [it, inserted] = slot.try_emplace(w, out.size());
        if (inserted) out.emplace_back(w, NewResponse(w->id, entry.revision));
        e.ToProto(w->prev_kv, out[it->second].second.add_events());
      });
    }
    for (auto& [w, resp] : out) {
      if (SendEvents(w, std::move(resp))) {
        w->next_rev = entry.revision + 1;
      } else {
        w->synced = false;
        w->next_rev = entry.revision;
        unsynced_.insert(w);
      }
    }
  }
  dispatched_ = upto;
  for (auto it = progress_pending_.begin(); it != progress_pending_.end();) {
    StreamState* s = *it++;
    AnswerProgressIfCaughtUp(*s);
  }
}

bool WatchHub::SendEvents(Watcher* w, WatchResponse response) {
  std::vector<WatchResponse> pieces;
  if (w->fragment && response.events_size() >= 2 &&
      static_cast<int64_t>(response.ByteSizeLong()) >= options_.fragment_bytes) {
    // etcd's sendFragments: as many events per piece as stay under the limit, at least one.
    WatchResponse base = response;
    base.clear_events();
    base.set_fragment(true);
    WatchResponse cur = base;
    for (mvccpb::Event& e : *response.mutable_events()) {
      *cur.add_events() = std::move(e);
      if (cur.events_size() > 1 &&
          static_cast<int64_t>(cur.ByteSizeLong()) >= options_.fragment_bytes) {
        mvccpb::Event last = std::move(*cur.mutable_events(cur.events_size() - 1));
        cur.mutable_events()->RemoveLast();
        pieces.push_back(std::move(cur));
        cur = base;
        *cur.add_events() = std::move(last);
      }
    }
    cur.set_fragment(false);
    pieces.push_back(std::move(cur));
  } else {
    pieces.push_back(std::move(response));
  }
  if (!w->stream->stream->Send(std::move(pieces))) return false;
  w->sent_since_tick = true;
  return true;
}

void WatchHub::CatchUp(Watcher* w) {
  const mvcc::HistoryRing& ring = store_->history();
  const int64_t compacted = store_->compacted_revision();
  if (w->next_rev < compacted || w->next_rev < ring.covered_from()) {
    // What the watcher needs is compacted, or no longer in the ring: cancel it as etcd cancels
    // a watch on a compacted revision (header revision 0, as etcd's). It may resume from
    // compact_revision + 1 if that is still available.
    WatchResponse resp = NewResponse(w->id, 0);
    resp.set_compact_revision(std::max(compacted, ring.covered_from() - 1));
    resp.set_canceled(true);
    StreamState* s = w->stream;
    RemoveWatcher(w);
    s->stream->SendControl(std::move(resp));
    return;
  }
  const auto& entries = ring.entries();
  while (w->next_rev <= dispatched_) {
    WatchResponse resp = NewResponse(w->id, dispatched_);
    int64_t last = dispatched_;
    int64_t revisions = 0;
    size_t bytes = 0;
    for (size_t i = ring.LowerBound(w->next_rev);
         i < entries.size() && entries[i]->revision <= dispatched_; ++i) {
      if (revisions++ == options_.catch_up_revisions ||
          bytes >= static_cast<size_t>(options_.catch_up_bytes)) {
        last = entries[i]->revision - 1;
        break;
      }
      for (const mvcc::Event& e : entries[i]->events) {
        if (!w->Contains(e.key) || !w->Wants(e)) continue;
        mvccpb::Event* out = resp.add_events();
        e.ToProto(w->prev_kv, out);
        bytes += out->ByteSizeLong();
      }
    }
    if (resp.events_size() > 0 && !SendEvents(w, std::move(resp))) return;  // still unsynced
    w->next_rev = last + 1;
  }
  w->synced = true;
  unsynced_.erase(w);
}

void WatchHub::Resume(const std::shared_ptr<WatchStream>& stream) {
  auto it = streams_.find(stream.get());
  if (it == streams_.end()) return;
  StreamState& s = *it->second;
  std::vector<Watcher*> behind;
  for (auto& [id, w] : s.watchers) {
    if (!w->synced) behind.push_back(w.get());
  }
  for (Watcher* w : behind) {
    CatchUp(w);  // may remove w
  }
  AnswerProgressIfCaughtUp(s);
}

void WatchHub::AnswerProgressIfCaughtUp(StreamState& s) {
  if (!s.progress_requested) return;
  const int64_t current = dispatched_;
  for (const auto& [id, w] : s.watchers) {
    if (!w->synced || w->next_rev > current + 1) return;  // answered once they are caught up
  }
  s.progress_requested = false;
  progress_pending_.erase(&s);
  s.stream->SendControl(NewResponse(-1, current));
}

absl::Time WatchHub::Tick(absl::Time now) {
  if (now < next_tick_) return next_tick_;
  const int64_t current = dispatched_;
  for (auto& [ptr, s] : streams_) {
    for (auto& [id, w] : s->watchers) {
      if (w->progress_notify && w->synced && !w->sent_since_tick && w->next_rev <= current + 1) {
        s->stream->SendControl(NewResponse(w->id, current));
      }
      w->sent_since_tick = false;
    }
  }
  next_tick_ = now + options_.progress_interval;
  return next_tick_;
}

}  // namespace rametcd::watch
