// Gauge: a Prometheus gauge, a value that goes up and down (queue lengths, sizes, states).
//
// One atomic double: Set() is a store, Add() a compare-and-swap loop. Gauges are written far
// less often than counters; a value that some other thread owns and that is cheap to read at
// scrape time is better exported with Registry::AddCallbackGauge than mirrored into a Gauge.
//
// Thread safety: all methods may be called from any thread.
#ifndef RAMETCD_METRICS_GAUGE_H_
#define RAMETCD_METRICS_GAUGE_H_

#include <atomic>

namespace rametcd::metrics {

class Gauge {
 public:
  Gauge() = default;
  Gauge(const Gauge&) = delete;
  Gauge& operator=(const Gauge&) = delete;

  void Set(double v) { value_.store(v, std::memory_order_relaxed); }
  void Add(double v) { value_.fetch_add(v, std::memory_order_relaxed); }
  void Sub(double v) { value_.fetch_sub(v, std::memory_order_relaxed); }
  void Increment() { Add(1); }
  void Decrement() { Sub(1); }
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

}  // namespace rametcd::metrics

#endif  // RAMETCD_METRICS_GAUGE_H_
