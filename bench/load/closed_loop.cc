#include "load/closed_loop.h"

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"

namespace rametcd::bench {
namespace {

class ClosedLoop {
 public:
  ClosedLoop(Op& op, int clients, int64_t total, double duration_seconds)
      : op_(op),
        total_(total),
        deadline_(duration_seconds > 0
                      ? Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                           std::chrono::duration<double>(duration_seconds))
                      : Clock::time_point::max()),
        active_(clients) {
    for (int i = 0; i < clients; ++i) clients_.push_back(std::make_unique<Client>(this, i));
  }

  LoopResult Run() {
    const Clock::time_point start = Clock::now();
    for (auto& c : clients_) Next(*c);
    all_done_.WaitForNotification();
    LoopResult result;
    result.seconds = std::chrono::duration<double>(last_answer_ - start).count();
    for (auto& c : clients_) {
      result.ok += c->ok;
      result.errors += c->errors;
      result.latency.Append(c->latency);
    }
    return result;
  }

 private:
  struct Client final : Completion {
    Client(ClosedLoop* loop, int index) : loop(loop), index(index) {}
    void Done(bool success) override {
      const Clock::time_point now = Clock::now();
      latency.Add(now - started);
      ++(success ? ok : errors);
      loop->Next(*this);
    }
    ClosedLoop* const loop;
    const int index;
    Clock::time_point started;
    Latencies latency;
    uint64_t ok = 0;
    uint64_t errors = 0;
  };

  void Next(Client& c) {
    const Clock::time_point now = Clock::now();
    if ((total_ > 0 && issued_.fetch_add(1, std::memory_order_relaxed) >= total_) ||
        now >= deadline_) {
      {
        absl::MutexLock lock(&mu_);
        last_answer_ = std::max(last_answer_, now);
      }
      if (active_.fetch_sub(1, std::memory_order_acq_rel) == 1) all_done_.Notify();
      return;
    }
    c.started = now;
    op_.Start(c.index, &c);
  }

  Op& op_;
  const int64_t total_;
  const Clock::time_point deadline_;
  std::vector<std::unique_ptr<Client>> clients_;
  std::atomic<int64_t> issued_{0};
  std::atomic<int> active_;
  absl::Notification all_done_;
  absl::Mutex mu_;
  Clock::time_point last_answer_ ABSL_GUARDED_BY(mu_);
};

// One request of the open loop; deletes itself when answered.
class OpenRequest final : public Completion {
 public:
  struct Shared {
    absl::Mutex mu;
    LoopResult result ABSL_GUARDED_BY(mu);
    int64_t in_flight ABSL_GUARDED_BY(mu) = 0;
    Clock::time_point last_answer ABSL_GUARDED_BY(mu);
  };
  explicit OpenRequest(Shared* shared) : shared_(shared), started_(Clock::now()) {}
  void Done(bool ok) override {
    const Clock::time_point now = Clock::now();
    {
      absl::MutexLock lock(&shared_->mu);
      shared_->result.latency.Add(now - started_);
      ++(ok ? shared_->result.ok : shared_->result.errors);
      --shared_->in_flight;
      shared_->last_answer = std::max(shared_->last_answer, now);
    }
    delete this;
  }

 private:
  Shared* const shared_;
  const Clock::time_point started_;
};

}  // namespace

LoopResult RunClosedLoop(Op& op, int clients, int64_t total, double duration_seconds) {
  ClosedLoop loop(op, clients, total, duration_seconds);
  return loop.Run();
}

LoopResult RunOpenLoop(Op& op, double rate, double duration_seconds) {
  OpenRequest::Shared shared;
  const Clock::time_point start = Clock::now();
  const auto count = static_cast<int64_t>(rate * duration_seconds);
  for (int64_t i = 0; i < count; ++i) {
    std::this_thread::sleep_until(start + std::chrono::duration_cast<Clock::duration>(
                                              std::chrono::duration<double>(i / rate)));
    {
      absl::MutexLock lock(&shared.mu);
      ++shared.in_flight;
    }
    op.Start(0, new OpenRequest(&shared));
  }
  absl::MutexLock lock(&shared.mu);
  shared.mu.Await(absl::Condition(
      +[](int64_t* in_flight) { return *in_flight == 0; }, &shared.in_flight));
  LoopResult result = std::move(shared.result);
  result.seconds = std::chrono::duration<double>(shared.last_answer - start).count();
  return result;
}

}  // namespace rametcd::bench
