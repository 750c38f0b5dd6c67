#include "wal/batches.h"

#include <algorithm>
#include <limits>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "base/string_hash.h"

namespace rametcd::wal {

void StreamBatches::Add(const RecordPlace& place, const Record& record) {
  if (place.checkpoint) return;
  if (!unended_) unended_ = LogPlace{place.seq, place.offset};
  if (!record.has_batch_end()) return;
  const BatchEnd& end = record.batch_end();
  parts_.push_back({end.batch(), *unended_, {end.streams().begin(), end.streams().end()}});
  unended_.reset();
}

void StreamBatches::SetRead(const StreamRead& read, bool has_files) {
  checkpoint_batch_ = read.checkpoint_batch;
  has_files_ = has_files;
}

BatchCuts CutIncompleteBatches(const std::vector<StreamBatches>& streams) {
  absl::flat_hash_map<std::string_view, size_t, StringViewHash, StringViewEq> index;
  absl::flat_hash_set<std::pair<size_t, uint64_t>> present;
  for (size_t i = 0; i < streams.size(); ++i) {
    index[streams[i].stream()] = i;
    for (const StreamBatches::Part& p : streams[i].parts()) present.insert({i, p.batch});
  }
  BatchCuts cuts;
  auto where = [](const StreamBatches& s, const LogPlace& p) {
    return absl::StrCat("stream \"", absl::CHexEscape(s.stream()), "\" segment ", p.seq, " offset ",
                        p.offset);
  };
  uint64_t oldest = std::numeric_limits<uint64_t>::max();
  for (const StreamBatches& s : streams) {
    for (const StreamBatches::Part& p : s.parts()) {
      for (const std::string& name : p.streams) {
        auto it = index.find(name);
        if (it == index.end() || !streams[it->second].has_files()) continue;
        if (present.contains({it->second, p.batch}) ||
            streams[it->second].checkpoint_batch() >= p.batch) {
          continue;
        }
        oldest = std::min(oldest, p.batch);
        cuts.findings.push_back(absl::StrCat("batch ", p.batch, " (", where(s, p.start),
                                             ") misses its part in stream \"",
                                             absl::CHexEscape(name), "\""));
      }
    }
    if (s.unended()) {
      cuts.findings.push_back(
          absl::StrCat("a batch part without its end at ", where(s, *s.unended())));
    }
  }
  if (oldest != std::numeric_limits<uint64_t>::max()) cuts.batch = oldest;
  cuts.at.resize(streams.size());
  for (size_t i = 0; i < streams.size(); ++i) {
    const StreamBatches& s = streams[i];
    cuts.at[i] = s.unended();
    cuts.last_batch = std::max(cuts.last_batch, s.checkpoint_batch());
    for (const StreamBatches::Part& p : s.parts()) {
      if (p.batch >= oldest) {
        cuts.at[i] = p.start;  // parts come before an unended tail
        break;
      }
      cuts.last_batch = std::max(cuts.last_batch, p.batch);
    }
  }
  return cuts;
}

}  // namespace rametcd::wal
