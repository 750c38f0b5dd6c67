// Many concurrent gRPC clients against one rametcd: every write gets its own revision, revisions
// are gap-free, and compare-and-swap increments (kube-apiserver's optimistic update) never lose
// an update.
#include <algorithm>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "support/server_process.h"

namespace rametcd::testing {
namespace {

// Like etcd's client, wait for the connection instead of failing on a first-connect hiccup.
void Prepare(grpc::ClientContext* ctx) {
  ctx->set_wait_for_ready(true);
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
}

TEST(KvConcurrencyTest, ConcurrentPutsGetUniqueGapFreeRevisions) {
  auto server = ServerProcess::StartRametcd();
  ASSERT_TRUE(server.ok()) << server.status();
  constexpr int kClients = 8, kPutsEach = 300;
  absl::Mutex mu;
  std::vector<int64_t> revisions;
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      // One connection per client, as separate processes would have.
      grpc::ChannelArguments args;
      args.SetInt("client-index", c);
      auto kv = etcdserverpb::KV::NewStub(grpc::CreateCustomChannel(
          (*server)->endpoint(), grpc::InsecureChannelCredentials(), args));
      for (int i = 0; i < kPutsEach; ++i) {
        grpc::ClientContext ctx;
        Prepare(&ctx);
        etcdserverpb::PutRequest req;
        req.set_key("/registry/pods/c" + std::to_string(c) + "/" + std::to_string(i % 50));
        req.set_value("v");
        etcdserverpb::PutResponse resp;
        grpc::Status s = kv->Put(&ctx, req, &resp);
        ASSERT_TRUE(s.ok()) << s.error_message();
        absl::MutexLock lock(&mu);
        revisions.push_back(resp.header().revision());
      }
    });
  }
  for (auto& t : clients) t.join();
  std::sort(revisions.begin(), revisions.end());
  ASSERT_EQ(revisions.size(), static_cast<size_t>(kClients * kPutsEach));
  for (size_t i = 0; i < revisions.size(); ++i) {
    ASSERT_EQ(revisions[i], static_cast<int64_t>(i) + 2) << "at " << i;
  }
  auto kv = (*server)->NewKvStub();
  grpc::ClientContext ctx;
  etcdserverpb::RangeRequest count;
  count.set_key("/registry/pods/");
  count.set_range_end("/registry/pods0");
  count.set_count_only(true);
  etcdserverpb::RangeResponse resp;
  ASSERT_TRUE(kv->Range(&ctx, count, &resp).ok());
  EXPECT_EQ(resp.count(), kClients * 50);
  EXPECT_EQ(resp.header().revision(), kClients * kPutsEach + 1);
}

TEST(KvConcurrencyTest, CompareAndSwapNeverLosesAnIncrement) {
  auto server = ServerProcess::StartRametcd();
  ASSERT_TRUE(server.ok()) << server.status();
  constexpr int kClients = 6, kIncrementsEach = 100;
  std::vector<std::thread> clients;
  std::atomic<int> conflicts{0};
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&] {
      auto kv = (*server)->NewKvStub();
      for (int done = 0; done < kIncrementsEach;) {
        grpc::ClientContext get_ctx;
        Prepare(&get_ctx);
        etcdserverpb::RangeRequest get;
        get.set_key("counter");
        etcdserverpb::RangeResponse current;
        ASSERT_TRUE(kv->Range(&get_ctx, get, &current).ok());
        int64_t value = current.kvs_size() ? std::stoll(current.kvs(0).value()) : 0;
        int64_t mod = current.kvs_size() ? current.kvs(0).mod_revision() : 0;
        etcdserverpb::TxnRequest txn;
        auto* cmp = txn.add_compare();
        cmp->set_key("counter");
        cmp->set_target(etcdserverpb::Compare::MOD);
        cmp->set_mod_revision(mod);
        auto* put = txn.add_success()->mutable_request_put();
        put->set_key("counter");
        put->set_value(std::to_string(value + 1));
        grpc::ClientContext txn_ctx;
        Prepare(&txn_ctx);
        etcdserverpb::TxnResponse resp;
        ASSERT_TRUE(kv->Txn(&txn_ctx, txn, &resp).ok());
        if (resp.succeeded()) {
          ++done;
        } else {
          ++conflicts;
        }
      }
    });
  }
  for (auto& t : clients) t.join();
  auto kv = (*server)->NewKvStub();
  grpc::ClientContext ctx;
  etcdserverpb::RangeRequest get;
  get.set_key("counter");
  etcdserverpb::RangeResponse resp;
  ASSERT_TRUE(kv->Range(&ctx, get, &resp).ok());
  ASSERT_EQ(resp.kvs_size(), 1);
  EXPECT_EQ(resp.kvs(0).value(), std::to_string(kClients * kIncrementsEach));
  EXPECT_EQ(resp.kvs(0).version(), kClients * kIncrementsEach);
  std::printf("increments: %d, conflicts retried: %d\n", kClients * kIncrementsEach,
              conflicts.load());
}

}  // namespace
}  // namespace rametcd::testing
