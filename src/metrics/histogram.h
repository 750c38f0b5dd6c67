// Histogram: a Prometheus histogram with fixed bucket upper bounds, for latencies and sizes.
//
// Observe() adds one to the calling thread's cell for the value's bucket and the value to the
// thread's sum cell (per-thread cells of the CellArena, as Counter). Read() merges all threads.
// The exported _count is the sum of the buckets, so _count and the +Inf bucket always agree even
// when a scrape races with Observe(); only _sum may be one observation ahead or behind.
//
// Bucket helpers give etcd's layouts, e.g. EtcdDiskDurationBuckets() for
// etcd_disk_wal_fsync_duration_seconds and etcd_disk_backend_commit_duration_seconds.
//
// Ownership: usually owned by a Family in a Registry. Thread safety: all methods may be called
// from any thread. REQUIRES: no Observe() runs concurrently with or after destruction.
#ifndef RAMETCD_METRICS_HISTOGRAM_H_
#define RAMETCD_METRICS_HISTOGRAM_H_

#include <cstdint>
#include <vector>

namespace rametcd::metrics {

class Histogram {
 public:
  // `bounds` are the finite upper bounds (inclusive, Prometheus "le"), strictly increasing; the
  // +Inf bucket is implicit. CHECK-fails on unsorted or non-finite bounds (a programming error).
  explicit Histogram(std::vector<double> bounds);
  ~Histogram();
  Histogram(const Histogram&) = delete;
  Histogram& operator=(const Histogram&) = delete;

  // Counts `v` in the first bucket whose bound is >= v (NaN goes to +Inf) and adds it to the sum.
  void Observe(double v);

  struct Snapshot {
    std::vector<uint64_t> cumulative;  // per bound, then +Inf: observations <= bound
    uint64_t count = 0;                // == cumulative.back()
    double sum = 0;
  };
  // Merges all threads; takes the arena lock.
  Snapshot Read() const;

  const std::vector<double>& bounds() const { return bounds_; }

 private:
  const std::vector<double> bounds_;
  const uint32_t buckets_;  // first of bounds_.size() + 1 kUint cells (non-cumulative counts)
  const uint32_t sum_;      // one kDouble cell
};

// `count` bounds start, start*factor, start*factor^2, ... REQUIRES: start > 0, factor > 1.
std::vector<double> ExponentialBuckets(double start, double factor, int count);
// `count` bounds start, start+width, ... REQUIRES: width > 0.
std::vector<double> LinearBuckets(double start, double width, int count);
// Prometheus clients' default: .005 .01 .025 .05 .1 .25 .5 1 2.5 5 10 (seconds).
std::vector<double> DefaultBuckets();
// etcd's disk latency layout: 0.001 * 2^k seconds for k = 0..13 (1 ms to ~8 s).
std::vector<double> EtcdDiskDurationBuckets();

}  // namespace rametcd::metrics

#endif  // RAMETCD_METRICS_HISTOGRAM_H_
