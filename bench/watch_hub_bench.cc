// Micro-benchmarks of watch matching and fan-out (watch/watch_hub.h) without gRPC: one put
// dispatched to its watchers among many, with a client that takes every response at once.
//   build/bench/watch_hub_bench
#include <memory>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "watch/watch_hub.h"

namespace rametcd::watch {
namespace {

// A client that reads each response as soon as it is written.
class DrainingClient final : public WatchStream::Writer {
 public:
  explicit DrainingClient(WatchHub* hub)
      : hub_(hub), stream_(std::make_shared<WatchStream>(WatchStream::Limits{}, this)) {}
  void Write(const etcdserverpb::WatchResponse*) override { ++writes_; }
  void Finish(const grpc::Status&) override {}
  // Completes the writes the hub queued.
  void Drain() {
    for (; writes_ > 0; --writes_) {
      if (stream_->OnWriteDone(true).drained) hub_->Resume(stream_);
    }
  }
  void Watch(const std::string& key, const std::string& end) {
    etcdserverpb::WatchRequest req;
    req.mutable_create_request()->set_key(key);
    req.mutable_create_request()->set_range_end(end);
    hub_->Handle(stream_, req);
    Drain();
  }

 private:
  WatchHub* hub_;
  std::shared_ptr<WatchStream> stream_;
  int writes_ = 0;
};

std::string Key(int64_t i) { return "/registry/pods/ns/pod-" + std::to_string(i); }

void Put(mvcc::Store& store, const std::string& key) {
  etcdserverpb::PutRequest req;
  req.set_key(key);
  req.set_value(std::string(1024, 'v'));
  etcdserverpb::PutResponse resp;
  (void)store.Put(req, &resp);
}

// state.range(0) watchers on distinct keys (100 per stream); each put matches one of them.
void BM_DispatchToOneOfManyKeyWatchers(benchmark::State& state) {
  mvcc::Store store;
  WatchHub hub(WatchHub::Options{}, &store);
  std::vector<std::unique_ptr<DrainingClient>> clients;
  for (int64_t i = 0; i < state.range(0); ++i) {
    if (i % 100 == 0) clients.push_back(std::make_unique<DrainingClient>(&hub));
    clients.back()->Watch(Key(i), "");
  }
  int64_t i = 0;
  for (auto _ : state) {
    Put(store, Key(i % state.range(0)));
    hub.Dispatch();
    clients[static_cast<size_t>((i % state.range(0)) / 100)]->Drain();
    ++i;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_DispatchToOneOfManyKeyWatchers)->Arg(1'000)->Arg(100'000);

// state.range(0) prefix watchers on the whole pods prefix (the apiserver's watch cache pattern,
// times N): every put goes to all of them.
void BM_DispatchToPrefixWatchers(benchmark::State& state) {
  mvcc::Store store;
  WatchHub hub(WatchHub::Options{}, &store);
  std::vector<std::unique_ptr<DrainingClient>> clients;
  for (int64_t i = 0; i < state.range(0); ++i) {
    clients.push_back(std::make_unique<DrainingClient>(&hub));
    clients.back()->Watch("/registry/pods/", "/registry/pods0");
  }
  int64_t i = 0;
  for (auto _ : state) {
    Put(store, Key(i++ % 10'000));
    hub.Dispatch();
    for (auto& c : clients) c->Drain();
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_DispatchToPrefixWatchers)->Arg(1)->Arg(16);

}  // namespace
}  // namespace rametcd::watch

BENCHMARK_MAIN();
