// rametcd-bench: a load generator for etcd v3 servers (see options.h and workloads.h).
//
//   build/bench/rametcd-bench put --endpoint=127.0.0.1:2379 --conns=16 --clients=256
//       --key-size=48 --val-size=1024 --key-space=100000 --total=100000 --server-pid=PID
//   (one command line)
#include <cstdio>
#include <cstring>

#include "load/options.h"
#include "load/workloads.h"

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--help") == 0 || std::strcmp(argv[i], "-h") == 0) {
      std::fputs(rametcd::bench::Usage().c_str(), stdout);
      return 0;
    }
  }
  absl::StatusOr<rametcd::bench::Options> options = rametcd::bench::ParseOptions(argc, argv);
  if (!options.ok()) {
    std::fprintf(stderr, "rametcd-bench: %s\n", std::string(options.status().message()).c_str());
    return 2;
  }
  absl::StatusOr<rametcd::bench::Report> report = rametcd::bench::RunWorkload(*options);
  if (!report.ok()) {
    std::fprintf(stderr, "rametcd-bench: %s\n", std::string(report.status().message()).c_str());
    return 1;
  }
  std::fputs(report->Format().c_str(), stdout);
  return report->errors > 0 ? 3 : 0;
}
