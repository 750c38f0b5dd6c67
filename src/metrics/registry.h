// Registry: the set of metric families a process exports, and their rendering in the Prometheus
// text exposition format (what etcd serves on /metrics).
//
// Each module registers its families once at startup (the Add* functions) and keeps the returned
// pointers; hot paths then only touch Counter / Gauge / Histogram objects. Values that belong to
// other threads and are cheap to read are exported by callbacks evaluated at scrape time
// (AddCallbackGauge, AddCallbackCounter, AddCollector), whose registration lasts as long as the
// returned CallbackHandle.
//
// Registering a name twice with the same type, help, label names (and buckets) returns the
// existing family; any other reuse of a name, including a series name that a histogram derives
// (<name>_bucket, _sum, _count), or an invalid metric or label name, is a programming error and
// CHECK-fails with a log line naming the metric.
//
// Ownership: owns its families and their children; pointers it returns are valid until it is
// destroyed. REQUIRES: the registry outlives every user of those pointers and every
// CallbackHandle.
//
// Thread safety: all methods may be called from any thread. Callbacks run on the thread calling
// WritePrometheusText, under the registry's mutex, one at a time: they must be thread-safe with
// respect to the data they read, must not block for long and must not call into the Registry.
// Destroying a CallbackHandle waits for a running scrape, so after it returns the callback is
// never called again.
#ifndef RAMETCD_METRICS_REGISTRY_H_
#define RAMETCD_METRICS_REGISTRY_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "metrics/counter.h"
#include "metrics/family.h"
#include "metrics/gauge.h"
#include "metrics/histogram.h"

namespace rametcd::metrics {

class Registry;

// Keeps a callback family registered; unregisters it when destroyed or Reset().
class CallbackHandle {
 public:
  CallbackHandle() = default;
  ~CallbackHandle() { Reset(); }
  CallbackHandle(CallbackHandle&& other) noexcept;
  CallbackHandle& operator=(CallbackHandle&& other) noexcept;

  void Reset();

 private:
  friend class Registry;
  CallbackHandle(Registry* registry, uint64_t id) : registry_(registry), id_(id) {}

  Registry* registry_ = nullptr;
  uint64_t id_ = 0;
};

// One series reported by a collector callback.
struct Sample {
  std::vector<std::string> label_values;  // one per label name of the collector
  double value = 0;
};
// Appends the current samples. Samples with the wrong number of label values, and all but the
// first sample of a set of label values, are dropped (and logged).
using CollectFn = std::function<void(std::vector<Sample>* samples)>;

class Registry {
 public:
  // The Content-Type of WritePrometheusText's output.
  static constexpr char kContentType[] = "text/plain; version=0.0.4; charset=utf-8";

  Registry() = default;
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  CounterFamily* AddCounterFamily(std::string_view name, std::string_view help,
                                  std::vector<std::string> label_names);
  GaugeFamily* AddGaugeFamily(std::string_view name, std::string_view help,
                              std::vector<std::string> label_names);
  // `bounds` as for Histogram. "le" is not allowed as a label name.
  HistogramFamily* AddHistogramFamily(std::string_view name, std::string_view help,
                                      std::vector<std::string> label_names,
                                      std::vector<double> bounds);

  // Families without labels, returning their single child.
  Counter* AddCounter(std::string_view name, std::string_view help);
  Gauge* AddGauge(std::string_view name, std::string_view help);
  Histogram* AddHistogram(std::string_view name, std::string_view help, std::vector<double> bounds);

  // One unlabelled series whose value is `fn()` at scrape time.
  [[nodiscard]] CallbackHandle AddCallbackGauge(std::string_view name, std::string_view help,
                                                std::function<double()> fn);
  [[nodiscard]] CallbackHandle AddCallbackCounter(std::string_view name, std::string_view help,
                                                  std::function<double()> fn);
  // A family of `type` kCounter or kGauge whose series `fn` reports at scrape time.
  [[nodiscard]] CallbackHandle AddCollector(std::string_view name, std::string_view help,
                                            MetricType type, std::vector<std::string> label_names,
                                            CollectFn fn);

  // Appends every family with at least one series, sorted by name, in the Prometheus text
  // format 0.0.4 (text_format.h).
  void WritePrometheusText(std::string* out) const;

 private:
  friend class CallbackHandle;

  // Returns the family registered as `name`, or registers the one `make` builds, after the
  // checks described above.
  internal::FamilyBase* AddFamily(
      std::string_view name, std::string_view help, MetricType type,
      const std::vector<std::string>& label_names, const std::vector<double>& bounds,
      bool is_callback, const std::function<std::unique_ptr<internal::FamilyBase>()>& make)
      ABSL_LOCKS_EXCLUDED(mu_);
  void RemoveCallback(uint64_t id) ABSL_LOCKS_EXCLUDED(mu_);

  mutable absl::Mutex mu_;
  std::map<std::string, std::unique_ptr<internal::FamilyBase>, std::less<>> families_
      ABSL_GUARDED_BY(mu_);
  // Every series name in use (histograms take three) -> the family's name.
  std::map<std::string, std::string, std::less<>> series_names_ ABSL_GUARDED_BY(mu_);
  // Callback families by handle id -> family name.
  std::map<uint64_t, std::string> callbacks_ ABSL_GUARDED_BY(mu_);
  uint64_t next_callback_id_ ABSL_GUARDED_BY(mu_) = 1;
};

}  // namespace rametcd::metrics

#endif  // RAMETCD_METRICS_REGISTRY_H_
