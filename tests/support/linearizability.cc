#include "support/linearizability.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <optional>
#include <string_view>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/util/message_differencer.h"
#include "grpcpp/client_context.h"

namespace rametcd::testing {
namespace {

using etcdserverpb::Compare;
using etcdserverpb::RangeRequest;
using etcdserverpb::RangeResponse;
using etcdserverpb::RequestOp;
using etcdserverpb::ResponseOp;
using etcdserverpb::TxnRequest;
using etcdserverpb::TxnResponse;
using mvccpb::Event;
using mvccpb::KeyValue;

constexpr size_t kMaxViolations = 200;
constexpr int kMaxViolationsPerWatch = 10;
const std::string kNul(1, '\0');

// etcd's key ranges: an empty end is the key alone, "\0" every key from `begin` on.
bool InRange(std::string_view key, std::string_view begin, std::string_view end) {
  if (end.empty()) return key == begin;
  if (end == kNul) return key >= begin;
  return key >= begin && key < end;
}

// ---- Descriptions, for readable violations.

std::string Quote(std::string_view s) {
  constexpr size_t kShown = 48;
  return absl::StrCat("\"", absl::CHexEscape(std::string(s.substr(0, kShown))),
                      s.size() > kShown ? "..." : "", "\"");
}

std::string RangeText(const std::string& key, const std::string& end) {
  if (end.empty()) return Quote(key);
  if (end == kNul) return absl::StrCat("[", Quote(key), ", end)");
  return absl::StrCat("[", Quote(key), ", ", Quote(end), ")");
}

std::string Truncated(std::string s, size_t max = 600) {
  if (s.size() > max) s = s.substr(0, max) + " ...";
  return s;
}

std::string DescribeKv(const KeyValue& kv) {
  return absl::StrCat("{", Quote(kv.key()), " = ", Quote(kv.value()), " create ",
                      kv.create_revision(), " mod ", kv.mod_revision(), " version ", kv.version(),
                      kv.lease() != 0 ? absl::StrCat(" lease ", kv.lease()) : "", "}");
}

std::string DescribeEvent(const Event& e) {
  std::string s = e.type() == Event::PUT
                      ? absl::StrCat("PUT ", DescribeKv(e.kv()))
                      : absl::StrCat("DELETE ", Quote(e.kv().key()), " @", e.kv().mod_revision());
  if (e.has_prev_kv()) absl::StrAppend(&s, " prev ", DescribeKv(e.prev_kv()));
  return s;
}

std::string DescribeEvents(const std::vector<Event>& events) {
  std::vector<std::string> parts;
  for (const Event& e : events) parts.push_back(DescribeEvent(e));
  return Truncated(absl::StrCat("[", absl::StrJoin(parts, ", "), "]"));
}

std::string DescribeCompare(const Compare& c) {
  static const char* const kTargets[] = {"version", "create", "mod", "value", "lease"};
  static const char* const kResults[] = {"==", ">", "<", "!="};
  std::string operand;
  switch (c.target()) {
    case Compare::VERSION:
      operand = absl::StrCat(c.version());
      break;
    case Compare::CREATE:
      operand = absl::StrCat(c.create_revision());
      break;
    case Compare::MOD:
      operand = absl::StrCat(c.mod_revision());
      break;
    case Compare::VALUE:
      operand = Quote(c.value());
      break;
    case Compare::LEASE:
      operand = absl::StrCat(c.lease());
      break;
    default:
      break;
  }
  const int target = c.target();
  const int result = c.result();
  return absl::StrCat(target >= 0 && target < 5 ? kTargets[target] : "?", "(",
                      RangeText(c.key(), c.range_end()), ") ",
                      result >= 0 && result < 4 ? kResults[result] : "?", " ", operand);
}

std::string DescribeRequest(const RequestOp& op) {
  switch (op.request_case()) {
    case RequestOp::kRequestRange: {
      const RangeRequest& r = op.request_range();
      return absl::StrCat("range ", RangeText(r.key(), r.range_end()),
                          r.revision() != 0 ? absl::StrCat(" at revision ", r.revision()) : "",
                          r.limit() != 0 ? absl::StrCat(" limit ", r.limit()) : "",
                          r.keys_only() ? " keys-only" : "", r.count_only() ? " count-only" : "");
    }
    case RequestOp::kRequestPut:
      return absl::StrCat("put ", Quote(op.request_put().key()), " = ",
                          Quote(op.request_put().value()));
    case RequestOp::kRequestDeleteRange:
      return absl::StrCat("delete ", RangeText(op.request_delete_range().key(),
                                               op.request_delete_range().range_end()));
    case RequestOp::kRequestTxn: {
      const TxnRequest& t = op.request_txn();
      std::vector<std::string> cmp, success, failure;
      for (const Compare& c : t.compare()) cmp.push_back(DescribeCompare(c));
      for (const RequestOp& o : t.success()) success.push_back(DescribeRequest(o));
      for (const RequestOp& o : t.failure()) failure.push_back(DescribeRequest(o));
      return absl::StrCat("txn if (", absl::StrJoin(cmp, " && "), ") then {",
                          absl::StrJoin(success, "; "), "} else {", absl::StrJoin(failure, "; "),
                          "}");
    }
    case RequestOp::REQUEST_NOT_SET:
      break;
  }
  return "(empty request)";
}

// ---- Responses.

bool IsWrite(const RequestOp& op) { return op.request_case() != RequestOp::kRequestRange; }

int64_t HeaderRevision(const ResponseOp& r) {
  switch (r.response_case()) {
    case ResponseOp::kResponseRange:
      return r.response_range().header().revision();
    case ResponseOp::kResponsePut:
      return r.response_put().header().revision();
    case ResponseOp::kResponseDeleteRange:
      return r.response_delete_range().header().revision();
    case ResponseOp::kResponseTxn:
      return r.response_txn().header().revision();
    case ResponseOp::RESPONSE_NOT_SET:
      break;
  }
  return 0;
}

// Whether an answered write reports that it changed something (and so holds its own revision).
bool Changed(const ResponseOp& r) {
  switch (r.response_case()) {
    case ResponseOp::kResponsePut:
      return true;
    case ResponseOp::kResponseDeleteRange:
      return r.response_delete_range().deleted() > 0;
    case ResponseOp::kResponseTxn:
      return std::any_of(r.response_txn().responses().begin(), r.response_txn().responses().end(),
                         [](const ResponseOp& sub) { return Changed(sub); });
    default:
      return false;
  }
}

void ClearHeaders(ResponseOp* r) {
  switch (r->response_case()) {
    case ResponseOp::kResponseRange:
      r->mutable_response_range()->clear_header();
      break;
    case ResponseOp::kResponsePut:
      r->mutable_response_put()->clear_header();
      break;
    case ResponseOp::kResponseDeleteRange:
      r->mutable_response_delete_range()->clear_header();
      break;
    case ResponseOp::kResponseTxn:
      r->mutable_response_txn()->clear_header();
      for (ResponseOp& sub : *r->mutable_response_txn()->mutable_responses()) ClearHeaders(&sub);
      break;
    case ResponseOp::RESPONSE_NOT_SET:
      break;
  }
}

// "" when the two answers are equal but for their headers, else both.
std::string DiffAnswers(ResponseOp want, ResponseOp got) {
  ClearHeaders(&want);
  ClearHeaders(&got);
  if (google::protobuf::util::MessageDifferencer::Equals(want, got)) return "";
  return absl::StrCat("answered ", Truncated(got.ShortDebugString()), "; expected ",
                      Truncated(want.ShortDebugString()));
}

// ---- The rebuilt history: every key's versions.

class Versions {
 public:
  std::optional<KeyValue> Get(const std::string& key, int64_t rev) const {
    auto it = keys_.find(key);
    if (it == keys_.end()) return std::nullopt;
    return At(it->second, rev);
  }
  // The live keys of a range at `rev`, in key order.
  std::vector<KeyValue> Range(const std::string& begin, const std::string& end, int64_t rev) const {
    std::vector<KeyValue> out;
    if (end.empty()) {
      if (auto kv = Get(begin, rev)) out.push_back(std::move(*kv));
      return out;
    }
    for (auto it = keys_.lower_bound(begin); it != keys_.end() && (end == kNul || it->first < end);
         ++it) {
      if (auto kv = At(it->second, rev)) out.push_back(std::move(*kv));
    }
    return out;
  }
  void Apply(int64_t rev, const std::vector<Event>& events) {
    for (const Event& e : events) {
      keys_[e.kv().key()].push_back(
          {rev, e.type() == Event::PUT ? std::make_optional(e.kv()) : std::nullopt});
    }
  }

 private:
  struct Version {
    int64_t rev;
    std::optional<KeyValue> kv;  // nullopt: deleted
  };
  static std::optional<KeyValue> At(const std::vector<Version>& versions, int64_t rev) {
    auto pos = std::upper_bound(versions.begin(), versions.end(), rev,
                                [](int64_t r, const Version& v) { return r < v.rev; });
    if (pos == versions.begin()) return std::nullopt;
    return std::prev(pos)->kv;
  }
  std::map<std::string, std::vector<Version>> keys_;
};

class View {
 public:
  virtual ~View() = default;
  virtual std::optional<KeyValue> Get(const std::string& key) const = 0;
  virtual std::vector<KeyValue> Range(const std::string& begin, const std::string& end) const = 0;
};

class AtRevision final : public View {
 public:
  AtRevision(const Versions& versions, int64_t rev) : versions_(versions), rev_(rev) {}
  std::optional<KeyValue> Get(const std::string& key) const override {
    return versions_.Get(key, rev_);
  }
  std::vector<KeyValue> Range(const std::string& begin, const std::string& end) const override {
    return versions_.Range(begin, end, rev_);
  }

 private:
  const Versions& versions_;
  const int64_t rev_;
};

// What a write sees while it applies: `base` with the write's own changes so far.
class Overlay final : public View {
 public:
  explicit Overlay(const View& base) : base_(base) {}
  std::optional<KeyValue> Get(const std::string& key) const override {
    auto it = changes_.find(key);
    return it != changes_.end() ? it->second : base_.Get(key);
  }
  std::vector<KeyValue> Range(const std::string& begin, const std::string& end) const override {
    std::map<std::string, KeyValue> merged;
    for (KeyValue& kv : base_.Range(begin, end)) merged[kv.key()] = std::move(kv);
    for (const auto& [key, kv] : changes_) {
      if (!InRange(key, begin, end)) continue;
      if (kv.has_value()) {
        merged[key] = *kv;
      } else {
        merged.erase(key);
      }
    }
    std::vector<KeyValue> out;
    for (auto& [key, kv] : merged) out.push_back(std::move(kv));
    return out;
  }
  void Set(const std::string& key, std::optional<KeyValue> kv) { changes_[key] = std::move(kv); }
  const std::map<std::string, std::optional<KeyValue>>& changes() const { return changes_; }

 private:
  const View& base_;
  std::map<std::string, std::optional<KeyValue>> changes_;
};

// etcd's range: count of every key in range, `limit` of them, keys_only / count_only.
RangeResponse RangeOn(const View& view, const RangeRequest& req,
                      std::vector<std::string>* problems) {
  if (req.sort_order() != RangeRequest::NONE || req.sort_target() != RangeRequest::KEY ||
      req.min_mod_revision() != 0 || req.max_mod_revision() != 0 ||
      req.min_create_revision() != 0 || req.max_create_revision() != 0) {
    problems->push_back("the checker does not model sorted or filtered ranges");
  }
  RangeResponse resp;
  std::vector<KeyValue> kvs = view.Range(req.key(), req.range_end());
  resp.set_count(static_cast<int64_t>(kvs.size()));
  if (req.count_only()) return resp;
  size_t n = kvs.size();
  if (req.limit() > 0 && n > static_cast<size_t>(req.limit())) {
    n = static_cast<size_t>(req.limit());
    resp.set_more(true);
  }
  for (size_t i = 0; i < n; ++i) {
    KeyValue* kv = resp.add_kvs();
    *kv = std::move(kvs[i]);
    if (req.keys_only()) kv->clear_value();
  }
  return resp;
}

// etcd's compareKV / applyCompare: a missing key compares as a zero KeyValue, except by value.
bool CompareHolds(const View& view, const Compare& c) {
  auto holds = [&c](const KeyValue& kv) {
    int cmp = 0;
    auto three_way = [](auto a, auto b) { return a < b ? -1 : (a > b ? 1 : 0); };
    switch (c.target()) {
      case Compare::VERSION:
        cmp = three_way(kv.version(), c.version());
        break;
      case Compare::CREATE:
        cmp = three_way(kv.create_revision(), c.create_revision());
        break;
      case Compare::MOD:
        cmp = three_way(kv.mod_revision(), c.mod_revision());
        break;
      case Compare::VALUE:
        cmp = three_way(kv.value(), c.value());
        break;
      case Compare::LEASE:
        cmp = three_way(kv.lease(), c.lease());
        break;
      default:
        break;
    }
    switch (c.result()) {
      case Compare::EQUAL:
        return cmp == 0;
      case Compare::GREATER:
        return cmp > 0;
      case Compare::LESS:
        return cmp < 0;
      case Compare::NOT_EQUAL:
        return cmp != 0;
      default:
        return true;
    }
  };
  std::vector<KeyValue> kvs = view.Range(c.key(), c.range_end());
  if (kvs.empty()) return c.target() != Compare::VALUE && holds(KeyValue());
  return std::all_of(kvs.begin(), kvs.end(), holds);
}

// One request applied to a state as etcd's applier applies it: one revision for all its changes,
// txn compares (nested ones too) decided on the state before it, reads inside a txn seeing its
// earlier writes.
class Evaluator {
 public:
  // `base`: the state at `base_revision`; changes get base_revision + 1. `versions` serves ranges
  // that ask for a revision.
  Evaluator(const View& base, int64_t base_revision, const Versions& versions)
      : base_(base), overlay_(base), base_revision_(base_revision), versions_(versions) {}

  // What the server should answer to `op`. With `reported` (the server's answer), txns take the
  // branches it reports, so that the effect follows what the server did; a compare that
  // disagrees is a problem.
  ResponseOp Apply(const RequestOp& op, const ResponseOp* reported) {
    ResponseOp out;
    const int64_t rev = base_revision_ + 1;
    switch (op.request_case()) {
      case RequestOp::kRequestRange: {
        const RangeRequest& r = op.request_range();
        if (r.revision() > 0) {
          *out.mutable_response_range() =
              RangeOn(AtRevision(versions_, std::min(r.revision(), base_revision_)), r, &problems_);
        } else {
          *out.mutable_response_range() = RangeOn(overlay_, r, &problems_);
        }
        break;
      }
      case RequestOp::kRequestPut: {
        const etcdserverpb::PutRequest& p = op.request_put();
        if (p.ignore_value() || p.ignore_lease()) {
          problems_.push_back("the checker does not model ignore_value / ignore_lease");
        }
        std::optional<KeyValue> prev = overlay_.Get(p.key());
        KeyValue kv;
        kv.set_key(p.key());
        kv.set_value(p.value());
        kv.set_lease(p.lease());
        kv.set_mod_revision(rev);
        kv.set_create_revision(prev.has_value() ? prev->create_revision() : rev);
        kv.set_version(prev.has_value() ? prev->version() + 1 : 1);
        overlay_.Set(p.key(), std::move(kv));
        auto* resp = out.mutable_response_put();
        if (p.prev_kv() && prev.has_value()) *resp->mutable_prev_kv() = std::move(*prev);
        break;
      }
      case RequestOp::kRequestDeleteRange: {
        const etcdserverpb::DeleteRangeRequest& d = op.request_delete_range();
        auto* resp = out.mutable_response_delete_range();
        std::vector<KeyValue> kvs = overlay_.Range(d.key(), d.range_end());
        resp->set_deleted(static_cast<int64_t>(kvs.size()));
        for (KeyValue& kv : kvs) {
          overlay_.Set(kv.key(), std::nullopt);
          if (d.prev_kv()) *resp->add_prev_kvs() = std::move(kv);
        }
        break;
      }
      case RequestOp::kRequestTxn:
        ApplyTxn(op.request_txn(),
                 reported != nullptr && reported->has_response_txn() ? &reported->response_txn()
                                                                     : nullptr,
                 out.mutable_response_txn());
        break;
      case RequestOp::REQUEST_NOT_SET:
        problems_.push_back("an empty request op");
        break;
    }
    return out;
  }

  // The changes made so far, in key order, each with its prev_kv.
  std::vector<Event> Events() const {
    std::vector<Event> events;
    for (const auto& [key, kv] : overlay_.changes()) {
      std::optional<KeyValue> prev = base_.Get(key);
      Event e;
      if (kv.has_value()) {
        e.set_type(Event::PUT);
        *e.mutable_kv() = *kv;
      } else {
        if (!prev.has_value()) continue;
        e.set_type(Event::DELETE);
        e.mutable_kv()->set_key(key);
        e.mutable_kv()->set_mod_revision(base_revision_ + 1);
      }
      if (prev.has_value()) *e.mutable_prev_kv() = std::move(*prev);
      events.push_back(std::move(e));
    }
    return events;
  }

  const std::vector<std::string>& problems() const { return problems_; }

 private:
  void ApplyTxn(const TxnRequest& req, const TxnResponse* reported, TxnResponse* out) {
    bool holds = true;
    for (const Compare& c : req.compare()) holds = holds && CompareHolds(base_, c);
    bool taken = holds;
    if (reported != nullptr && reported->succeeded() != holds) {
      problems_.push_back(absl::StrCat("its compares are ", holds ? "true" : "false",
                                       " at revision ", base_revision_, " but the server took the ",
                                       reported->succeeded() ? "success" : "failure", " branch"));
      taken = reported->succeeded();
    }
    out->set_succeeded(taken);
    const auto& ops = taken ? req.success() : req.failure();
    for (int i = 0; i < ops.size(); ++i) {
      const ResponseOp* sub =
          reported != nullptr && i < reported->responses_size() ? &reported->responses(i) : nullptr;
      *out->add_responses() = Apply(ops[i], sub);
    }
  }

  const View& base_;
  Overlay overlay_;
  const int64_t base_revision_;
  const Versions& versions_;
  std::vector<std::string> problems_;
};

// ---- What the history saw.

// A key as some answer showed it at a revision.
struct Evidence {
  std::string key;
  bool put = true;
  bool value_known = true;  // false for keys_only ranges
  KeyValue kv;              // for puts
};

// Something that proves the server had reached `revision` by the time `at`.
struct Observation {
  LinClock::time_point at;
  int64_t revision = 0;
  int op = -1;     // index into the operations, or
  int watch = -1;  // the watch record
};

// Answers "what is the newest revision seen before t" and "when was revision r (or a newer one)
// first seen".
class RevisionsSeen {
 public:
  explicit RevisionsSeen(std::vector<Observation> observations) : by_time_(observations) {
    std::sort(by_time_.begin(), by_time_.end(),
              [](const Observation& a, const Observation& b) { return a.at < b.at; });
    for (size_t i = 0; i < by_time_.size(); ++i) {
      max_upto_.push_back(i > 0 && by_time_[max_upto_[i - 1]].revision >= by_time_[i].revision
                              ? max_upto_[i - 1]
                              : i);
    }
    by_revision_ = std::move(observations);
    std::sort(by_revision_.begin(), by_revision_.end(),
              [](const Observation& a, const Observation& b) { return a.revision < b.revision; });
    first_from_.resize(by_revision_.size());
    for (size_t i = by_revision_.size(); i-- > 0;) {
      first_from_[i] =
          i + 1 < by_revision_.size() && by_revision_[first_from_[i + 1]].at <= by_revision_[i].at
              ? first_from_[i + 1]
              : i;
    }
  }

  // The observation of the newest revision among those made strictly before `t`.
  const Observation* NewestBefore(LinClock::time_point t) const {
    auto it =
        std::lower_bound(by_time_.begin(), by_time_.end(), t,
                         [](const Observation& o, LinClock::time_point x) { return o.at < x; });
    if (it == by_time_.begin()) return nullptr;
    return &by_time_[max_upto_[it - by_time_.begin() - 1]];
  }
  // The earliest observation of a revision >= `rev`.
  const Observation* FirstFrom(int64_t rev) const {
    auto it = std::lower_bound(by_revision_.begin(), by_revision_.end(), rev,
                               [](const Observation& o, int64_t r) { return o.revision < r; });
    if (it == by_revision_.end()) return nullptr;
    return &by_revision_[first_from_[it - by_revision_.begin()]];
  }

 private:
  std::vector<Observation> by_time_;
  std::vector<size_t> max_upto_;
  std::vector<Observation> by_revision_;
  std::vector<size_t> first_from_;
};

bool WatchWants(const etcdserverpb::WatchCreateRequest& create, const Event& e);

// The revisions a watch record speaks for: from its start to the newest revision it delivered or
// was told (progress) it had everything up to. `created` is its created response (-1: none, or
// refused).
struct WatchSpan {
  int created = -1;
  int64_t from = 0, to = -1;
};

WatchSpan SpanOf(const WatchRecord& record) {
  WatchSpan span;
  const auto& received = record.received;
  size_t i = 0;
  while (i < received.size() && !received[i].response.created()) ++i;
  if (i == received.size() || received[i].response.canceled()) return span;
  span.created = static_cast<int>(i);
  span.from = record.create.start_revision() > 0 ? record.create.start_revision()
                                                 : received[i].response.header().revision() + 1;
  for (++i; i < received.size() && !received[i].response.canceled(); ++i) {
    const etcdserverpb::WatchResponse& resp = received[i].response;
    if (resp.events_size() == 0 && !resp.created())
      span.to = std::max(span.to, resp.header().revision());
    for (const Event& e : resp.events()) span.to = std::max(span.to, e.kv().mod_revision());
  }
  return span;
}

// What one watch delivered at one revision: all the changes in its range.
struct WatchView {
  const etcdserverpb::WatchCreateRequest* create;
  std::vector<std::pair<std::string, bool>> changes;  // (key, put), sorted
};

// Whether the changes one write makes at a revision agree with everything seen at it: the keys
// as answers showed them, and exactly the keys each watch delivered in its range.
bool Agrees(const std::vector<Event>& events, const std::vector<Evidence>& evidence,
            const std::vector<WatchView>& views) {
  for (const WatchView& view : views) {
    std::vector<std::pair<std::string, bool>> wanted;
    for (const Event& e : events) {
      if (WatchWants(*view.create, e)) wanted.emplace_back(e.kv().key(), e.type() == Event::PUT);
    }
    std::sort(wanted.begin(), wanted.end());
    if (wanted != view.changes) return false;
  }
  for (const Evidence& ev : evidence) {
    auto it = std::find_if(events.begin(), events.end(),
                           [&](const Event& e) { return e.kv().key() == ev.key; });
    if (it == events.end() || (it->type() == Event::PUT) != ev.put) return false;
    if (!ev.put) continue;
    if (ev.value_known && it->kv().value() != ev.kv.value()) return false;
    if (it->kv().create_revision() != ev.kv.create_revision() ||
        it->kv().version() != ev.kv.version() || it->kv().lease() != ev.kv.lease()) {
      return false;
    }
  }
  return true;
}

bool WatchWants(const etcdserverpb::WatchCreateRequest& create, const Event& e) {
  const std::string& begin = create.key().empty() ? kNul : create.key();
  if (!InRange(e.kv().key(), begin, create.range_end())) return false;
  for (int f : create.filters()) {
    if (f == etcdserverpb::WatchCreateRequest::NOPUT && e.type() == Event::PUT) return false;
    if (f == etcdserverpb::WatchCreateRequest::NODELETE && e.type() == Event::DELETE) return false;
  }
  return true;
}

class Checker {
 public:
  explicit Checker(const History& history) : h_(history) {
    t0_ = LinClock::time_point::max();
    for (const KvOperation& op : h_.operations) t0_ = std::min(t0_, op.start);
    for (const WatchRecord& w : h_.watches) t0_ = std::min(t0_, w.start);
    crashes_ = h_.crashes;
    std::sort(crashes_.begin(), crashes_.end(),
              [](const Crash& a, const Crash& b) { return a.at < b.at; });
  }

  LinearizabilityReport Run() {
    RevisionsSeen seen(Classify());
    CheckCrashes(seen);
    Rebuild(seen);
    CheckRealTime(seen);
    CheckAnswers(seen);
    for (size_t w = 0; w < h_.watches.size(); ++w) CheckWatch(static_cast<int>(w));
    report_.revision = max_revision_;
    return std::move(report_);
  }

 private:
  // ---- Messages.
  void Violation(std::string message) {
    if (report_.violations.size() < kMaxViolations) {
      report_.violations.push_back(std::move(message));
    } else {
      ++report_.violations_not_shown;
    }
  }
  std::string At(LinClock::time_point t) const {
    char text[32];
    std::snprintf(text, sizeof(text), "+%.6fs", std::chrono::duration<double>(t - t0_).count());
    return text;
  }
  std::string Op(int i) const {
    const KvOperation& op = h_.operations[i];
    return absl::StrCat("client ", op.client, " ", Truncated(DescribeRequest(op.request), 300),
                        " [", At(op.start), " .. ", At(op.end), "]");
  }
  std::string Watch(int w) const {
    const WatchRecord& r = h_.watches[w];
    return absl::StrCat(
        "watch of client ", r.client, " on ",
        RangeText(r.create.key().empty() ? kNul : r.create.key(), r.create.range_end()),
        " from revision ", r.create.start_revision(), " (opened ", At(r.start), ")");
  }
  std::string Seen(const Observation& o) const {
    return absl::StrCat("revision ", o.revision, " was seen by ",
                        o.op >= 0 ? Op(o.op) : absl::StrCat("a response to the ", Watch(o.watch)),
                        " at ", At(o.at));
  }

  // ---- Pass 1: who claims which revision, what was seen.
  std::vector<Observation> Classify() {
    std::vector<Observation> observations;
    for (size_t i = 0; i < h_.operations.size(); ++i) {
      const int id = static_cast<int>(i);
      const KvOperation& op = h_.operations[i];
      if (!op.status.ok()) {
        if (IsWrite(op.request) && OutcomeUnknown(op.status)) unknown_.push_back(id);
        continue;
      }
      const int64_t rev = HeaderRevision(op.response);
      max_revision_ = std::max(max_revision_, rev);
      observations.push_back({op.end, rev, id, -1});
      if (IsWrite(op.request)) ++report_.acknowledged_writes;
      if (IsWrite(op.request) && Changed(op.response)) {
        if (rev < 2) {
          Violation(absl::StrCat(Op(id), " changed something at revision ", rev));
          continue;
        }
        claims_[rev].push_back(id);
      } else {
        answered_.push_back(id);
      }
      CollectEvidence(op.request, op.response);
    }
    std::sort(unknown_.begin(), unknown_.end(),
              [this](int a, int b) { return h_.operations[a].start < h_.operations[b].start; });
    placed_.assign(unknown_.size(), false);
    report_.unknown_writes = unknown_.size();
    for (size_t w = 0; w < h_.watches.size(); ++w) {
      spans_.push_back(SpanOf(h_.watches[w]));
      for (const WatchRecord::Received& r : h_.watches[w].received) {
        const etcdserverpb::WatchResponse& resp = r.response;
        if (resp.header().revision() > 0) {
          observations.push_back({r.at, resp.header().revision(), -1, static_cast<int>(w)});
          max_revision_ = std::max(max_revision_, resp.header().revision());
        }
        for (const Event& e : resp.events()) {
          AddEvidence(e.kv(), e.type() == Event::PUT, true);
          if (e.has_prev_kv()) AddEvidence(e.prev_kv(), true, true);
          delivered_[e.kv().mod_revision()][static_cast<int>(w)].emplace_back(
              e.kv().key(), e.type() == Event::PUT);
        }
      }
    }
    return observations;
  }

  void AddEvidence(const KeyValue& kv, bool put, bool value_known) {
    if (kv.mod_revision() <= 0) return;
    max_revision_ = std::max(max_revision_, kv.mod_revision());
    Evidence ev{kv.key(), put, value_known, {}};
    if (put) ev.kv = kv;
    evidence_[kv.mod_revision()].push_back(std::move(ev));
  }

  void CollectEvidence(const RequestOp& req, const ResponseOp& resp) {
    switch (resp.response_case()) {
      case ResponseOp::kResponseRange:
        for (const KeyValue& kv : resp.response_range().kvs()) {
          AddEvidence(kv, true, !req.request_range().keys_only());
        }
        break;
      case ResponseOp::kResponsePut:
        if (resp.response_put().has_prev_kv())
          AddEvidence(resp.response_put().prev_kv(), true, true);
        break;
      case ResponseOp::kResponseDeleteRange:
        for (const KeyValue& kv : resp.response_delete_range().prev_kvs()) {
          AddEvidence(kv, true, true);
        }
        break;
      case ResponseOp::kResponseTxn: {
        if (!req.has_request_txn()) break;
        const TxnResponse& t = resp.response_txn();
        const auto& ops = t.succeeded() ? req.request_txn().success() : req.request_txn().failure();
        for (int i = 0; i < std::min(ops.size(), t.responses_size()); ++i) {
          CollectEvidence(ops[i], t.responses(i));
        }
        break;
      }
      case ResponseOp::RESPONSE_NOT_SET:
        break;
    }
  }

  // What every watch that speaks for `rev` delivered there (nothing: its range did not change).
  std::vector<WatchView> ViewsAt(int64_t rev) const {
    std::vector<WatchView> views;
    auto it = delivered_.find(rev);
    for (size_t w = 0; w < spans_.size(); ++w) {
      if (rev < spans_[w].from || rev > spans_[w].to) continue;
      views.push_back({&h_.watches[w].create, {}});
      if (it == delivered_.end()) continue;
      auto changes = it->second.find(static_cast<int>(w));
      if (changes == it->second.end()) continue;
      views.back().changes = changes->second;
      std::sort(views.back().changes.begin(), views.back().changes.end());
    }
    return views;
  }

  // A restarted server must hold every revision seen before the crash.
  void CheckCrashes(const RevisionsSeen& seen) {
    for (const Crash& crash : crashes_) {
      const Observation* newest = seen.NewestBefore(crash.at);
      if (newest == nullptr || newest->revision <= crash.recovered_revision) continue;
      Violation(absl::StrCat("lost on a crash: the server killed at ", At(crash.at),
                             " came back at revision ", crash.recovered_revision, ", but ",
                             Seen(*newest), ", before the crash"));
    }
  }

  // ---- Pass 2: the state at every revision.
  void Record(int64_t rev, int writer, std::vector<Event> events) {
    versions_.Apply(rev, events);
    effects_[rev] = std::move(events);
    writer_[rev] = writer;
  }

  void Rebuild(const RevisionsSeen& seen) {
    effects_.assign(max_revision_ + 1, {});
    writer_.assign(max_revision_ + 1, -1);
    static const std::vector<Evidence> kNone;
    for (int64_t rev = 2; rev <= max_revision_; ++rev) {
      const AtRevision before(versions_, rev - 1);
      if (auto claim = claims_.find(rev); claim != claims_.end()) {
        const std::vector<int>& ids = claim->second;
        if (ids.size() > 1) {
          std::vector<std::string> ops;
          for (int id : ids) ops.push_back(Op(id));
          Violation(absl::StrCat("revision ", rev, " was given to ", ids.size(),
                                 " acknowledged writes: ", absl::StrJoin(ops, "; ")));
        }
        const KvOperation& op = h_.operations[ids[0]];
        Evaluator eval(before, rev - 1, versions_);
        const ResponseOp want = eval.Apply(op.request, &op.response);
        std::vector<Event> events = eval.Events();
        std::string diff = DiffAnswers(want, op.response);
        for (const std::string& p : eval.problems())
          absl::StrAppend(&diff, diff.empty() ? "" : "; ", p);
        if (!diff.empty()) {
          Violation(absl::StrCat(Op(ids[0]), " holds revision ", rev, " but on the state at ",
                                 rev - 1, " it does not give its answer: ", diff));
        }
        if (events.empty()) {
          Violation(absl::StrCat(Op(ids[0]), " reports a change at revision ", rev,
                                 " but on the state at ", rev - 1, " it changes nothing"));
        }
        Record(rev, ids[0], std::move(events));
        continue;
      }
      // No acknowledged write holds `rev`: one whose outcome is unknown must have made it.
      auto found = evidence_.find(rev);
      const std::vector<Evidence>& evidence = found == evidence_.end() ? kNone : found->second;
      const Observation* first = seen.FirstFrom(rev);
      std::vector<std::pair<size_t, std::vector<Event>>> fits;
      for (size_t u = 0; u < unknown_.size(); ++u) {
        const KvOperation& op = h_.operations[unknown_[u]];
        if (first != nullptr && op.start >= first->at) break;  // sorted by start
        if (placed_[u]) continue;
        const Observation* newest = seen.NewestBefore(op.start);
        if (newest != nullptr && newest->revision >= rev) continue;
        auto crash =
            std::upper_bound(crashes_.begin(), crashes_.end(), op.start,
                             [](LinClock::time_point t, const Crash& c) { return t < c.at; });
        if (crash != crashes_.end() && rev > crash->recovered_revision) continue;
        Evaluator eval(before, rev - 1, versions_);
        eval.Apply(op.request, nullptr);
        std::vector<Event> events = eval.Events();
        if (events.empty() || !Agrees(events, evidence, ViewsAt(rev))) continue;
        fits.emplace_back(u, std::move(events));
      }
      if (fits.empty()) {
        std::vector<std::string> seen_at;
        for (const Evidence& ev : evidence) {
          seen_at.push_back(ev.put ? absl::StrCat("PUT ", DescribeKv(ev.kv))
                                   : absl::StrCat("DELETE ", Quote(ev.key)));
        }
        size_t quiet = 0;  // watches that speak for `rev` and saw nothing change there
        for (const WatchView& view : ViewsAt(rev)) quiet += view.changes.empty();
        Violation(absl::StrCat(
            "revision ", rev,
            " is held by no acknowledged write, and no write with an unknown outcome explains it",
            first != nullptr ? absl::StrCat(" (", Seen(*first), ")") : "",
            seen_at.empty() ? "" : absl::StrCat("; seen at it: ", absl::StrJoin(seen_at, ", ")),
            quiet > 0 ? absl::StrCat("; ", quiet, " watches saw no change at it in their range")
                      : ""));
        continue;
      }
      for (size_t f = 1; f < fits.size(); ++f) {
        if (DescribeEvents(fits[f].second) != DescribeEvents(fits[0].second)) {
          ++report_.ambiguous_revisions;
          break;
        }
      }
      placed_[fits[0].first] = true;
      ++report_.unknown_writes_applied;
      Record(rev, unknown_[fits[0].first], std::move(fits[0].second));
    }
  }

  // ---- Pass 3: real-time order.
  void CheckRealTime(const RevisionsSeen& seen) {
    for (size_t i = 0; i < h_.operations.size(); ++i) {
      const KvOperation& op = h_.operations[i];
      if (!op.status.ok()) continue;
      const Observation* newest = seen.NewestBefore(op.start);
      if (newest == nullptr) continue;
      const int64_t rev = HeaderRevision(op.response);
      const bool holds_revision = IsWrite(op.request) && Changed(op.response);
      if (holds_revision && rev <= newest->revision) {
        Violation(absl::StrCat("real-time order: ", Op(static_cast<int>(i)), " got revision ", rev,
                               ", but before it started ", Seen(*newest)));
      } else if (!holds_revision && rev < newest->revision) {
        Violation(absl::StrCat("stale answer: ", Op(static_cast<int>(i)), " answered at revision ",
                               rev, ", but before it started ", Seen(*newest)));
      }
    }
    for (int64_t rev = 2; rev <= max_revision_; ++rev) {
      const int w = writer_[rev];
      const Observation* first = seen.FirstFrom(rev);
      if (w < 0 || first == nullptr || first->at > h_.operations[w].start) continue;
      Violation(absl::StrCat("answer from the future: revision ", rev, " is ", Op(w), ", but ",
                             Seen(*first), ", before that write started"));
    }
  }

  // ---- Pass 4: reads and writes that changed nothing, at their revision.
  void CheckAnswers(const RevisionsSeen& seen) {
    for (int id : answered_) {
      const KvOperation& op = h_.operations[id];
      const int64_t header = HeaderRevision(op.response);
      ++report_.reads_checked;
      std::vector<std::string> problems;
      if (op.request.has_request_range()) {
        const RangeRequest& r = op.request.request_range();
        const int64_t at = r.revision() > 0 ? r.revision() : header;
        if (at > header) {
          Violation(absl::StrCat(Op(id), " was answered with header revision ", header,
                                 ", below the revision it asked for"));
        }
        ResponseOp want;
        *want.mutable_response_range() = RangeOn(AtRevision(versions_, at), r, &problems);
        std::string diff = DiffAnswers(want, op.response);
        for (const std::string& p : problems) absl::StrAppend(&diff, diff.empty() ? "" : "; ", p);
        if (!diff.empty()) {
          Violation(absl::StrCat(Op(id), " does not match the state at revision ", at, ": ", diff));
        }
        continue;
      }
      const AtRevision state(versions_, header);
      Evaluator eval(state, header, versions_);
      const ResponseOp want = eval.Apply(op.request, &op.response);
      std::string diff = DiffAnswers(want, op.response);
      for (const std::string& p : eval.problems())
        absl::StrAppend(&diff, diff.empty() ? "" : "; ", p);
      if (!eval.Events().empty()) {
        absl::StrAppend(&diff, diff.empty() ? "" : "; ", "there it would change ",
                        DescribeEvents(eval.Events()));
      }
      if (!diff.empty()) {
        Violation(absl::StrCat(Op(id), " changed nothing at revision ", header,
                               ", which does not match the state there: ", diff));
      }
    }
    // A range refused for a future revision that had already been seen.
    for (size_t i = 0; i < h_.operations.size(); ++i) {
      const KvOperation& op = h_.operations[i];
      if (op.status.code() != absl::StatusCode::kOutOfRange || !op.request.has_request_range() ||
          op.request.request_range().revision() <= 0 ||
          op.status.message().find("future") == std::string_view::npos) {
        continue;
      }
      const Observation* newest = seen.NewestBefore(op.start);
      if (newest != nullptr && newest->revision >= op.request.request_range().revision()) {
        Violation(absl::StrCat(Op(static_cast<int>(i)), " was refused as a future revision, but ",
                               Seen(*newest), ", before it started"));
      }
    }
  }

  // ---- Pass 5: watches.
  void CheckWatch(int w) {
    const WatchRecord& record = h_.watches[w];
    const auto& received = record.received;
    int reported = 0;
    auto violation = [&](std::string message) {
      if (reported++ < kMaxViolationsPerWatch) Violation(absl::StrCat(Watch(w), ": ", message));
    };
    if (spans_[w].created < 0) {
      if (!received.empty() &&
          std::none_of(received.begin(), received.end(),
                       [](const WatchRecord::Received& r) { return r.response.created(); })) {
        violation("no created response");
      }
      return;  // never created, or refused
    }
    size_t i = static_cast<size_t>(spans_[w].created);
    const int64_t start = spans_[w].from;
    // The revisions at which the watch's range changed, and those changes.
    auto expected_at = [&](int64_t rev) {
      std::vector<Event> out;
      if (rev < 2 || rev > max_revision_) return out;
      for (const Event& e : effects_[rev]) {
        if (!WatchWants(record.create, e)) continue;
        out.push_back(e);
        if (!record.create.prev_kv()) out.back().clear_prev_kv();
      }
      return out;
    };
    std::vector<int64_t> expected;
    for (int64_t rev = std::max<int64_t>(start, 2); rev <= max_revision_; ++rev) {
      if (!expected_at(rev).empty()) expected.push_back(rev);
    }
    size_t next = 0;   // the first expected revision not delivered yet
    int64_t last = 0;  // the newest revision delivered, its response and events
    size_t last_response = 0;
    std::vector<Event> last_events;
    for (++i; i < received.size(); ++i) {
      const etcdserverpb::WatchResponse& resp = received[i].response;
      if (resp.canceled()) break;
      if (resp.events_size() == 0) {
        if (resp.created()) continue;
        // Progress: every event up to its revision was sent.
        const int64_t progress = resp.header().revision();
        if (next < expected.size() && expected[next] <= progress) {
          violation(absl::StrCat("a progress notification at revision ", progress, " (",
                                 At(received[i].at), ") came before the events of revision ",
                                 expected[next], ": ",
                                 DescribeEvents(expected_at(expected[next]))));
          while (next < expected.size() && expected[next] <= progress) ++next;
        }
        continue;
      }
      for (int e = 0; e < resp.events_size();) {
        const int64_t rev = resp.events(e).kv().mod_revision();
        std::vector<Event> got;
        for (; e < resp.events_size() && resp.events(e).kv().mod_revision() == rev; ++e) {
          got.push_back(resp.events(e));
        }
        if (rev > resp.header().revision()) {
          violation(absl::StrCat("a response with header revision ", resp.header().revision(),
                                 " holds events of revision ", rev));
        }
        if (rev <= last) {
          const bool repeated =
              rev < last || i == last_response ||
              std::any_of(got.begin(), got.end(), [&](const Event& g) {
                return std::any_of(last_events.begin(), last_events.end(), [&](const Event& l) {
                  return google::protobuf::util::MessageDifferencer::Equals(g, l);
                });
              });
          violation(repeated
                        ? absl::StrCat("revision ", rev, " came again or out of order after ", last,
                                       " (", At(received[i].at), "): ", DescribeEvents(got))
                        : absl::StrCat("the events of revision ", rev,
                                       " came in more than one response (", At(received[i].at),
                                       ")"));
          if (rev == last) last_events.insert(last_events.end(), got.begin(), got.end());
          continue;
        }
        if (rev < start) {
          violation(absl::StrCat("events of revision ", rev, ", before its start revision ", start,
                                 ": ", DescribeEvents(got)));
        }
        if (next < expected.size() && expected[next] < rev) {
          violation(absl::StrCat("gap: the events of revision ", expected[next], " ",
                                 DescribeEvents(expected_at(expected[next])),
                                 " were never delivered; revision ", rev, " came next (",
                                 At(received[i].at), ")"));
          while (next < expected.size() && expected[next] < rev) ++next;
        }
        std::vector<Event> want = expected_at(rev);
        if (next < expected.size() && expected[next] == rev) ++next;
        std::stable_sort(got.begin(), got.end(), [](const Event& a, const Event& b) {
          return a.kv().key() < b.kv().key();
        });
        report_.watch_events_checked += got.size();
        bool same = got.size() == want.size();
        for (size_t k = 0; same && k < got.size(); ++k) {
          same = google::protobuf::util::MessageDifferencer::Equals(got[k], want[k]);
        }
        if (!same) {
          violation(absl::StrCat("revision ", rev, " delivered ", DescribeEvents(got),
                                 "; the writes give ", DescribeEvents(want),
                                 writer_[rev] >= 0 ? absl::StrCat(" (", Op(writer_[rev]), ")") : "",
                                 " (", At(received[i].at), ")"));
        }
        last = rev;
        last_response = i;
        last_events = std::move(got);
      }
    }
  }

  const History& h_;
  LinClock::time_point t0_;
  LinearizabilityReport report_;
  int64_t max_revision_ = 1;
  std::map<int64_t, std::vector<int>> claims_;  // revision -> acknowledged writes that changed
  std::vector<int> answered_;                   // answered reads and writes that changed nothing
  std::vector<int> unknown_;                    // writes with an unknown outcome, by start time
  std::vector<bool> placed_;                    // of unknown_: holds a revision
  std::map<int64_t, std::vector<Evidence>> evidence_;  // by mod revision
  // By revision, by watch record: the (key, put) changes it delivered.
  std::map<int64_t, std::map<int, std::vector<std::pair<std::string, bool>>>> delivered_;
  std::vector<Crash> crashes_;    // by time
  std::vector<WatchSpan> spans_;  // by watch record
  Versions versions_;
  std::vector<std::vector<Event>> effects_;  // by revision: the changes, in key order
  std::vector<int> writer_;                  // by revision: the operation, or -1
};

}  // namespace

std::string LinearizabilityReport::Summary() const {
  return absl::StrCat(revision, " revisions; ", acknowledged_writes, " acknowledged writes; ",
                      unknown_writes, " writes with an unknown outcome, ", unknown_writes_applied,
                      " of them applied (", ambiguous_revisions, " without evidence which); ",
                      reads_checked, " reads and no-op writes checked; ", watch_events_checked,
                      " watch events checked; ", violations.size() + violations_not_shown,
                      " violations");
}

LinearizabilityReport CheckHistory(const History& history) { return Checker(history).Run(); }

bool OutcomeUnknown(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kCancelled:
    case absl::StatusCode::kUnknown:
    case absl::StatusCode::kInternal:
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kDataLoss:
      return true;
    default:
      return false;
  }
}

KvOperation RunKvOperation(etcdserverpb::KV::Stub& kv, int client, const RequestOp& request,
                           absl::Duration timeout) {
  KvOperation op;
  op.client = client;
  op.request = request;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(timeout));
  grpc::Status s;
  op.start = LinClock::now();
  switch (request.request_case()) {
    case RequestOp::kRequestRange:
      s = kv.Range(&ctx, request.request_range(), op.response.mutable_response_range());
      break;
    case RequestOp::kRequestPut:
      s = kv.Put(&ctx, request.request_put(), op.response.mutable_response_put());
      break;
    case RequestOp::kRequestDeleteRange:
      s = kv.DeleteRange(&ctx, request.request_delete_range(),
                         op.response.mutable_response_delete_range());
      break;
    case RequestOp::kRequestTxn:
      s = kv.Txn(&ctx, request.request_txn(), op.response.mutable_response_txn());
      break;
    case RequestOp::REQUEST_NOT_SET:
      s = grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "empty request op");
      break;
  }
  op.end = LinClock::now();
  if (!s.ok()) {
    op.status = absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
    op.response.Clear();
  }
  return op;
}

}  // namespace rametcd::testing
