// A watch client that stops reading must not make the server buffer without bound, and once it
// reads again it gets every event, in order, caught up from the history ring.
#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "grpcpp/channel.h"
#include "gtest/gtest.h"
#include "support/server_process.h"

namespace rametcd::testing {
namespace {

constexpr int kPuts = 4000;
constexpr size_t kValueBytes = 16 * 1024;

// Runs the write workload and returns the server's resident-memory growth; prints put latency.
int64_t WriteWorkload(const ServerProcess& server, const char* label) {
  auto kv = server.NewKvStub();
  const int64_t before = server.RssBytes();
  std::vector<double> latency_ms;
  for (int i = 0; i < kPuts; ++i) {
    grpc::ClientContext ctx;
    etcdserverpb::PutRequest put;
    put.set_key("s/" + std::to_string(i % 100));
    put.set_value(std::string(kValueBytes, static_cast<char>('a' + i % 26)));
    etcdserverpb::PutResponse resp;
    auto start = std::chrono::steady_clock::now();
    EXPECT_TRUE(kv->Put(&ctx, put, &resp).ok());
    latency_ms.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
            .count());
  }
  std::sort(latency_ms.begin(), latency_ms.end());
  const int64_t growth = server.RssBytes() - before;
  std::printf("%s: put p50 %.3f ms, p99 %.3f ms, server RSS growth %.1f MiB\n", label,
              latency_ms[latency_ms.size() / 2], latency_ms[latency_ms.size() * 99 / 100],
              growth / 1048576.0);
  return growth;
}

TEST(WatchSlowConsumerTest, MemoryIsBoundedAndTheClientCatchesUp) {
  const std::vector<std::string> flags = {"--watch-stream-max-bytes", "65536"};
  auto baseline = ServerProcess::StartRametcd(flags);
  ASSERT_TRUE(baseline.ok()) << baseline.status();
  const int64_t without_watcher = WriteWorkload(**baseline, "no watcher");

  auto server = ServerProcess::StartRametcd(flags);
  ASSERT_TRUE(server.ok()) << server.status();
  auto stub = etcdserverpb::Watch::NewStub((*server)->channel());
  grpc::ClientContext ctx;
  auto stream = stub->Watch(&ctx);
  etcdserverpb::WatchRequest create;
  create.mutable_create_request()->set_key("s/");
  create.mutable_create_request()->set_range_end("s0");
  create.mutable_create_request()->set_prev_kv(true);
  // From the first write on, however late the create reaches the server (it is not waited for).
  create.mutable_create_request()->set_start_revision(2);
  ASSERT_TRUE(stream->Write(create));
  // Nothing is read while 4000 revisions with 32 KiB of events each (128 MiB) are written.
  const int64_t with_watcher = WriteWorkload(**server, "watcher not reading");
  EXPECT_LT(with_watcher - without_watcher, 40ll << 20)
      << "the server buffered the slow watcher's events";

  etcdserverpb::WatchResponse resp;
  ASSERT_TRUE(stream->Read(&resp));
  EXPECT_TRUE(resp.created());
  int64_t next = 2;
  while (next <= kPuts + 1) {
    if (!stream->Read(&resp)) {
      grpc::Status status = stream->Finish();
      FAIL() << "stream ended at revision " << next << ": " << status.error_message();
    }
    ASSERT_FALSE(resp.canceled()) << resp.ShortDebugString().substr(0, 200);
    for (const auto& e : resp.events()) {
      ASSERT_EQ(e.kv().mod_revision(), next) << "gap or duplicate";
      ASSERT_EQ(e.kv().value().size(), kValueBytes);
      if (next > 101) {
        ASSERT_TRUE(e.has_prev_kv());
      }
      ++next;
    }
  }
  ctx.TryCancel();
  stream->Finish().ok();
}

}  // namespace
}  // namespace rametcd::testing
