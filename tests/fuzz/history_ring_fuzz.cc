// libFuzzer target: operations on mvcc::HistoryRing checked against a model. The input's first
// three bytes are the ring's bounds (max_events, max_bytes); then each byte picks an operation
// and the next bytes its arguments:
//   Append   a revision 1..4 above the last one, with 0..7 events and 0..65535 bytes;
//   Reset    recovery's reset to a revision near the newest (as FinishRestore resets the ring to
//            the compaction point + 1); later revisions continue above both;
//   Read     what a watcher starting at a revision near covered_from() gets (watch_hub.cc): the
//            "no longer in the ring" answer below covered_from(), else the entries from
//            LowerBound(revision) on;
//   Hold     keep a reference to the oldest entry, as a catching-up watcher does.
// The model is every entry appended since the last reset. What the ring must keep is its longest
// suffix within both bounds, and at least the newest entry (the header's contract: the oldest
// revisions go first, and only while a bound is exceeded); covered_from() is the reset revision,
// or one past the newest entry dropped. After every operation: the kept entries, events(),
// bytes() and covered_from() match the model; a read from a covered revision returns exactly the
// model's entries from that revision on, in revision order, each with its own events; LowerBound
// agrees with the model at a probe revision; entries held across evictions keep their content.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "fuzz_support.h"
#include "mvcc/history_ring.h"

namespace rametcd::fuzz {
namespace {

constexpr size_t kMaxOps = 1024;  // the model is checked in O(entries) per operation
constexpr size_t kMaxHeld = 16;

struct ModelEntry {
  int64_t revision;
  size_t events;
  size_t bytes;
};

std::string EventKey(int64_t revision, size_t i) { return absl::StrCat("k", revision, "/", i); }

// The entry's events identify it: event i of revision r is a PUT of key "k<r>/<i>" at r.
void CheckEntry(const mvcc::RevisionEvents& e, const ModelEntry& want) {
  Require(e.revision == want.revision && e.events.size() == want.events && e.bytes == want.bytes,
          absl::StrCat("entry of revision ", e.revision, " is not the one appended at ",
                       want.revision));
  for (size_t i = 0; i < e.events.size(); ++i) {
    Require(e.events[i].key.view() == EventKey(want.revision, i) &&
                e.events[i].kv.mod_revision == want.revision,
            absl::StrCat("an event of revision ", want.revision, " changed"));
  }
}

class Harness {
 public:
  explicit Harness(const mvcc::HistoryRing::Options& options) : options_(options), ring_(options) {}

  void Run(InputReader& in) {
    for (size_t n = 0; n < kMaxOps && !in.empty(); ++n) {
      switch (in.U8() % 4) {
        case 0:
          Append(in.U8(), in.U8(), in.U16());
          break;
        case 1:
          Reset(in.U8());
          break;
        case 2:
          Read(static_cast<int8_t>(in.U8()));
          break;
        case 3:
          Hold();
          break;
      }
      CheckKept();
    }
  }

 private:
  void Append(uint8_t step, uint8_t events, uint16_t bytes) {
    last_ += 1 + step % 4;
    auto entry = std::make_shared<mvcc::RevisionEvents>();
    entry->revision = last_;
    entry->bytes = bytes;
    for (size_t i = 0; i < events % 8u; ++i) {
      mvcc::Event& e = entry->events.emplace_back();
      e.key = SharedBytes(EventKey(last_, i));
      e.kv.mod_revision = last_;
    }
    model_.push_back({last_, entry->events.size(), bytes});
    ring_.Append(std::move(entry));
  }

  // A revision within a few of the next one, possibly <= 0 (the ring then covers from 1).
  void Reset(uint8_t arg) {
    const int64_t revision = last_ + 1 + static_cast<int64_t>(arg % 8) - 6;
    ring_.Reset(revision);
    model_.clear();
    reset_to_ = std::max<int64_t>(revision, 1);
    last_ = std::max(last_, revision - 1);  // appends continue at or above the reset revision
  }

  // A watcher that needs every revision from covered_from() + delta on.
  void Read(int8_t delta) {
    const int64_t from = ring_.covered_from() + delta;
    if (from < ring_.covered_from()) return;  // cancelled as compacted: nothing to compare
    const auto& entries = ring_.entries();
    size_t i = ring_.LowerBound(from);
    for (const ModelEntry& want : model_) {
      if (want.revision < from) continue;
      Require(i < entries.size(),
              absl::StrCat("a read from ", from, " misses revision ", want.revision));
      CheckEntry(*entries[i++], want);
    }
    Require(i == entries.size(), absl::StrCat("a read from ", from, " gets more than appended"));
  }

  void Hold() {
    if (ring_.entries().empty() || held_.size() == kMaxHeld) return;
    held_.push_back(ring_.entries().front());
    held_model_.push_back(model_[model_.size() - ring_.entries().size()]);
  }

  void CheckKept() {
    // The longest suffix of the model within both bounds, at least one entry.
    size_t keep = 0, events = 0, bytes = 0;
    for (auto it = model_.rbegin(); it != model_.rend(); ++it) {
      if (keep > 0 &&
          (events + it->events > options_.max_events || bytes + it->bytes > options_.max_bytes)) {
        break;
      }
      ++keep;
      events += it->events;
      bytes += it->bytes;
    }
    const size_t first = model_.size() - keep;
    const int64_t covered = first > 0 ? model_[first - 1].revision + 1 : reset_to_;
    Require(ring_.entries().size() == keep, absl::StrCat("the ring keeps ", ring_.entries().size(),
                                                         " entries, the bounds allow ", keep));
    Require(ring_.events() == events && ring_.bytes() == bytes, "events() or bytes() is wrong");
    Require(ring_.covered_from() == covered,
            absl::StrCat("covered_from() is ", ring_.covered_from(), ", not ", covered));
    for (size_t i = 0; i < keep; ++i) CheckEntry(*ring_.entries()[i], model_[first + i]);
    // LowerBound at a revision in the middle of what is kept, and past both ends.
    const int64_t probe = keep > 0 ? model_[first + keep / 2].revision : last_;
    size_t below = 0;
    while (below < keep && model_[first + below].revision < probe) ++below;
    Require(ring_.LowerBound(probe) == below && ring_.LowerBound(last_ + 1) == keep &&
                ring_.LowerBound(INT64_MIN) == 0,
            "LowerBound disagrees with the model");
    for (size_t i = 0; i < held_.size(); ++i) CheckEntry(*held_[i], held_model_[i]);
  }

  const mvcc::HistoryRing::Options options_;
  mvcc::HistoryRing ring_;
  std::vector<ModelEntry> model_;  // appended since the last reset
  int64_t last_ = 1;               // the newest revision appended (a fresh store is at 1)
  int64_t reset_to_ = 1;           // covered_from() while nothing was dropped
  std::vector<std::shared_ptr<const mvcc::RevisionEvents>> held_;
  std::vector<ModelEntry> held_model_;
};

}  // namespace
}  // namespace rametcd::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  rametcd::fuzz::InputReader in(std::string_view(reinterpret_cast<const char*>(data), size));
  rametcd::mvcc::HistoryRing::Options options;
  options.max_events = in.U8();      // 0 keeps only the newest entry
  options.max_bytes = in.U16() * 4;  // up to 256 KiB
  rametcd::fuzz::Harness harness(options);
  harness.Run(in);
  return 0;
}
