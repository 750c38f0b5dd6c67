#include "server/apply_loop.h"

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"

namespace rametcd::server {
namespace {

// Runs `fn` as an apply task and waits for it.
void RunOnLoop(ApplyLoop& loop, absl::AnyInvocable<void(ApplyLoop::Engine&)> fn) {
  absl::Notification done;
  ASSERT_TRUE(loop.Submit([&](ApplyLoop::Engine& engine) {
    fn(engine);
    done.Notify();
  }));
  done.WaitForNotification();
}

TEST(ApplyLoopTest, RunsTasksInSubmissionOrderOnOneThread) {
  ApplyLoop loop(ApplyLoop::Options{});
  std::vector<int> order;
  std::thread::id loop_thread;
  absl::Notification done;
  for (int i = 0; i < 1000; ++i) {
    ASSERT_TRUE(loop.Submit([&, i](ApplyLoop::Engine&) {
      if (i == 0) loop_thread = std::this_thread::get_id();
      EXPECT_EQ(std::this_thread::get_id(), loop_thread);
      order.push_back(i);
      if (i == 999) done.Notify();
    }));
  }
  done.WaitForNotification();
  ASSERT_EQ(order.size(), 1000u);
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(order[i], i);
}

TEST(ApplyLoopTest, RefusesBeyondTheBoundAndAfterStop) {
  ApplyLoop::Options options;
  options.max_pending = 2;
  ApplyLoop loop(options);
  absl::Notification release;
  absl::Notification blocked;
  ASSERT_TRUE(loop.Submit([&](ApplyLoop::Engine&) {
    blocked.Notify();
    release.WaitForNotification();
  }));
  blocked.WaitForNotification();  // the loop thread is now busy; the queue is empty
  EXPECT_TRUE(loop.Submit([](ApplyLoop::Engine&) {}));
  EXPECT_TRUE(loop.Submit([](ApplyLoop::Engine&) {}));
  EXPECT_FALSE(loop.Submit([](ApplyLoop::Engine&) {}));
  release.Notify();
  loop.Stop();
  EXPECT_FALSE(loop.Submit([](ApplyLoop::Engine&) {}));
}

TEST(ApplyLoopTest, ExecuteRunsOnTheCallerWhenIdleElseQueuesInOrder) {
  ApplyLoop loop(ApplyLoop::Options{});
  std::vector<int> order;
  std::thread::id ran_on;
  ASSERT_TRUE(loop.Execute([&](ApplyLoop::Engine&) {
    ran_on = std::this_thread::get_id();
    order.push_back(0);
  }));
  EXPECT_EQ(ran_on, std::this_thread::get_id());  // ran before Execute returned
  ASSERT_EQ(order.size(), 1u);

  // While the loop thread runs a task, Execute queues behind it and behind what is queued.
  absl::Notification release;
  absl::Notification blocked;
  ASSERT_TRUE(loop.Submit([&](ApplyLoop::Engine&) {
    blocked.Notify();
    release.WaitForNotification();
    order.push_back(1);
  }));
  blocked.WaitForNotification();
  ASSERT_TRUE(loop.Submit([&](ApplyLoop::Engine&) { order.push_back(2); }));
  ASSERT_TRUE(loop.Execute([&](ApplyLoop::Engine&) { order.push_back(3); }));
  release.Notify();
  absl::Notification done;
  ASSERT_TRUE(loop.Submit([&](ApplyLoop::Engine&) { done.Notify(); }));
  done.WaitForNotification();
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3}));
  loop.Stop();
  EXPECT_FALSE(loop.Execute([](ApplyLoop::Engine&) {}));
}

TEST(ApplyLoopTest, ExecuteRunsOnlyThePointTasksQueuedAheadOfAnyOther) {
  ApplyLoop loop(ApplyLoop::Options{});
  absl::Mutex mu;
  std::vector<std::pair<char, std::thread::id>> ran;  // task, thread
  auto record = [&](char name) {
    absl::MutexLock lock(&mu);
    ran.emplace_back(name, std::this_thread::get_id());
  };
  absl::Notification a_running;
  absl::Notification release_a;
  std::thread::id runner;
  std::thread first([&] {
    runner = std::this_thread::get_id();
    ASSERT_TRUE(loop.Execute([&](ApplyLoop::Engine&) {
      a_running.Notify();
      release_a.WaitForNotification();
      record('a');
    }));
  });
  a_running.WaitForNotification();
  ASSERT_TRUE(loop.Execute([&](ApplyLoop::Engine&) { record('b'); }));
  ASSERT_TRUE(loop.Submit([&](ApplyLoop::Engine&) { record('c'); }));
  ASSERT_TRUE(loop.Execute([&](ApplyLoop::Engine&) { record('d'); }));
  release_a.Notify();
  first.join();
  RunOnLoop(loop, [&](ApplyLoop::Engine&) { record('e'); });
  absl::MutexLock lock(&mu);
  ASSERT_EQ(ran.size(), 5u);
  std::string order;
  for (const auto& [name, thread] : ran) order += name;
  EXPECT_EQ(order, "abcde");
  // a and the point task queued behind it ran on the Execute caller's thread; c (queued by
  // Submit) and d (queued behind c) were left to the loop thread.
  EXPECT_EQ(ran[0].second, runner);
  EXPECT_EQ(ran[1].second, runner);
  EXPECT_NE(ran[2].second, runner);
  EXPECT_NE(ran[3].second, runner);
}

TEST(ApplyLoopTest, ExecuteFromManyThreadsRunsOneTaskAtATime) {
  ApplyLoop loop(ApplyLoop::Options{});
  std::atomic<int> inside{0};
  std::atomic<int> overlaps{0};
  int64_t counter = 0;  // touched only by tasks
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 2000; ++i) {
        auto task = [&](ApplyLoop::Engine& engine) {
          if (inside.fetch_add(1) != 0) ++overlaps;
          ++counter;
          etcdserverpb::PutRequest put;
          put.set_key("k");
          etcdserverpb::PutResponse resp;
          EXPECT_TRUE(engine.store.Put(put, &resp).ok());
          inside.fetch_sub(1);
        };
        // Queued and inline tasks mix: the loop thread and the callers take turns.
        if (i % 3 == 0) {
          ASSERT_TRUE(loop.Submit(task));
        } else {
          ASSERT_TRUE(loop.Execute(task));
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  RunOnLoop(loop, [&](ApplyLoop::Engine& engine) {
    EXPECT_EQ(counter, 8000);
    EXPECT_EQ(engine.store.revision(), 8001);
  });
  EXPECT_EQ(overlaps.load(), 0);
}

TEST(ApplyLoopTest, StopRunsWhatIsAlreadyQueued) {
  std::atomic<int> ran{0};
  {
    ApplyLoop loop(ApplyLoop::Options{});
    for (int i = 0; i < 100; ++i) ASSERT_TRUE(loop.Submit([&](ApplyLoop::Engine&) { ++ran; }));
  }
  EXPECT_EQ(ran.load(), 100);
}

TEST(ApplyLoopTest, CompactionIsReleasedBetweenBatches) {
  ApplyLoop::Options options;
  options.compaction_step_keys = 1;
  ApplyLoop loop(options);
  absl::Notification compacted;
  ASSERT_TRUE(loop.Submit([&](ApplyLoop::Engine& engine) {
    for (int i = 0; i < 50; ++i) {
      etcdserverpb::PutRequest put;
      put.set_key("k" + std::to_string(i % 5));
      etcdserverpb::PutResponse resp;
      ASSERT_TRUE(engine.store.Put(put, &resp).ok());
    }
    ASSERT_TRUE(engine.store.Compact(engine.store.revision()).ok());
    EXPECT_TRUE(engine.store.compaction_pending());
  }));
  // With no further requests the loop keeps releasing, one key per step, until done.
  while (!compacted.HasBeenNotified()) {
    absl::Notification checked;
    ASSERT_TRUE(loop.Submit([&](ApplyLoop::Engine& engine) {
      if (!engine.store.compaction_pending()) {
        EXPECT_EQ(engine.store.retained_versions(), 5u);
        compacted.Notify();
      }
      checked.Notify();
    }));
    checked.WaitForNotification();
  }
}

TEST(ApplyLoopTest, HistoryBelowTheCompactionPointIsDroppedOnceDelivered) {
  ApplyLoop::Options options;
  options.compaction_step_keys = 3;
  ApplyLoop loop(options);
  RunOnLoop(loop, [](ApplyLoop::Engine& engine) {
    for (int i = 0; i < 20; ++i) {
      etcdserverpb::PutRequest put;
      put.set_key("k" + std::to_string(i));
      put.set_value(std::string(100, 'v'));
      etcdserverpb::PutResponse resp;
      ASSERT_TRUE(engine.store.Put(put, &resp).ok());
    }
    EXPECT_EQ(engine.store.history().events(), 20u);  // revisions 2..21
    ASSERT_TRUE(engine.store.Compact(15).ok());
  });
  // The loop drops revisions 2..14, three per step, without further requests; revision 15 stays
  // (a watch may start at the compaction point).
  bool trimmed = false;
  while (!trimmed) {
    RunOnLoop(loop, [&](ApplyLoop::Engine& engine) {
      trimmed = engine.store.history().covered_from() == 15;
      if (trimmed) {
        EXPECT_EQ(engine.store.history().events(), 7u);
        EXPECT_EQ(engine.store.history().entries().front()->revision, 15);
      }
    });
  }
}

}  // namespace
}  // namespace rametcd::server
