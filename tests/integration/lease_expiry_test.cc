// Leases expire on time: their keys are deleted in one revision per lease, with DELETE watch
// events; keepalives extend a lease's life; a revoke ends a lease that is being kept alive.
// TTLs leave seconds of slack between a grant and the requests that must come before its expiry
// (a loaded CI machine running the sanitizer builds can stall a client or the server for over a
// second); waits are bounded by generous timeouts, not asserted timings.
#include <chrono>
#include <set>
#include <thread>

#include "gtest/gtest.h"
#include "support/server_process.h"
#include "support/watch_session.h"

namespace rametcd::testing {
namespace {

class LeaseExpiryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = ServerProcess::StartRametcd();
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    kv_ = server_->NewKvStub();
    lease_ = etcdserverpb::Lease::NewStub(server_->channel());
  }
  int64_t Grant(int64_t id, int64_t ttl) {
    grpc::ClientContext ctx;
    etcdserverpb::LeaseGrantRequest req;
    req.set_id(id);
    req.set_ttl(ttl);
    etcdserverpb::LeaseGrantResponse resp;
    EXPECT_TRUE(lease_->LeaseGrant(&ctx, req, &resp).ok());
    return resp.id();
  }
  void Put(const std::string& key, int64_t lease) {
    grpc::ClientContext ctx;
    etcdserverpb::PutRequest req;
    req.set_key(key);
    req.set_value("v");
    req.set_lease(lease);
    etcdserverpb::PutResponse resp;
    const grpc::Status status = kv_->Put(&ctx, req, &resp);
    ASSERT_TRUE(status.ok()) << key << ": " << status.error_message();
  }
  int64_t Count(const std::string& prefix) {
    grpc::ClientContext ctx;
    etcdserverpb::RangeRequest req;
    req.set_key(prefix);
    req.set_range_end(prefix.substr(0, prefix.size() - 1) + "0");
    req.set_count_only(true);
    etcdserverpb::RangeResponse resp;
    EXPECT_TRUE(kv_->Range(&ctx, req, &resp).ok());
    return resp.count();
  }
  int64_t Remaining(int64_t id) {
    grpc::ClientContext ctx;
    etcdserverpb::LeaseTimeToLiveRequest req;
    req.set_id(id);
    etcdserverpb::LeaseTimeToLiveResponse resp;
    EXPECT_TRUE(lease_->LeaseTimeToLive(&ctx, req, &resp).ok());
    return resp.ttl();
  }

  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<etcdserverpb::KV::Stub> kv_;
  std::unique_ptr<etcdserverpb::Lease::Stub> lease_;
};

TEST_F(LeaseExpiryTest, ExpiryDeletesEachLeasesKeysInOneRevisionWithEvents) {
  WatchSession watch(server_->channel());
  ASSERT_TRUE(watch.Send(CreateWatch("e/", "e0")));
  ASSERT_TRUE(watch.Next().has_value());
  for (int64_t id : {1, 2, 3}) {
    ASSERT_EQ(Grant(id, 5), id);
    for (int k = 0; k < 3; ++k) Put("e/" + std::to_string(id) + "/" + std::to_string(k), id);
  }
  Put("e/kept", 0);
  std::set<int64_t> delete_revisions;
  int deletes = 0;
  while (deletes < 9) {
    auto r = watch.Next(absl::Seconds(10));
    ASSERT_TRUE(r.has_value()) << "leases did not expire";
    if (r->events_size() == 0 || r->events(0).type() != mvccpb::Event::DELETE) continue;
    // All of one lease's keys arrive together, in the response of their revision.
    EXPECT_EQ(r->events_size(), 3);
    for (const auto& e : r->events()) {
      EXPECT_EQ(e.type(), mvccpb::Event::DELETE);
      ++deletes;
      delete_revisions.insert(e.kv().mod_revision());
    }
  }
  EXPECT_EQ(delete_revisions.size(), 3u);  // one revision per lease
  EXPECT_EQ(Count("e/"), 1);
  for (int64_t id : {1, 2, 3}) EXPECT_EQ(Remaining(id), -1);
}

TEST_F(LeaseExpiryTest, KeepAliveExtendsLifeAndRevokeEndsIt) {
  ASSERT_EQ(Grant(10, 4), 10);
  ASSERT_EQ(Grant(11, 4), 11);
  Put("k/alive", 10);
  Put("k/dies", 11);
  grpc::ClientContext ctx;
  auto stream = lease_->LeaseKeepAlive(&ctx);
  // Keep lease 10 alive for two of its TTLs.
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(8);
  while (std::chrono::steady_clock::now() < end) {
    etcdserverpb::LeaseKeepAliveRequest req;
    req.set_id(10);
    etcdserverpb::LeaseKeepAliveResponse resp;
    ASSERT_TRUE(stream->Write(req) && stream->Read(&resp));
    EXPECT_EQ(resp.ttl(), 4);
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  EXPECT_EQ(Count("k/"), 1) << "the kept-alive key must remain, the other must be gone";
  EXPECT_EQ(Remaining(11), -1);
  // Revoke during keepalive: the key goes, and further keepalives answer TTL 0.
  grpc::ClientContext revoke_ctx;
  etcdserverpb::LeaseRevokeRequest revoke;
  revoke.set_id(10);
  etcdserverpb::LeaseRevokeResponse revoked;
  ASSERT_TRUE(lease_->LeaseRevoke(&revoke_ctx, revoke, &revoked).ok());
  EXPECT_EQ(Count("k/"), 0);
  etcdserverpb::LeaseKeepAliveRequest req;
  req.set_id(10);
  etcdserverpb::LeaseKeepAliveResponse resp;
  ASSERT_TRUE(stream->Write(req) && stream->Read(&resp));
  EXPECT_EQ(resp.ttl(), 0);
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());
}

}  // namespace
}  // namespace rametcd::testing
