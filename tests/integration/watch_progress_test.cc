// Periodic progress notifications reach the watches that asked for them, at the interval set by
// --experimental-watch-progress-notify-interval, with the current revision and no events.
#include "gtest/gtest.h"
#include "support/server_process.h"
#include "support/watch_session.h"

namespace rametcd::testing {
namespace {

TEST(WatchProgressTest, QuietProgressNotifyWatchesGetNotified) {
  auto server =
      ServerProcess::StartRametcd({"--experimental-watch-progress-notify-interval", "200ms"});
  ASSERT_TRUE(server.ok()) << server.status();
  auto kv = (*server)->NewKvStub();
  grpc::ClientContext ctx;
  etcdserverpb::PutRequest put;
  put.set_key("elsewhere");
  put.set_value("v");
  etcdserverpb::PutResponse resp;
  ASSERT_TRUE(kv->Put(&ctx, put, &resp).ok());

  WatchSession session((*server)->channel());
  etcdserverpb::WatchRequest notify = CreateWatch("k");
  notify.mutable_create_request()->set_progress_notify(true);
  ASSERT_TRUE(session.Send(notify));            // id 0
  ASSERT_TRUE(session.Send(CreateWatch("j")));  // id 1: did not ask
  ASSERT_TRUE(session.Next().has_value());
  ASSERT_TRUE(session.Next().has_value());
  for (int i = 0; i < 3; ++i) {
    auto progress = session.Next(absl::Seconds(5));
    ASSERT_TRUE(progress.has_value()) << "no progress notification " << i;
    EXPECT_EQ(progress->watch_id(), 0);
    EXPECT_EQ(progress->events_size(), 0);
    EXPECT_EQ(progress->header().revision(), 2);
    EXPECT_FALSE(progress->created() || progress->canceled());
  }
}

TEST(WatchProgressTest, BadIntervalIsRefused) {
  CommandResult r =
      RunCommand({RametcdBinary(), "--experimental-watch-progress-notify-interval", "soon"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("--experimental-watch-progress-notify-interval"), std::string::npos);
}

}  // namespace
}  // namespace rametcd::testing
