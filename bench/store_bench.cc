// Micro-benchmarks of the MVCC store's hot paths, without gRPC: the per-request store cost that
// rametcd adds on top of what gRPC itself costs.
//   build/bench/store_bench --benchmark_min_time=1
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "mvcc/store.h"

namespace rametcd::mvcc {
namespace {

std::string PodKey(int i) { return "/registry/pods/default/pod-" + std::to_string(i); }

void Fill(Store& store, int keys, size_t value_size) {
  etcdserverpb::PutRequest put;
  etcdserverpb::PutResponse resp;
  for (int i = 0; i < keys; ++i) {
    put.set_key(PodKey(i));
    put.set_value(std::string(value_size, 'v'));
    (void)store.Put(put, &resp);
  }
}

// Updating existing keys (the Lease-renewal pattern): hash lookup, one appended version.
void BM_PutExisting(benchmark::State& state) {
  Store store;
  const int keys = 100000;
  Fill(store, keys, 300);
  etcdserverpb::PutRequest put;
  etcdserverpb::PutResponse resp;
  int i = 0;
  for (auto _ : state) {
    put.set_key(PodKey(i++ % keys));
    put.set_value(std::string(300, 'x'));
    resp.Clear();
    benchmark::DoNotOptimize(store.Put(put, &resp));
    // Keep history bounded as kube-apiserver's periodic compaction would.
    if (i % keys == 0) {
      (void)store.Compact(store.revision());
      while (!store.CompactSome(100000)) {
      }
    }
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_PutExisting);

// Paginated list: the first page of 500 out of N, at the current revision.
void BM_ListFirstPage(benchmark::State& state) {
  Store store;
  Fill(store, static_cast<int>(state.range(0)), 2048);
  etcdserverpb::RangeRequest req;
  req.set_key("/registry/pods/");
  req.set_range_end("/registry/pods0");
  req.set_limit(500);
  for (auto _ : state) {
    etcdserverpb::RangeResponse resp;
    benchmark::DoNotOptimize(store.Range(req, &resp));
  }
  state.SetItemsProcessed(state.iterations() * 500);
}
BENCHMARK(BM_ListFirstPage)->Arg(10000)->Arg(100000);

// Paginated list, every page: pages of 500 out of N at the first page's revision, each asking
// from the last key + "\0" as Kubernetes does, over and over; one iteration is one page.
void BM_ListAllPages(benchmark::State& state) {
  Store store;
  Fill(store, static_cast<int>(state.range(0)), 256);
  etcdserverpb::RangeRequest req;
  req.set_range_end("/registry/pods0");
  req.set_limit(500);
  std::string next;
  for (auto _ : state) {
    req.set_key(next.empty() ? "/registry/pods/" : next);
    req.set_revision(next.empty() ? 0 : store.revision());
    etcdserverpb::RangeResponse resp;
    benchmark::DoNotOptimize(store.Range(req, &resp));
    next = resp.more() ? resp.kvs(resp.kvs_size() - 1).key() + '\0' : std::string();
  }
  state.SetItemsProcessed(state.iterations() * 500);
}
BENCHMARK(BM_ListAllPages)->Arg(10000)->Arg(100000)->Arg(1000000);

// count_only over a whole resource prefix: at the current revision it is answered from the
// prefix block (range(1) == 0); pinned to an older revision every key is visited (range(1) == 1).
void BM_CountPrefix(benchmark::State& state) {
  Store store;
  Fill(store, static_cast<int>(state.range(0)), 16);
  etcdserverpb::RangeRequest req;
  req.set_key("/registry/pods/");
  req.set_range_end("/registry/pods0");
  req.set_count_only(true);
  if (state.range(1) == 1) req.set_revision(store.revision() - 1);
  for (auto _ : state) {
    etcdserverpb::RangeResponse resp;
    benchmark::DoNotOptimize(store.Range(req, &resp));
  }
}
BENCHMARK(BM_CountPrefix)->Args({1000000, 0})->Args({1000000, 1});

}  // namespace
}  // namespace rametcd::mvcc

BENCHMARK_MAIN();
