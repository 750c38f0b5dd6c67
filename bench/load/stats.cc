#include "load/stats.h"

#include <unistd.h>

#include <algorithm>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"

namespace rametcd::bench {

double Latencies::PercentileMs(double p) {
  if (samples_.empty()) return 0;
  if (!sorted_) {
    std::sort(samples_.begin(), samples_.end());
    sorted_ = true;
  }
  const auto at = static_cast<size_t>(p * static_cast<double>(samples_.size() - 1) + 0.5);
  return samples_[std::min(at, samples_.size() - 1)] / 1000.0;
}

double Latencies::MaxMs() { return PercentileMs(1.0); }

std::optional<double> ProcessCpuSeconds(int64_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
  std::string line;
  if (!std::getline(in, line)) return std::nullopt;
  // The command name (field 2) may hold spaces: fields count from the last ')'.
  const size_t close = line.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::vector<std::string> fields = absl::StrSplit(line.substr(close + 2), ' ', absl::SkipEmpty());
  // After the name: state is field 3, utime field 14, stime field 15 (proc(5)).
  if (fields.size() < 13) return std::nullopt;
  double utime = 0, stime = 0;
  try {
    utime = std::stod(fields[11]);
    stime = std::stod(fields[12]);
  } catch (...) {
    return std::nullopt;
  }
  return (utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

std::string Report::Format() {
  const double rps = seconds > 0 ? static_cast<double>(requests) / seconds : 0;
  const double per_request = requests > 0 ? 1e6 / static_cast<double>(requests) : 0;
  std::string server_cpu = "-";
  if (server_cpu_seconds) server_cpu = absl::StrFormat("%.1f", *server_cpu_seconds * per_request);
  const std::string client_cpu = absl::StrFormat("%.1f", client_cpu_seconds * per_request);
  std::string out = absl::StrFormat(
      "%s%s: %d clients on %d connections: %d requests in %.2f s = %.0f/s, %d errors\n"
      "  latency ms: p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f\n"
      "  CPU per request: server %s us, this client %s us\n",
      workload, label.empty() ? "" : " (" + label + ")", clients, conns, requests, seconds, rps,
      errors, latency.PercentileMs(0.5), latency.PercentileMs(0.9), latency.PercentileMs(0.99),
      latency.PercentileMs(0.999), latency.MaxMs(), server_cpu, client_cpu);
  for (const auto& [k, v] : extra) absl::StrAppend(&out, "  ", k, ": ", v, "\n");
  absl::StrAppendFormat(
      &out, "RESULT\t%s\t%s\t%d\t%d\t%.1f\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t%d\t%s\t%s", workload,
      label.empty() ? "-" : label, clients, conns, rps, latency.PercentileMs(0.5),
      latency.PercentileMs(0.9), latency.PercentileMs(0.99), latency.PercentileMs(0.999),
      latency.MaxMs(), errors, server_cpu, client_cpu);
  for (const auto& [k, v] : extra) absl::StrAppend(&out, "\t", k, "=", v);
  out += "\n";
  return out;
}

}  // namespace rametcd::bench
