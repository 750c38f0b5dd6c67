#include "metrics/histogram.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "base/logging.h"
#include "metrics/cell_arena.h"

namespace rametcd::metrics {
namespace {

using internal::CellArena;

std::vector<double> CheckedBounds(std::vector<double> bounds) {
  for (size_t i = 0; i < bounds.size(); ++i) {
    CHECK(std::isfinite(bounds[i]));
    CHECK(i == 0 || bounds[i - 1] < bounds[i]);
  }
  return bounds;
}

}  // namespace

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(CheckedBounds(std::move(bounds))),
      buckets_(CellArena::Get().Allocate(static_cast<uint32_t>(bounds_.size() + 1),
                                         CellArena::Kind::kUint)),
      sum_(CellArena::Get().Allocate(1, CellArena::Kind::kDouble)) {}

Histogram::~Histogram() {
  CellArena::Get().Free(buckets_, static_cast<uint32_t>(bounds_.size() + 1));
  CellArena::Get().Free(sum_, 1);
}

void Histogram::Observe(double v) {
  size_t bucket = bounds_.size();
  if (!std::isnan(v)) {
    bucket = std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin();
  }
  CellArena::AddUint(buckets_ + static_cast<uint32_t>(bucket), 1);
  CellArena::AddDouble(sum_, v);
}

Histogram::Snapshot Histogram::Read() const {
  Snapshot s;
  s.cumulative.resize(bounds_.size() + 1);
  CellArena::Get().SumUintRange(buckets_, static_cast<uint32_t>(s.cumulative.size()),
                                s.cumulative.data());
  for (size_t i = 1; i < s.cumulative.size(); ++i) s.cumulative[i] += s.cumulative[i - 1];
  s.count = s.cumulative.back();
  s.sum = CellArena::Get().SumDouble(sum_);
  return s;
}

std::vector<double> ExponentialBuckets(double start, double factor, int count) {
  CHECK(start > 0 && factor > 1 && count >= 0);
  std::vector<double> bounds;
  bounds.reserve(count);
  for (int i = 0; i < count; ++i) {
    bounds.push_back(start);
    start *= factor;
  }
  return bounds;
}

std::vector<double> LinearBuckets(double start, double width, int count) {
  CHECK(width > 0 && count >= 0);
  std::vector<double> bounds;
  bounds.reserve(count);
  for (int i = 0; i < count; ++i) bounds.push_back(start + width * i);
  return bounds;
}

std::vector<double> DefaultBuckets() { return {.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}; }

std::vector<double> EtcdDiskDurationBuckets() { return ExponentialBuckets(0.001, 2, 14); }

}  // namespace rametcd::metrics
