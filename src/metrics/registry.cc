#include "metrics/registry.h"

#include <algorithm>
#include <limits>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/absl_view.h"
#include "base/logging.h"
#include "metrics/text_format.h"

namespace rametcd::metrics {
namespace {

[[noreturn]] void FatalRegistration(std::string_view name, std::string_view problem) {
  Log(LogLevel::kError, "invalid metric registration",
      {{"metric", std::string(name)}, {"problem", std::string(problem)}});
  CheckFailed(__FILE__, __LINE__, "valid metric registration");
}

// A family whose samples a CollectFn reports at scrape time.
class CallbackFamily final : public internal::FamilyBase {
 public:
  CallbackFamily(std::string name, std::string help, MetricType type,
                 std::vector<std::string> label_names, CollectFn fn)
      : FamilyBase(std::move(name), std::move(help), type, std::move(label_names), {}),
        fn_(std::move(fn)) {}

  bool is_callback() const override { return true; }

  void WriteSamples(std::string* out) const override {
    std::vector<Sample> samples;
    fn_(&samples);
    std::stable_sort(samples.begin(), samples.end(), [](const Sample& a, const Sample& b) {
      return a.label_values < b.label_values;
    });
    const std::vector<std::string>& names = label_names();
    const std::vector<std::string>* previous = nullptr;
    for (const Sample& s : samples) {
      if (s.label_values.size() != names.size()) {
        Log(LogLevel::kWarn, "metric callback reported a sample with the wrong number of labels",
            {{"metric", name()}});
        continue;
      }
      if (previous != nullptr && *previous == s.label_values) {
        Log(LogLevel::kWarn, "metric callback reported a series twice", {{"metric", name()}});
        continue;
      }
      previous = &s.label_values;
      std::string value;
      AppendDouble(&value, s.value);
      AppendSample(out, name(), names, s.label_values, "", "", value);
    }
  }

 private:
  const CollectFn fn_;
};

std::vector<std::string> SeriesNames(std::string_view name, MetricType type) {
  std::vector<std::string> names = {std::string(name)};
  if (type == MetricType::kHistogram) {
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
      names.push_back(absl::StrCat(AbslView(name), suffix));
    }
  }
  return names;
}

}  // namespace

std::string_view MetricTypeName(MetricType type) {
  switch (type) {
    case MetricType::kCounter:
      return "counter";
    case MetricType::kGauge:
      return "gauge";
    case MetricType::kHistogram:
      return "histogram";
  }
  return "untyped";
}

namespace internal {

void WriteChild(const FamilyBase& family, const std::vector<std::string>& label_values,
                const Counter& counter, std::string* out) {
  AppendSample(out, family.name(), family.label_names(), label_values, "", "",
               absl::StrCat(counter.Value()));
}

void WriteChild(const FamilyBase& family, const std::vector<std::string>& label_values,
                const Gauge& gauge, std::string* out) {
  std::string value;
  AppendDouble(&value, gauge.Value());
  AppendSample(out, family.name(), family.label_names(), label_values, "", "", value);
}

void WriteChild(const FamilyBase& family, const std::vector<std::string>& label_values,
                const Histogram& histogram, std::string* out) {
  const Histogram::Snapshot s = histogram.Read();
  const std::string bucket = absl::StrCat(family.name(), "_bucket");
  const std::vector<double>& bounds = histogram.bounds();
  std::string le;
  for (size_t i = 0; i <= bounds.size(); ++i) {
    le.clear();
    AppendDouble(&le, i < bounds.size() ? bounds[i] : std::numeric_limits<double>::infinity());
    AppendSample(out, bucket, family.label_names(), label_values, "le", le,
                 absl::StrCat(s.cumulative[i]));
  }
  std::string sum;
  AppendDouble(&sum, s.sum);
  AppendSample(out, absl::StrCat(family.name(), "_sum"), family.label_names(), label_values, "", "",
               sum);
  AppendSample(out, absl::StrCat(family.name(), "_count"), family.label_names(), label_values, "",
               "", absl::StrCat(s.count));
}

}  // namespace internal

CallbackHandle::CallbackHandle(CallbackHandle&& other) noexcept
    : registry_(std::exchange(other.registry_, nullptr)), id_(std::exchange(other.id_, 0)) {}

CallbackHandle& CallbackHandle::operator=(CallbackHandle&& other) noexcept {
  if (this != &other) {
    Reset();
    registry_ = std::exchange(other.registry_, nullptr);
    id_ = std::exchange(other.id_, 0);
  }
  return *this;
}

void CallbackHandle::Reset() {
  if (registry_ != nullptr) registry_->RemoveCallback(id_);
  registry_ = nullptr;
  id_ = 0;
}

Registry::~Registry() = default;

internal::FamilyBase* Registry::AddFamily(
    std::string_view name, std::string_view help, MetricType type,
    const std::vector<std::string>& label_names, const std::vector<double>& bounds,
    bool is_callback, const std::function<std::unique_ptr<internal::FamilyBase>()>& make) {
  if (!IsValidMetricName(name)) FatalRegistration(name, "invalid metric name");
  std::set<std::string_view> seen;
  for (const std::string& label : label_names) {
    if (!IsValidLabelName(label)) FatalRegistration(name, absl::StrCat("invalid label ", label));
    if (!seen.insert(label).second) FatalRegistration(name, absl::StrCat("label twice: ", label));
    if (type == MetricType::kHistogram && label == "le") {
      FatalRegistration(name, "a histogram cannot have a label named le");
    }
  }
  absl::MutexLock lock(&mu_);
  auto it = families_.find(name);
  if (it != families_.end()) {
    internal::FamilyBase* f = it->second.get();
    if (is_callback || f->is_callback() || f->type() != type || f->help() != help ||
        f->label_names() != label_names || f->bounds() != bounds) {
      FatalRegistration(name, "registered twice with a different definition");
    }
    return f;
  }
  std::vector<std::string> series = SeriesNames(name, type);
  for (const std::string& s : series) {
    auto taken = series_names_.find(s);
    if (taken != series_names_.end()) {
      FatalRegistration(name, absl::StrCat("series name ", s, " is taken by ", taken->second));
    }
  }
  std::unique_ptr<internal::FamilyBase> family = make();
  internal::FamilyBase* f = family.get();
  for (std::string& s : series) series_names_.emplace(std::move(s), std::string(name));
  families_.emplace(std::string(name), std::move(family));
  return f;
}

CounterFamily* Registry::AddCounterFamily(std::string_view name, std::string_view help,
                                          std::vector<std::string> label_names) {
  return static_cast<CounterFamily*>(
      AddFamily(name, help, MetricType::kCounter, label_names, {}, false, [&] {
        return std::make_unique<CounterFamily>(
            std::string(name), std::string(help), MetricType::kCounter, label_names,
            std::vector<double>{}, [] { return std::make_unique<Counter>(); });
      }));
}

GaugeFamily* Registry::AddGaugeFamily(std::string_view name, std::string_view help,
                                      std::vector<std::string> label_names) {
  return static_cast<GaugeFamily*>(
      AddFamily(name, help, MetricType::kGauge, label_names, {}, false, [&] {
        return std::make_unique<GaugeFamily>(std::string(name), std::string(help),
                                             MetricType::kGauge, label_names, std::vector<double>{},
                                             [] { return std::make_unique<Gauge>(); });
      }));
}

HistogramFamily* Registry::AddHistogramFamily(std::string_view name, std::string_view help,
                                              std::vector<std::string> label_names,
                                              std::vector<double> bounds) {
  return static_cast<HistogramFamily*>(
      AddFamily(name, help, MetricType::kHistogram, label_names, bounds, false, [&] {
        return std::make_unique<HistogramFamily>(
            std::string(name), std::string(help), MetricType::kHistogram, label_names, bounds,
            [bounds] { return std::make_unique<Histogram>(bounds); });
      }));
}

Counter* Registry::AddCounter(std::string_view name, std::string_view help) {
  return AddCounterFamily(name, help, {})->WithLabelValues({});
}

Gauge* Registry::AddGauge(std::string_view name, std::string_view help) {
  return AddGaugeFamily(name, help, {})->WithLabelValues({});
}

Histogram* Registry::AddHistogram(std::string_view name, std::string_view help,
                                  std::vector<double> bounds) {
  return AddHistogramFamily(name, help, {}, std::move(bounds))->WithLabelValues({});
}

CallbackHandle Registry::AddCallbackGauge(std::string_view name, std::string_view help,
                                          std::function<double()> fn) {
  return AddCollector(name, help, MetricType::kGauge, {},
                      [fn = std::move(fn)](std::vector<Sample>* samples) {
                        samples->push_back({{}, fn()});
                      });
}

CallbackHandle Registry::AddCallbackCounter(std::string_view name, std::string_view help,
                                            std::function<double()> fn) {
  return AddCollector(name, help, MetricType::kCounter, {},
                      [fn = std::move(fn)](std::vector<Sample>* samples) {
                        samples->push_back({{}, fn()});
                      });
}

CallbackHandle Registry::AddCollector(std::string_view name, std::string_view help, MetricType type,
                                      std::vector<std::string> label_names, CollectFn fn) {
  if (type == MetricType::kHistogram)
    FatalRegistration(name, "callback histograms are not supported");
  AddFamily(name, help, type, label_names, {}, true, [&] {
    return std::make_unique<CallbackFamily>(std::string(name), std::string(help), type, label_names,
                                            std::move(fn));
  });
  absl::MutexLock lock(&mu_);
  const uint64_t id = next_callback_id_++;
  callbacks_.emplace(id, std::string(name));
  return CallbackHandle(this, id);
}

void Registry::RemoveCallback(uint64_t id) {
  absl::MutexLock lock(&mu_);
  auto it = callbacks_.find(id);
  CHECK(it != callbacks_.end());
  const std::string name = std::move(it->second);
  callbacks_.erase(it);
  auto family = families_.find(name);
  CHECK(family != families_.end());
  for (const std::string& s : SeriesNames(name, family->second->type())) series_names_.erase(s);
  families_.erase(family);
}

void Registry::WritePrometheusText(std::string* out) const {
  absl::MutexLock lock(&mu_);
  std::string samples;
  for (const auto& [name, family] : families_) {
    samples.clear();
    family->WriteSamples(&samples);
    if (samples.empty()) continue;
    absl::StrAppend(out, "# HELP ", name, " ");
    AppendEscapedHelp(out, family->help());
    absl::StrAppend(out, "\n# TYPE ", name, " ", AbslView(MetricTypeName(family->type())), "\n");
    out->append(samples);
  }
}

}  // namespace rametcd::metrics
