// Measuring a run: latencies per client (merged at the end), process CPU time from /proc, and the
// report rametcd-bench prints.
//
// Ownership and threads: a Latencies belongs to one client and is written only by whoever runs
// that client's completions (one at a time); Merge() is called after the run. CpuClock reads
// /proc and is used by the main thread only.
#ifndef RAMETCD_BENCH_LOAD_STATS_H_
#define RAMETCD_BENCH_LOAD_STATS_H_

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace rametcd::bench {

using Clock = std::chrono::steady_clock;

// Microseconds; a float keeps 1M samples at 4 MB.
class Latencies {
 public:
  void Add(Clock::duration d) {
    samples_.push_back(std::chrono::duration<float, std::micro>(d).count());
  }
  void Append(const Latencies& other) {
    samples_.insert(samples_.end(), other.samples_.begin(), other.samples_.end());
  }
  size_t count() const { return samples_.size(); }
  // p in [0, 1]; sorts the samples first time. 0 when empty.
  double PercentileMs(double p);
  double MaxMs();

 private:
  std::vector<float> samples_;
  bool sorted_ = false;
};

// CPU seconds (user + system) a process has used so far, from /proc/PID/stat; nullopt if the
// process cannot be read.
std::optional<double> ProcessCpuSeconds(int64_t pid);

struct Report {
  std::string workload;
  std::string label;
  int clients = 0;
  int conns = 0;
  uint64_t requests = 0;  // answered OK
  uint64_t errors = 0;
  double seconds = 0;
  Latencies latency;
  std::optional<double> server_cpu_seconds;                // during the run, with --server-pid
  double client_cpu_seconds = 0;                           // this process, during the run
  std::vector<std::pair<std::string, std::string>> extra;  // workload-specific figures

  // A few lines for people, then "RESULT\t..." for scripts: workload, label, clients, conns,
  // requests/s, p50, p90, p99, p99.9, max (ms), errors, server CPU us per request (or -), client
  // CPU us per request, then the extra figures as key=value.
  std::string Format();
};

}  // namespace rametcd::bench

#endif  // RAMETCD_BENCH_LOAD_STATS_H_
