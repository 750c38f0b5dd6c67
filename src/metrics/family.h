// Family: all the series of one metric name, one child metric per set of label values (etcd's
// and Prometheus clients' "vector" metrics, e.g. grpc_server_handled_total by method and code).
//
// Label names are fixed when the family is registered. WithLabelValues() creates a child once
// per distinct set of values (under the family's mutex) and returns a pointer that stays valid
// as long as the family (that is, its Registry) lives: callers look children up once, keep the
// pointers and update them on hot paths without any map lookup or lock.
//
// Ownership: families are created and owned by a Registry (registry.h); they own their children.
// Thread safety: all methods may be called from any thread. Lock order: Registry::mu_, then
// Family::mu_, then the CellArena's mutex.
#ifndef RAMETCD_METRICS_FAMILY_H_
#define RAMETCD_METRICS_FAMILY_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "base/logging.h"
#include "metrics/counter.h"
#include "metrics/gauge.h"
#include "metrics/histogram.h"

namespace rametcd::metrics {

enum class MetricType { kCounter, kGauge, kHistogram };

// "counter", "gauge" or "histogram", as in a # TYPE line.
std::string_view MetricTypeName(MetricType type);

namespace internal {

// What the Registry needs from every family, whatever its child type.
class FamilyBase {
 public:
  FamilyBase(std::string name, std::string help, MetricType type,
             std::vector<std::string> label_names, std::vector<double> bounds)
      : name_(std::move(name)),
        help_(std::move(help)),
        type_(type),
        label_names_(std::move(label_names)),
        bounds_(std::move(bounds)) {}
  virtual ~FamilyBase() = default;
  FamilyBase(const FamilyBase&) = delete;
  FamilyBase& operator=(const FamilyBase&) = delete;

  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  MetricType type() const { return type_; }
  const std::vector<std::string>& label_names() const { return label_names_; }
  const std::vector<double>& bounds() const { return bounds_; }  // histograms only

  // Appends the family's sample lines (not its # HELP / # TYPE lines), series sorted by label
  // values.
  virtual void WriteSamples(std::string* out) const = 0;
  // True for families whose samples come from a callback (registry.h).
  virtual bool is_callback() const { return false; }

 private:
  const std::string name_;
  const std::string help_;
  const MetricType type_;
  const std::vector<std::string> label_names_;
  const std::vector<double> bounds_;
};

// Sample lines of one child.
void WriteChild(const FamilyBase& family, const std::vector<std::string>& label_values,
                const Counter& counter, std::string* out);
void WriteChild(const FamilyBase& family, const std::vector<std::string>& label_values,
                const Gauge& gauge, std::string* out);
void WriteChild(const FamilyBase& family, const std::vector<std::string>& label_values,
                const Histogram& histogram, std::string* out);

}  // namespace internal

template <typename T>
class Family final : public internal::FamilyBase {
 public:
  using Factory = std::function<std::unique_ptr<T>()>;

  Family(std::string name, std::string help, MetricType type, std::vector<std::string> label_names,
         std::vector<double> bounds, Factory make)
      : FamilyBase(std::move(name), std::move(help), type, std::move(label_names),
                   std::move(bounds)),
        make_(std::move(make)) {}

  // The child for `label_values`, created on first use. REQUIRES: one value per label name.
  T* WithLabelValues(absl::Span<const std::string_view> label_values) {
    CHECK(label_values.size() == label_names().size());
    std::vector<std::string> key(label_values.begin(), label_values.end());
    absl::MutexLock lock(&mu_);
    std::unique_ptr<T>& child = children_[std::move(key)];
    if (child == nullptr) child = make_();
    return child.get();
  }

  void WriteSamples(std::string* out) const override {
    absl::MutexLock lock(&mu_);
    for (const auto& [label_values, child] : children_) {
      internal::WriteChild(*this, label_values, *child, out);
    }
  }

 private:
  const Factory make_;
  mutable absl::Mutex mu_;
  std::map<std::vector<std::string>, std::unique_ptr<T>> children_ ABSL_GUARDED_BY(mu_);
};

using CounterFamily = Family<Counter>;
using GaugeFamily = Family<Gauge>;
using HistogramFamily = Family<Histogram>;

}  // namespace rametcd::metrics

#endif  // RAMETCD_METRICS_FAMILY_H_
