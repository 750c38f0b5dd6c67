// rametcd-bench's command line: the workload and its knobs.
//
//   rametcd-bench WORKLOAD [--flag=value ...]
//
// Workloads: put, fill, txn-put, lease-flood, list, count, watch, k8s-mix (see workloads.h). The
// flags and their defaults are in Options below; `--help` prints them.
//
// Thread safety: plain values.
#ifndef RAMETCD_BENCH_LOAD_OPTIONS_H_
#define RAMETCD_BENCH_LOAD_OPTIONS_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace rametcd::bench {

struct Options {
  std::string workload;
  std::string endpoint = "127.0.0.1:2379";
  int conns = 16;          // TCP connections (gRPC channels)
  int clients = 256;       // closed-loop clients, each with one request in flight
  int64_t total = 100000;  // requests to send (writes: puts, txns; reads: pages, counts)
  double duration = 0;     // seconds; if set, the run also stops then
  int key_size = 48;
  int val_size = 1024;
  int64_t key_space = 100000;  // put, txn-put: keys are drawn from this many
  int keys_per_client = 10;    // lease-flood: each client updates its own keys
  int64_t objects = 10000;     // fill: keys to write; list, count, k8s-mix: written before
  int object_size = 2048;      // list: bytes per object
  int page_limit = 500;        // list, k8s-mix: Range limit per page
  int streams = 10;            // watch: Watch streams
  int watches = 100;           // watch: watches per stream, each on its own key
  double rate = 0;             // watch: puts per second (0: as fast as the clients go)
  int64_t server_pid = 0;      // read the server's CPU time from /proc/PID/stat
  std::string label;           // printed in the RESULT line (e.g. the server's name)
  uint64_t seed = 1;
};

// Parses argv (argv[1] is the workload). Errors: InvalidArgument with the usage text.
absl::StatusOr<Options> ParseOptions(int argc, char** argv);

std::string Usage();

}  // namespace rametcd::bench

#endif  // RAMETCD_BENCH_LOAD_OPTIONS_H_
