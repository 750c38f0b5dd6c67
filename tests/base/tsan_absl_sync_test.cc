// Built only in the TSan build (RAMETCD_SANITIZE=thread): checks that src/base/tsan_absl_sync.cc
// makes every kind of handoff through Debian's uninstrumented abseil synchronization visible to
// ThreadSanitizer. Without it each of these correctly synchronized handoffs is reported as a data
// race, and the TSan runtime makes the test exit with code 66.
#include <thread>
#include <vector>

#include "absl/synchronization/barrier.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"

namespace rametcd {
namespace {

TEST(TsanAbslSyncTest, LockAndUnlock) {
  absl::Mutex mu;
  std::vector<int> shared;  // guarded by mu
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 1000; ++i) {
        absl::MutexLock lock(&mu);
        shared.push_back(t);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(shared.size(), 4000u);
}

TEST(TsanAbslSyncTest, ReaderLocks) {
  absl::Mutex mu;
  std::vector<int> shared;  // guarded by mu
  std::thread writer([&] {
    for (int i = 0; i < 1000; ++i) {
      absl::MutexLock lock(&mu);
      shared.push_back(i);
    }
  });
  std::thread reader([&] {
    size_t seen = 0;
    while (seen < 1000) {
      absl::ReaderMutexLock lock(&mu);
      seen = shared.size();
    }
  });
  writer.join();
  reader.join();
}

TEST(TsanAbslSyncTest, AwaitAndLockWhen) {
  absl::Mutex mu;
  int data = 0;  // written before `ready`, read after it
  bool ready = false;
  std::thread waiter([&] {
    absl::MutexLock lock(&mu);
    mu.Await(absl::Condition(&ready));
    data += 1;
  });
  std::thread when([&] {
    mu.LockWhen(absl::Condition(&ready));
    ready = true;
    mu.Unlock();
  });
  {
    absl::MutexLock lock(&mu);
    data = 41;
    ready = true;
  }
  waiter.join();
  when.join();
  EXPECT_EQ(data, 42);
}

TEST(TsanAbslSyncTest, CondVar) {
  absl::Mutex mu;
  absl::CondVar cv;
  std::vector<int> queue;  // guarded by mu
  std::thread consumer([&] {
    absl::MutexLock lock(&mu);
    while (queue.empty()) cv.Wait(&mu);
    queue.push_back(2);
  });
  {
    absl::MutexLock lock(&mu);
    queue.push_back(1);
    cv.Signal();
  }
  consumer.join();
  EXPECT_EQ(queue.size(), 2u);
}

TEST(TsanAbslSyncTest, NotificationAndBarrier) {
  std::vector<int> handed_over;
  absl::Notification done;
  std::thread producer([&] {
    handed_over.push_back(1);
    done.Notify();
  });
  done.WaitForNotification();
  handed_over.push_back(2);
  producer.join();

  std::vector<int> slots(3);
  auto* barrier = new absl::Barrier(3);
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&, t] {
      slots[t] = t + 1;
      if (barrier->Block()) delete barrier;
    });
  }
  slots[2] = 3;
  if (barrier->Block()) delete barrier;
  int sum = slots[0] + slots[1] + slots[2];  // every slot was written before the barrier
  for (auto& t : threads) t.join();
  EXPECT_EQ(sum, 6);
}

}  // namespace
}  // namespace rametcd
