// WatchHub with a fake stream writer, so that a test decides when the "client" reads: fan-out,
// slow consumers (unsynced, caught up, or cancelled when they fell off the ring), progress
// requests (etcd 3.5.13 semantics) and periodic progress notifications.
#include "watch/watch_hub.h"

#include <vector>

#include "gtest/gtest.h"

namespace rametcd::watch {
namespace {

using etcdserverpb::WatchRequest;
using etcdserverpb::WatchResponse;

// A client whose reads the test controls: one write in flight at a time, completed by Read().
class FakeClient : public WatchStream::Writer {
 public:
  explicit FakeClient(WatchHub* hub, size_t soft_bytes = 1 << 20)
      : hub_(hub),
        stream_(
            std::make_shared<WatchStream>(WatchStream::Limits{soft_bytes, 4 * soft_bytes}, this)) {}

  void Write(const WatchResponse* response) override {
    in_flight_ = *response;
    has_in_flight_ = true;
  }
  void Finish(const grpc::Status&) override {}

  // Reads everything the server has queued, resuming the hub as the reactor would.
  std::vector<WatchResponse> ReadAll() {
    std::vector<WatchResponse> out;
    while (has_in_flight_) {
      out.push_back(in_flight_);
      has_in_flight_ = false;
      if (stream_->OnWriteDone(true).drained) hub_->Resume(stream_);
    }
    return out;
  }
  void Send(const WatchRequest& req) { hub_->Handle(stream_, req); }
  const std::shared_ptr<WatchStream>& stream() const { return stream_; }

 private:
  WatchHub* hub_;
  std::shared_ptr<WatchStream> stream_;
  WatchResponse in_flight_;
  bool has_in_flight_ = false;
};

WatchRequest Create(const std::string& key, const std::string& end = "", int64_t start = 0) {
  WatchRequest req;
  req.mutable_create_request()->set_key(key);
  req.mutable_create_request()->set_range_end(end);
  req.mutable_create_request()->set_start_revision(start);
  return req;
}

class WatchHubTest : public ::testing::Test {
 protected:
  explicit WatchHubTest(mvcc::HistoryRing::Options ring = {}) : store_(ring) {}

  void Put(const std::string& key, const std::string& value) {
    etcdserverpb::PutRequest req;
    req.set_key(key);
    req.set_value(value);
    etcdserverpb::PutResponse resp;
    ASSERT_TRUE(store_.Put(req, &resp).ok());
    hub_.Dispatch();
  }
  // The revisions of all events in `responses`, in order.
  static std::vector<int64_t> Revisions(const std::vector<WatchResponse>& responses) {
    std::vector<int64_t> revs;
    for (const auto& r : responses) {
      for (const auto& e : r.events()) revs.push_back(e.kv().mod_revision());
    }
    return revs;
  }

  mvcc::Store store_;
  WatchHub hub_{WatchHub::Options{}, &store_};
};

TEST_F(WatchHubTest, EventsReachOnlyMatchingWatches) {
  FakeClient c(&hub_);
  c.Send(Create("/registry/pods/a"));                    // 0: exact
  c.Send(Create("/registry/pods/", "/registry/pods0"));  // 1: prefix
  c.Send(Create("/registry/", "/registry/q"));           // 2: range
  c.Send(Create("/registry/pods/b"));                    // 3: exact, other key
  ASSERT_EQ(c.ReadAll().size(), 4u);                     // created x4
  Put("/registry/pods/a", "v");
  Put("/registry/services/s", "v");
  std::map<int64_t, std::vector<int64_t>> by_watch;
  for (const auto& r : c.ReadAll()) {
    for (const auto& e : r.events()) by_watch[r.watch_id()].push_back(e.kv().mod_revision());
  }
  EXPECT_EQ(by_watch[0], (std::vector<int64_t>{2}));
  EXPECT_EQ(by_watch[1], (std::vector<int64_t>{2}));
  EXPECT_EQ(by_watch[2], (std::vector<int64_t>{2}));
  EXPECT_EQ(by_watch.count(3), 0u);
  EXPECT_EQ(hub_.watcher_count(), 4u);
  hub_.RemoveStream(c.stream());
  EXPECT_EQ(hub_.watcher_count(), 0u);
}

TEST_F(WatchHubTest, SlowClientIsCaughtUpWithoutGapsOrDuplicates) {
  FakeClient slow(&hub_, /*soft_bytes=*/200);
  FakeClient fast(&hub_);
  slow.Send(Create("k"));
  fast.Send(Create("k"));
  fast.ReadAll();
  // The slow client reads nothing while 50 revisions are written.
  for (int i = 0; i < 50; ++i) {
    Put("k", std::string(20, 'v'));
    fast.ReadAll();
  }
  EXPECT_EQ(hub_.unsynced_count(), 1u);
  EXPECT_LT(slow.stream()->queued_bytes(), 1000u);  // bounded, not 50 responses
  std::vector<WatchResponse> got = slow.ReadAll();
  std::vector<int64_t> want;
  for (int64_t rev = 2; rev <= 51; ++rev) want.push_back(rev);
  EXPECT_EQ(Revisions(got), want);
  EXPECT_EQ(hub_.unsynced_count(), 0u);
  // Caught up: live delivery again, one response per revision.
  Put("k", "x");
  EXPECT_EQ(Revisions(slow.ReadAll()), (std::vector<int64_t>{52}));
}

TEST_F(WatchHubTest, ProgressRequestIsAnsweredOnceEveryWatchIsCaughtUp) {
  FakeClient c(&hub_, /*soft_bytes=*/100);
  c.Send(Create("k"));
  for (int i = 0; i < 20; ++i) Put("k", std::string(30, 'v'));
  ASSERT_EQ(hub_.unsynced_count(), 1u);
  WatchRequest progress;
  progress.mutable_progress_request();
  c.Send(progress);
  // Everything the client now reads: the created response, all events, and only then the
  // progress notification at the current revision.
  std::vector<WatchResponse> got = c.ReadAll();
  ASSERT_FALSE(got.empty());
  const WatchResponse& last = got.back();
  EXPECT_EQ(last.watch_id(), -1);
  EXPECT_EQ(last.header().revision(), store_.revision());
  EXPECT_EQ(last.events_size(), 0);
  EXPECT_EQ(Revisions(got).size(), 20u);
}

TEST_F(WatchHubTest, ProgressRequestWaitsForAFutureStart) {
  FakeClient c(&hub_);
  Put("k", "1");  // revision 2
  c.Send(Create("k", "", /*start=*/4));
  c.ReadAll();
  WatchRequest progress;
  progress.mutable_progress_request();
  c.Send(progress);
  EXPECT_TRUE(c.ReadAll().empty());
  Put("other", "1");  // revision 3: the watch's start (4) is now the next revision
  std::vector<WatchResponse> got = c.ReadAll();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].watch_id(), -1);
  EXPECT_EQ(got[0].header().revision(), 3);
}

TEST_F(WatchHubTest, PeriodicProgressOnlyForQuietProgressNotifyWatches) {
  FakeClient c(&hub_);
  WatchRequest notify = Create("a");
  notify.mutable_create_request()->set_progress_notify(true);
  c.Send(notify);  // 0
  WatchRequest busy = Create("b");
  busy.mutable_create_request()->set_progress_notify(true);
  c.Send(busy);         // 1
  c.Send(Create("c"));  // 2: did not ask
  c.ReadAll();
  const absl::Time t0 = absl::Now();
  hub_.Tick(t0);  // starts the interval
  Put("b", "1");
  c.ReadAll();
  hub_.Tick(t0 + absl::Minutes(10));
  std::vector<WatchResponse> got = c.ReadAll();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].watch_id(), 0);
  EXPECT_EQ(got[0].header().revision(), store_.revision());
  hub_.Tick(t0 + absl::Minutes(20));
  EXPECT_EQ(c.ReadAll().size(), 2u);  // now both are quiet
}

// Revisions past the visible one (ApplyLoop: their fsync-mode changes are not on disk yet) reach
// no watch and no header names them, until Dispatch is told they are visible. Regression: watches
// saw fsync-mode writes that kill -9 then took back, and the restarted server reused their
// revisions for other writes (found by the linearizability test).
TEST_F(WatchHubTest, NothingPastTheVisibleRevisionIsShown) {
  FakeClient c(&hub_);
  c.Send(Create("k"));
  ASSERT_EQ(c.ReadAll().size(), 1u);
  for (const char* value : {"2", "3", "4"}) {
    etcdserverpb::PutRequest req;
    req.set_key("k");
    req.set_value(value);
    etcdserverpb::PutResponse resp;
    ASSERT_TRUE(store_.Put(req, &resp).ok());
  }
  hub_.Dispatch(/*visible=*/2);
  EXPECT_EQ(Revisions(c.ReadAll()), (std::vector<int64_t>{2}));
  // A watch from now, one from the past and a progress request all stop at revision 2.
  FakeClient late(&hub_);
  late.Send(Create("k"));
  late.Send(Create("k", "", /*start=*/1));
  WatchRequest progress;
  progress.mutable_progress_request();
  late.Send(progress);
  std::vector<WatchResponse> got = late.ReadAll();
  for (const WatchResponse& r : got) EXPECT_EQ(r.header().revision(), 2) << r.ShortDebugString();
  EXPECT_EQ(Revisions(got), (std::vector<int64_t>{2}));
  ASSERT_FALSE(got.empty());
  EXPECT_EQ(got.back().watch_id(), -1);  // the progress notification
  hub_.Dispatch(/*visible=*/4);
  EXPECT_EQ(Revisions(c.ReadAll()), (std::vector<int64_t>{3, 4}));
  EXPECT_EQ(Revisions(late.ReadAll()), (std::vector<int64_t>{3, 3, 4, 4}));
}

class SmallRingWatchHubTest : public WatchHubTest {
 protected:
  SmallRingWatchHubTest() : WatchHubTest({/*max_events=*/10, /*max_bytes=*/1 << 20}) {}
};

TEST_F(SmallRingWatchHubTest, ClientThatFellOffTheRingIsCancelledAsCompacted) {
  FakeClient slow(&hub_, /*soft_bytes=*/100);
  slow.Send(Create("k"));
  for (int i = 0; i < 40; ++i) Put("k", std::string(30, 'v'));
  ASSERT_GT(store_.history().covered_from(), 10);
  std::vector<WatchResponse> got = slow.ReadAll();
  ASSERT_FALSE(got.empty());
  const WatchResponse& last = got.back();
  EXPECT_TRUE(last.canceled());
  EXPECT_EQ(last.compact_revision(), store_.history().covered_from() - 1);
  EXPECT_EQ(hub_.watcher_count(), 0u);
  // What it did receive is gap-free from the start.
  std::vector<int64_t> revs = Revisions(got);
  for (size_t i = 0; i < revs.size(); ++i) EXPECT_EQ(revs[i], static_cast<int64_t>(i) + 2);
}

TEST_F(SmallRingWatchHubTest, StartBeforeTheRingIsCancelledAsCompacted) {
  for (int i = 0; i < 30; ++i) Put("k", "v");
  FakeClient c(&hub_);
  c.Send(Create("k", "", /*start=*/3));
  std::vector<WatchResponse> got = c.ReadAll();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_TRUE(got[0].created());
  EXPECT_TRUE(got[1].canceled());
  EXPECT_EQ(got[1].compact_revision(), store_.history().covered_from() - 1);
}

}  // namespace
}  // namespace rametcd::watch
