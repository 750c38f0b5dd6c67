// Watch streams for the watch and k8s-mix workloads, and the puts whose events they time.
//
// WatchStreams opens one bidirectional Watch stream per entry of `ranges` (stream s on connection
// s % conns), creates one watch per (key, range_end) of that entry, and counts the events it
// receives. With `timed`, every event's value starts with the steady-clock nanoseconds at which
// its put was sent (TimedPutOp), and the put-to-event latency of each event is recorded.
// TimedPutOp puts the given keys round-robin with such values.
//
// Ownership and threads: each stream is a gRPC callback reactor owned by WatchStreams; its
// latencies are written by its own reads only and read after Stop(). Stop() (or the destructor)
// cancels the streams and waits until gRPC is done with them.
#ifndef RAMETCD_BENCH_LOAD_WATCH_STREAMS_H_
#define RAMETCD_BENCH_LOAD_WATCH_STREAMS_H_

#include <atomic>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "load/closed_loop.h"
#include "load/connections.h"
#include "load/stats.h"

namespace rametcd::bench {

using KeyRange = std::pair<std::string, std::string>;  // key, range_end ("" = the key alone)

class WatchStreams {
 public:
  WatchStreams(Connections& conns, const std::vector<std::vector<KeyRange>>& ranges, bool timed);
  ~WatchStreams();

  // Waits until every watch is created. Errors: DeadlineExceeded after `seconds`.
  absl::Status WaitCreated(double seconds);
  void Stop();

  uint64_t events() const { return events_.load(std::memory_order_relaxed); }
  // Every stream's put-to-event latencies (after Stop()).
  Latencies latencies() const;

 private:
  class Stream;
  std::vector<std::unique_ptr<Stream>> streams_;
  size_t watches_ = 0;
  std::atomic<size_t> created_{0};
  std::atomic<uint64_t> events_{0};
  bool stopped_ = false;
};

class TimedPutOp final : public Op {
 public:
  TimedPutOp(Connections& conns, std::vector<std::string> keys, int val_size);
  void Start(int client, Completion* done) override;

 private:
  Connections& conns_;
  const std::vector<std::string> keys_;
  const int val_size_;
  std::atomic<uint64_t> next_{0};
};

}  // namespace rametcd::bench

#endif  // RAMETCD_BENCH_LOAD_WATCH_STREAMS_H_
