// Lease expiry burst: grants N leases (one key each) timed to expire in the same second, then
// measures how long the server takes to expire them all and how much a concurrent writer is
// delayed meanwhile (max and p99 put latency during the burst vs before it). Keys are
// Kubernetes Events (/registry/events/...), whose leases kube-apiserver lets expire.
//   build/bench/lease_burst 127.0.0.1:2379 [leases=100000]
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "etcd/api/etcdserverpb/rpc.grpc.pb.h"
#include "grpcpp/grpcpp.h"

namespace {

using Clock = std::chrono::steady_clock;

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

int64_t CountKeys(etcdserverpb::KV::Stub* kv) {
  grpc::ClientContext ctx;
  etcdserverpb::RangeRequest req;
  req.set_key("/registry/events/");
  req.set_range_end("/registry/events0");
  req.set_count_only(true);
  etcdserverpb::RangeResponse resp;
  return kv->Range(&ctx, req, &resp).ok() ? resp.count() : -1;
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(p * (v.size() - 1))];
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s HOST:PORT [leases]\n", argv[0]);
    return 2;
  }
  const std::string endpoint = argv[1];
  const int leases = argc > 2 ? std::atoi(argv[2]) : 100000;
  constexpr int kThreads = 8;
  // Everything expires at `deadline` (whole seconds): TTLs are counted down as granting proceeds.
  const auto deadline = Clock::now() + std::chrono::seconds(40);

  std::vector<std::thread> granters;
  for (int t = 0; t < kThreads; ++t) {
    granters.emplace_back([&, t] {
      auto channel = grpc::CreateChannel(endpoint, grpc::InsecureChannelCredentials());
      auto lease = etcdserverpb::Lease::NewStub(channel);
      auto kv = etcdserverpb::KV::NewStub(channel);
      for (int i = t; i < leases; i += kThreads) {
        const int64_t ttl =
            std::chrono::duration_cast<std::chrono::seconds>(deadline - Clock::now()).count();
        grpc::ClientContext g;
        etcdserverpb::LeaseGrantRequest grant;
        grant.set_id(i + 1);
        grant.set_ttl(ttl);
        etcdserverpb::LeaseGrantResponse granted;
        if (!lease->LeaseGrant(&g, grant, &granted).ok()) std::abort();
        grpc::ClientContext p;
        etcdserverpb::PutRequest put;
        put.set_key("/registry/events/ns/event-" + std::to_string(i));
        put.set_value(std::string(100, 'v'));
        put.set_lease(i + 1);
        etcdserverpb::PutResponse putted;
        if (!kv->Put(&p, put, &putted).ok()) std::abort();
      }
    });
  }
  for (auto& t : granters) t.join();
  std::printf("granted %d leases with one key each; they expire together in %.1f s\n", leases,
              Ms(deadline - Clock::now()) / 1000);

  // A writer that records every put's latency until the burst is over.
  auto channel = grpc::CreateChannel(endpoint, grpc::InsecureChannelCredentials());
  auto kv = etcdserverpb::KV::NewStub(channel);
  std::atomic<bool> stop{false};
  std::vector<std::pair<Clock::time_point, double>> puts;
  std::thread writer([&] {
    auto wkv = etcdserverpb::KV::NewStub(
        grpc::CreateChannel(endpoint, grpc::InsecureChannelCredentials()));
    for (int i = 0; !stop; ++i) {
      grpc::ClientContext ctx;
      etcdserverpb::PutRequest put;
      put.set_key("writer/" + std::to_string(i % 100));
      put.set_value("v");
      etcdserverpb::PutResponse resp;
      const auto start = Clock::now();
      if (!wkv->Put(&ctx, put, &resp).ok()) std::abort();
      puts.emplace_back(start, Ms(Clock::now() - start));
    }
  });
  Clock::time_point first_gone{}, all_gone{};
  while (true) {
    const int64_t n = CountKeys(kv.get());
    const auto now = Clock::now();
    if (n < leases && first_gone == Clock::time_point{}) first_gone = now;
    if (n == 0) {
      all_gone = now;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  stop = true;
  writer.join();
  std::vector<double> before, during;
  for (const auto& [at, ms] : puts) {
    if (at < first_gone - std::chrono::milliseconds(5)) {
      before.push_back(ms);
    } else if (at <= all_gone) {
      during.push_back(ms);
    }
  }
  std::printf("expired %d leases in %.0f ms (%.0f leases/s)\n", leases, Ms(all_gone - first_gone),
              leases / (Ms(all_gone - first_gone) / 1000));
  std::printf("concurrent puts before: %zu, p99 %.2f ms, max %.2f ms\n", before.size(),
              Percentile(before, 0.99), Percentile(before, 1.0));
  std::printf("concurrent puts during: %zu, p99 %.2f ms, max %.2f ms\n", during.size(),
              Percentile(during, 0.99), Percentile(during, 1.0));
  return 0;
}
