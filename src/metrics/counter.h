// Counter: a Prometheus counter (a count that only goes up) cheap enough for every request.
//
// Add() writes the calling thread's own cell in the process-wide CellArena: a plain load and
// store on memory no other thread writes, so concurrent updaters never contend. Value() sums the
// cells of all threads (and of threads that have exited), which is the scrape-time cost.
//
// Ownership: usually created and owned by a Family in a Registry (see registry.h); callers keep
// the raw pointer for the family's lifetime. Thread safety: all methods may be called from any
// thread. REQUIRES: no Add() runs concurrently with or after destruction.
#ifndef RAMETCD_METRICS_COUNTER_H_
#define RAMETCD_METRICS_COUNTER_H_

#include <cstdint>

#include "metrics/cell_arena.h"

namespace rametcd::metrics {

class Counter {
 public:
  Counter() : cell_(internal::CellArena::Get().Allocate(1, internal::CellArena::Kind::kUint)) {}
  ~Counter() { internal::CellArena::Get().Free(cell_, 1); }
  Counter(const Counter&) = delete;
  Counter& operator=(const Counter&) = delete;

  void Increment() { Add(1); }
  void Add(uint64_t n) { internal::CellArena::AddUint(cell_, n); }

  // The total over all threads; takes the arena lock (scrapes and tests, not hot paths).
  uint64_t Value() const { return internal::CellArena::Get().SumUint(cell_); }

 private:
  const uint32_t cell_;
};

}  // namespace rametcd::metrics

#endif  // RAMETCD_METRICS_COUNTER_H_
