// Clients may ping every 5 s, also with no call in flight, without being disconnected (gRPC's
// default server policy would answer the third such ping with GOAWAY "too_many_pings", and
// kube-apiserver's etcd client pings every 30 s).
#include <stdlib.h>

#include <chrono>
#include <thread>

#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "support/server_process.h"

namespace rametcd::testing {
namespace {

TEST(KeepaliveTest, PingsEveryFiveSecondsKeepTheConnection) {
  // An idle synchronous gRPC client reads its sockets only from the backup poller (every 5 s by
  // default), too late for ping acks; poll often so that only the server's policy matters. Read
  // when gRPC initializes, which happens with the first channel below.
  setenv("GRPC_CLIENT_CHANNEL_BACKUP_POLL_INTERVAL_MS", "100", 1);
  auto server = ServerProcess::StartRametcd();
  ASSERT_TRUE(server.ok()) << server.status();
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 5000);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  auto channel =
      grpc::CreateCustomChannel((*server)->endpoint(), grpc::InsecureChannelCredentials(), args);
  auto kv = etcdserverpb::KV::NewStub(channel);
  {
    grpc::ClientContext ctx;
    etcdserverpb::RangeRequest req;
    req.set_key("k");
    etcdserverpb::RangeResponse resp;
    ASSERT_TRUE(kv->Range(&ctx, req, &resp).ok());
  }
  ASSERT_EQ(channel->GetState(false), GRPC_CHANNEL_READY);
  // Idle for three ping intervals; any GOAWAY would take the channel out of READY.
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(16);
  while (std::chrono::steady_clock::now() < end) {
    ASSERT_EQ(channel->GetState(false), GRPC_CHANNEL_READY) << "the server dropped the connection";
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

}  // namespace
}  // namespace rametcd::testing
