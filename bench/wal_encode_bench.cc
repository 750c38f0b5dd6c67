// Micro-benchmarks of the WAL writer's encoding (wal/record_codec.h, wal/frame.h): a Txn record
// serialized straight from the history entry's events and framed with two CRC32Cs, the work
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
  std::vector<mvcc::Event> events(static_cast<size_t>(state.range(0)));
  std::vector<const mvcc::Event*> changes;
  for (size_t i = 0; i < events.size(); ++i) {
    events[i].key = SharedBytes("/registry/leases/kube-node-lease/node-" + std::to_string(i));
    events[i].kv.create_revision = 100;
    events[i].kv.mod_revision = 12345;
    events[i].kv.version = 42;
    events[i].kv.value = SharedBytes(std::string(static_cast<size_t>(state.range(1)), 'v'));
    changes.push_back(&events[i]);
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
