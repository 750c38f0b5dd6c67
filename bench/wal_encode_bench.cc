// Micro-benchmarks of the WAL writer's encoding (wal/record_codec.h, wal/frame.h): a Txn record
// serialized straight from the history entry's KeyValues and framed with two CRC32Cs, the work
// the writer thread does per write before the batch goes to io_uring.
//   build/bench/wal_encode_bench
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "wal/record_codec.h"

namespace rametcd::wal {
namespace {

// One transaction of state.range(0) changes of state.range(1)-byte values.
void BM_AppendTxnRecord(benchmark::State& state) {
  std::vector<mvccpb::KeyValue> kvs(static_cast<size_t>(state.range(0)));
  std::vector<const mvccpb::KeyValue*> changes;
  for (size_t i = 0; i < kvs.size(); ++i) {
    kvs[i].set_key("/registry/leases/kube-node-lease/node-" + std::to_string(i));
    kvs[i].set_create_revision(100);
    kvs[i].set_mod_revision(12345);
    kvs[i].set_version(42);
    kvs[i].set_value(std::string(static_cast<size_t>(state.range(1)), 'v'));
    changes.push_back(&kvs[i]);
  }
  std::string buffer;
  for (auto _ : state) {
    buffer.clear();
    AppendTxnRecord(12345, changes, &buffer);
    benchmark::DoNotOptimize(buffer.data());
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(buffer.size()));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AppendTxnRecord)->Args({1, 300})->Args({1, 1024})->Args({1, 16384})->Args({10, 1024});

}  // namespace
}  // namespace rametcd::wal

BENCHMARK_MAIN();
