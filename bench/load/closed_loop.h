// Driving requests: closed-loop clients (each starts its next request when the previous one is
// answered, as etcd's `benchmark` does) and an open loop at a fixed rate.
//
// An Op starts one asynchronous request (gRPC callback API) and reports its completion through
// the Completion it is given, exactly once, from a gRPC thread; it must not block. Per-client
// state of an Op (random generators, known revisions) is only touched by that client's requests,
// which never overlap.
//
// Ownership: the runners own the Completions; the Op must outlive the run.
#ifndef RAMETCD_BENCH_LOAD_CLOSED_LOOP_H_
#define RAMETCD_BENCH_LOAD_CLOSED_LOOP_H_

#include <cstdint>

#include "load/stats.h"

namespace rametcd::bench {

class Completion {
 public:
  virtual void Done(bool ok) = 0;

 protected:
  ~Completion() = default;
};

class Op {
 public:
  virtual ~Op() = default;
  // Starts one request of client `client` (0 .. clients-1); calls done->Done(ok) when answered.
  virtual void Start(int client, Completion* done) = 0;
};

struct LoopResult {
  uint64_t ok = 0;
  uint64_t errors = 0;
  double seconds = 0;  // from the first request to the last answer
  Latencies latency;
};

// `clients` closed-loop clients until `total` requests were started (0: no limit) or
// `duration_seconds` passed (0: no limit). Blocks until every request is answered.
LoopResult RunClosedLoop(Op& op, int clients, int64_t total, double duration_seconds);

// Starts requests at `rate` per second for `duration_seconds`, answered or not (an open loop:
// a slow server gets more requests in flight, not fewer). Requests overlap, so the Op must not
// keep per-client state; the client index is always 0. Blocks until every request is answered.
LoopResult RunOpenLoop(Op& op, double rate, double duration_seconds);

}  // namespace rametcd::bench

#endif  // RAMETCD_BENCH_LOAD_CLOSED_LOOP_H_
