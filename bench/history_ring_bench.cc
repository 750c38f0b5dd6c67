// Micro-benchmarks of the history ring (mvcc/history_ring.h), the revision-ordered events every
// watch is fed from: appending one revision at a time at its bounds (the oldest are dropped),
// and finding where a watcher that starts in the past catches up from.
//   build/bench/history_ring_bench
#include <memory>
#include <string>

#include "benchmark/benchmark.h"
#include "mvcc/history_ring.h"

namespace rametcd::mvcc {
namespace {

std::shared_ptr<const RevisionEvents> Entry(int64_t revision, size_t value_bytes) {
  auto entry = std::make_shared<RevisionEvents>();
  entry->revision = revision;
  Event& e = entry->events.emplace_back();
  e.key = SharedBytes("/registry/leases/kube-node-lease/node-" + std::to_string(revision % 5000));
  e.kv.mod_revision = revision;
  e.kv.value = SharedBytes(std::string(value_bytes, 'v'));
  entry->bytes = e.key.size() + value_bytes;
  return entry;
}

// A full ring (state.range(0) events) taking one more revision, the oldest falling off.
void BM_AppendAtBound(benchmark::State& state) {
  HistoryRing ring({static_cast<size_t>(state.range(0)), size_t{1} << 40});
  int64_t revision = 1;
  for (int64_t i = 0; i < state.range(0); ++i) ring.Append(Entry(++revision, 300));
  for (auto _ : state) {
    state.PauseTiming();
    auto entry = Entry(++revision, 300);
    state.ResumeTiming();
    ring.Append(std::move(entry));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AppendAtBound)->Arg(100'000)->Arg(1'000'000);

// A watcher starting at a past revision: where its catch-up begins.
void BM_LowerBound(benchmark::State& state) {
  HistoryRing ring({static_cast<size_t>(state.range(0)), size_t{1} << 40});
  for (int64_t r = 2; r <= state.range(0) + 1; ++r) ring.Append(Entry(r, 16));
  int64_t want = 2;
  for (auto _ : state) {
    benchmark::DoNotOptimize(ring.LowerBound(want));
    want = 2 + (want * 7919) % state.range(0);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_LowerBound)->Arg(100'000)->Arg(1'000'000);

}  // namespace
}  // namespace rametcd::mvcc

BENCHMARK_MAIN();
