#include "load/workloads.h"

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <thread>

#include "absl/functional/function_ref.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "load/closed_loop.h"
#include "load/connections.h"
#include "load/kv_ops.h"
#include "load/watch_streams.h"

namespace rametcd::bench {
namespace {

constexpr int kLeaseValueBytes = 300;

double OwnCpuSeconds() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) { return t.tv_sec + t.tv_usec / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

// Writes objects 0 .. count-1 under `prefix` before a measured run.
absl::Status Fill(Connections& conns, const std::string& prefix, int64_t count, int size,
                  int key_size) {
  SequentialPutOp op(conns, prefix, key_size, size);
  const LoopResult r = RunClosedLoop(op, 64, count, 0);
  if (r.errors > 0) {
    return absl::InternalError(
        absl::StrCat(r.errors, " of ", count, " puts failed while filling ", prefix));
  }
  return absl::OkStatus();
}

// Runs the measured part of a workload and fills the report's common fields.
Report Measure(const Options& o, absl::FunctionRef<LoopResult()> run) {
  Report report;
  report.workload = o.workload;
  report.label = o.label;
  report.clients = o.clients;
  report.conns = o.conns;
  const std::optional<double> server_before =
      o.server_pid > 0 ? ProcessCpuSeconds(o.server_pid) : std::nullopt;
  const double client_before = OwnCpuSeconds();
  LoopResult loop = run();
  report.client_cpu_seconds = OwnCpuSeconds() - client_before;
  if (server_before) {
    if (const std::optional<double> after = ProcessCpuSeconds(o.server_pid)) {
      report.server_cpu_seconds = *after - *server_before;
    }
  }
  report.requests = loop.ok;
  report.errors = loop.errors;
  report.seconds = loop.seconds;
  report.latency = std::move(loop.latency);
  return report;
}

void AddRate(Report& report, const std::string& name, double count) {
  report.extra.emplace_back(
      name, absl::StrFormat("%.1f", report.seconds > 0 ? count / report.seconds : 0));
}

// Client c of `clients` cycles through its own `per_client` keys.
OptimisticPutOp::Chooser OwnKeys(int clients, int per_client) {
  auto turns = std::make_shared<std::vector<int64_t>>(static_cast<size_t>(clients));
  return [turns, per_client](int client, std::mt19937_64&) {
    const int64_t turn = (*turns)[client]++;
    return int64_t{client} * per_client + turn % per_client;
  };
}

OptimisticPutOp::Chooser AnyKey(int64_t key_space) {
  return [key_space](int, std::mt19937_64& rng) {
    return static_cast<int64_t>(rng() % static_cast<uint64_t>(key_space));
  };
}

absl::StatusOr<Report> Watch(const Options& o, Connections& conns) {
  std::vector<std::vector<KeyRange>> ranges(static_cast<size_t>(o.streams));
  std::vector<std::string> keys;
  for (int s = 0; s < o.streams; ++s) {
    for (int w = 0; w < o.watches; ++w) {
      keys.push_back(KeyOf("/registry/pods/bench-watch/", int64_t{s} * o.watches + w, o.key_size));
      ranges[s].push_back({keys.back(), ""});
    }
  }
  WatchStreams streams(conns, ranges, /*timed=*/true);
  if (absl::Status s = streams.WaitCreated(60); !s.ok()) return s;
  TimedPutOp put(conns, keys, o.val_size);
  const uint64_t events_before = streams.events();
  const Clock::time_point start = Clock::now();
  Report report = Measure(o, [&] {
    if (o.rate > 0) {
      return RunOpenLoop(put, o.rate,
                         o.duration > 0 ? o.duration : static_cast<double>(o.total) / o.rate);
    }
    return RunClosedLoop(put, o.clients, o.total, o.duration);
  });
  // Every put's event, or give up after 10 s.
  const Clock::time_point give_up = Clock::now() + std::chrono::seconds(10);
  while (streams.events() - events_before < report.requests && Clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  const double delivery_seconds = std::chrono::duration<double>(Clock::now() - start).count();
  streams.Stop();
  const uint64_t events = streams.events() - events_before;
  Latencies event_latency = streams.latencies();
  report.extra.emplace_back("watches", absl::StrCat(o.streams, "x", o.watches));
  report.extra.emplace_back("put_rate", absl::StrCat(o.rate));  // 0: closed loop
  report.extra.emplace_back("events", absl::StrCat(events));
  report.extra.emplace_back("events_per_s", absl::StrFormat("%.1f", events / delivery_seconds));
  report.extra.emplace_back("event_p50_ms",
                            absl::StrFormat("%.3f", event_latency.PercentileMs(0.5)));
  report.extra.emplace_back("event_p99_ms",
                            absl::StrFormat("%.3f", event_latency.PercentileMs(0.99)));
  report.extra.emplace_back("event_p999_ms",
                            absl::StrFormat("%.3f", event_latency.PercentileMs(0.999)));
  report.extra.emplace_back("event_max_ms", absl::StrFormat("%.3f", event_latency.MaxMs()));
  return report;
}

// k8s-mix: one request of a kind drawn per client (percentages in workloads.h).
class MixOp final : public Op {
 public:
  MixOp(Connections& conns, const Options& o, int64_t pods, int64_t nodes)
      : leases_(
            conns, o.clients, "/registry/leases/kube-node-lease/", 48, kLeaseValueBytes,
            [nodes, clients = o.clients](int client, std::mt19937_64& rng) {
              // A client stands for the kubelets of nodes client, client + clients, ...
              const int64_t mine = std::max<int64_t>(1, (nodes - client + clients - 1) / clients);
              return client + clients * static_cast<int64_t>(rng() % static_cast<uint64_t>(mine));
            },
            o.seed),
        pods_(conns, o.clients, "/registry/pods/mix/", 48, 2048, AnyKey(pods), o.seed + 1),
        events_(conns, o.clients, "/registry/events/mix/", int64_t{1} << 40, 48, 500, o.seed + 2),
        nodes_(conns, o.clients, "/registry/minions/", 48, 4096, AnyKey(nodes), o.seed + 3),
        lists_(conns, o.clients, "/registry/pods/mix/", o.page_limit) {
    for (int i = 0; i < o.clients; ++i) rng_.emplace_back(o.seed * 31 + static_cast<uint64_t>(i));
  }

  void Start(int client, Completion* done) override {
    const uint64_t r = rng_[client]() % 100;
    Op& op = r < 55   ? static_cast<Op&>(leases_)
             : r < 75 ? static_cast<Op&>(pods_)
             : r < 85 ? static_cast<Op&>(events_)
             : r < 90 ? static_cast<Op&>(nodes_)
                      : static_cast<Op&>(lists_);
    op.Start(client, done);
  }

  uint64_t conflicts() const {
    return leases_.conflicts() + pods_.conflicts() + nodes_.conflicts();
  }

 private:
  OptimisticPutOp leases_;
  OptimisticPutOp pods_;
  PutOp events_;
  OptimisticPutOp nodes_;
  ListPageOp lists_;
  std::vector<std::mt19937_64> rng_;
};

absl::StatusOr<Report> K8sMix(const Options& o, Connections& conns) {
  constexpr int64_t kNodes = 1000;
  if (absl::Status s = Fill(conns, "/registry/pods/mix/", o.objects, 2048, 48); !s.ok()) return s;
  if (absl::Status s = Fill(conns, "/registry/minions/", kNodes, 4096, 48); !s.ok()) return s;
  WatchStreams watches(conns,
                       {{{"/registry/pods/", PrefixEnd("/registry/pods/")}},
                        {{"/registry/leases/", PrefixEnd("/registry/leases/")}},
                        {{"/registry/events/", PrefixEnd("/registry/events/")}},
                        {{"/registry/minions/", PrefixEnd("/registry/minions/")}}},
                       /*timed=*/false);
  if (absl::Status s = watches.WaitCreated(60); !s.ok()) return s;
  MixOp mix(conns, o, o.objects, kNodes);
  const uint64_t events_before = watches.events();
  Report report = Measure(o, [&] { return RunClosedLoop(mix, o.clients, o.total, o.duration); });
  watches.Stop();
  report.extra.emplace_back("conflicts", absl::StrCat(mix.conflicts()));
  AddRate(report, "watch_events_per_s", static_cast<double>(watches.events() - events_before));
  return report;
}

}  // namespace

absl::StatusOr<Report> RunWorkload(const Options& o) {
  Connections conns(o.endpoint, o.conns);
  if (absl::Status s = conns.WaitReady(10); !s.ok()) return s;
  const std::string& w = o.workload;
  if (w == "put") {
    PutOp op(conns, o.clients, "/registry/bench/put/", o.key_space, o.key_size, o.val_size, o.seed);
    return Measure(o, [&] { return RunClosedLoop(op, o.clients, o.total, o.duration); });
  }
  if (w == "fill") {
    SequentialPutOp op(conns, "/registry/bench/fill/", o.key_size, o.val_size);
    return Measure(o, [&] { return RunClosedLoop(op, o.clients, o.objects, o.duration); });
  }
  if (w == "txn-put" || w == "lease-flood") {
    const bool leases = w == "lease-flood";
    OptimisticPutOp op(
        conns, o.clients, leases ? "/registry/leases/kube-node-lease/" : "/registry/bench/txn/",
        o.key_size, leases ? kLeaseValueBytes : o.val_size,
        leases ? OwnKeys(o.clients, o.keys_per_client) : AnyKey(o.key_space), o.seed);
    Report report = Measure(o, [&] { return RunClosedLoop(op, o.clients, o.total, o.duration); });
    report.extra.emplace_back("conflicts", absl::StrCat(op.conflicts()));
    return report;
  }
  if (w == "list") {
    const std::string prefix = "/registry/pods/bench-list/";
    if (absl::Status s = Fill(conns, prefix, o.objects, o.object_size, o.key_size); !s.ok()) {
      return s;
    }
    ListPageOp op(conns, o.clients, prefix, o.page_limit);
    Report report = Measure(o, [&] { return RunClosedLoop(op, o.clients, o.total, o.duration); });
    AddRate(report, "lists_per_s", static_cast<double>(op.lists()));
    AddRate(report, "keys_per_s", static_cast<double>(op.keys()));
    return report;
  }
  if (w == "count") {
    const std::string prefix = "/registry/bench-count/";
    if (absl::Status s = Fill(conns, prefix, o.objects, 16, o.key_size); !s.ok()) return s;
    CountOp op(conns, prefix);
    Report report = Measure(o, [&] { return RunClosedLoop(op, o.clients, o.total, o.duration); });
    report.extra.emplace_back("count", absl::StrCat(op.last_count()));
    return report;
  }
  if (w == "watch") return Watch(o, conns);
  return K8sMix(o, conns);
}

}  // namespace rametcd::bench
