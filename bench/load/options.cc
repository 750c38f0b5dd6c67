#include "load/options.h"

#include <functional>
#include <map>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace rametcd::bench {
namespace {

const std::set<std::string>& Workloads() {
  static const auto* w = new std::set<std::string>{"put",  "fill",  "txn-put", "lease-flood",
                                                   "list", "count", "watch",   "k8s-mix"};
  return *w;
}

template <typename T>
std::function<bool(const std::string&)> Number(T* out) {
  return [out](const std::string& v) {
    if constexpr (std::is_same_v<T, double>) {
      return absl::SimpleAtod(v, out) && *out >= 0;
    } else {
      return absl::SimpleAtoi(v, out) && *out >= 0;
    }
  };
}

}  // namespace

std::string Usage() {
  return R"(Usage: rametcd-bench WORKLOAD [--flag=value ...]

A load generator for etcd v3 servers (asynchronous gRPC, closed-loop clients).
Workloads:
  put          Put random keys of a key space
  fill         Put keys 0 .. --objects-1 once each (--val-size bytes): a data set for memory and
               restart measurements
  txn-put      kube-apiserver's OptimisticPut on random keys: Txn(mod_revision == known,
               put, else range)
  lease-flood  Kubernetes node Leases: each client OptimisticPuts its own keys (300-byte values)
  list         paginated Range (limit --page-limit) pinned to the first page's revision, over
               --objects objects of --object-size bytes in one prefix
  count        Range count_only over --objects keys of one prefix
  watch        --streams x --watches watches on distinct keys while puts run (at --rate/s);
               put-to-event latency and delivered events/s
  k8s-mix      lease updates, pod and node status updates, event creates, lists and prefix
               watches in proportions modelled on a large cluster
Flags (defaults):
  --endpoint=127.0.0.1:2379 --conns=16 --clients=256 --total=100000 --duration=0 (seconds,
  0: no limit) --key-size=48 --val-size=1024 --key-space=100000 --keys-per-client=10
  --objects=10000 --object-size=2048 --page-limit=500 --streams=10 --watches=100 --rate=0
  --server-pid=0 (report the server's CPU per request from /proc) --label= --seed=1
Prints a human-readable summary and one tab-separated line starting with RESULT.
)";
}

absl::StatusOr<Options> ParseOptions(int argc, char** argv) {
  Options o;
  auto usage_error = [](const std::string& what) {
    return absl::InvalidArgumentError(absl::StrCat(what, "\n\n", Usage()));
  };
  if (argc < 2) return usage_error("no workload given");
  o.workload = argv[1];
  if (!Workloads().contains(o.workload)) return usage_error("unknown workload " + o.workload);
  int64_t pid = 0;
  const std::map<std::string, std::function<bool(const std::string&)>> flags = {
      {"endpoint", [&](const std::string& v) { return !(o.endpoint = v).empty(); }},
      {"label", [&](const std::string& v) { return !(o.label = v).empty(); }},
      {"conns", Number(&o.conns)},
      {"clients", Number(&o.clients)},
      {"total", Number(&o.total)},
      {"duration", Number(&o.duration)},
      {"key-size", Number(&o.key_size)},
      {"val-size", Number(&o.val_size)},
      {"key-space", Number(&o.key_space)},
      {"keys-per-client", Number(&o.keys_per_client)},
      {"objects", Number(&o.objects)},
      {"object-size", Number(&o.object_size)},
      {"page-limit", Number(&o.page_limit)},
      {"streams", Number(&o.streams)},
      {"watches", Number(&o.watches)},
      {"rate", Number(&o.rate)},
      {"server-pid", Number(&pid)},
      {"seed", Number(&o.seed)},
  };
  for (int i = 2; i < argc; ++i) {
    std::string arg = argv[i];
    const size_t eq = arg.find('=');
    if (!arg.starts_with("--") || eq == std::string::npos) {
      return usage_error("expected --flag=value, got " + arg);
    }
    auto flag = flags.find(arg.substr(2, eq - 2));
    if (flag == flags.end()) return usage_error("unknown flag " + arg.substr(0, eq));
    if (!flag->second(arg.substr(eq + 1))) return usage_error("bad value in " + arg);
  }
  o.server_pid = pid;
  if (o.conns < 1 || o.clients < 1 || o.key_size < 8 || o.key_space < 1 || o.page_limit < 1 ||
      o.keys_per_client < 1 || o.streams < 1 || o.watches < 1 || o.objects < 1) {
    return usage_error(
        "--conns, --clients, --key-space, --page-limit, --keys-per-client, "
        "--streams, --watches and --objects must be at least 1, --key-size 8");
  }
  if (o.workload != "fill" && o.total == 0 && o.duration == 0) {
    return usage_error("--total or --duration must be set");
  }
  return o;
}

}  // namespace rametcd::bench
