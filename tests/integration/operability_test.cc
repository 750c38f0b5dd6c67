// Operability of a running server: the space quota (NOSPACE raised, writes refused, recovery
// after compaction and disarm), periodic and revision auto-compaction, gRPC's health service,
// and startup warnings for etcd flags that do not apply.
#include <chrono>
#include <string>
#include <thread>

#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "grpcpp/generic/generic_stub.h"
#include "gtest/gtest.h"
#include "support/server_process.h"

namespace rametcd::testing {
namespace {

grpc::Status Put(etcdserverpb::KV::Stub* kv, const std::string& key, const std::string& value,
                 int64_t* revision = nullptr) {
  etcdserverpb::PutRequest req;
  req.set_key(key);
  req.set_value(value);
  etcdserverpb::PutResponse resp;
  grpc::ClientContext ctx;
  grpc::Status status = kv->Put(&ctx, req, &resp);
  if (revision != nullptr) *revision = resp.header().revision();
  return status;
}

grpc::Status GetAt(etcdserverpb::KV::Stub* kv, const std::string& key, int64_t revision) {
  etcdserverpb::RangeRequest req;
  req.set_key(key);
  req.set_revision(revision);
  etcdserverpb::RangeResponse resp;
  grpc::ClientContext ctx;
  return kv->Range(&ctx, req, &resp);
}

etcdserverpb::AlarmResponse Alarm(const ServerProcess& server,
                                  etcdserverpb::AlarmRequest::AlarmAction action,
                                  uint64_t member = 0) {
  auto stub = etcdserverpb::Maintenance::NewStub(server.channel());
  etcdserverpb::AlarmRequest req;
  req.set_action(action);
  req.set_memberid(member);
  req.set_alarm(action == etcdserverpb::AlarmRequest::GET ? etcdserverpb::NONE
                                                          : etcdserverpb::NOSPACE);
  etcdserverpb::AlarmResponse resp;
  grpc::ClientContext ctx;
  EXPECT_TRUE(stub->Alarm(&ctx, req, &resp).ok());
  return resp;
}

TEST(OperabilityTest, SpaceQuotaRaisesNospaceUntilSpaceIsFreedAndDisarmed) {
  auto server = ServerProcess::StartRametcd({"--quota-backend-bytes", "40000"});
  ASSERT_TRUE(server.ok()) << server.status();
  auto kv = (*server)->NewKvStub();
  const std::string value(1000, 'v');
  int written = 0;
  grpc::Status status;
  for (; written < 100; ++written) {
    status = Put(kv.get(), "/registry/pods/p" + std::to_string(written), value);
    if (!status.ok()) break;
  }
  // About 40 values of 1 KB fit; then etcd's error.
  EXPECT_GT(written, 20);
  EXPECT_LT(written, 40);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(status.error_message(), "etcdserver: mvcc: database space exceeded");
  etcdserverpb::AlarmResponse alarms = Alarm(**server, etcdserverpb::AlarmRequest::GET);
  ASSERT_EQ(alarms.alarms_size(), 1);
  EXPECT_EQ(alarms.alarms(0).alarm(), etcdserverpb::NOSPACE);
  EXPECT_THAT((*server)->log(), ::testing::HasSubstr("the space quota is exceeded"));

  // Deletes go through; after a compaction frees the space and an operator disarms, writes work.
  etcdserverpb::DeleteRangeRequest del;
  del.set_key("/registry/pods/");
  del.set_range_end("/registry/pods0");
  etcdserverpb::DeleteRangeResponse del_resp;
  grpc::ClientContext del_ctx;
  ASSERT_TRUE(kv->DeleteRange(&del_ctx, del, &del_resp).ok());
  EXPECT_EQ(del_resp.deleted(), written);
  EXPECT_FALSE(Put(kv.get(), "k", "v").ok()) << "still raised";
  etcdserverpb::CompactionRequest compact;
  compact.set_revision(del_resp.header().revision());
  etcdserverpb::CompactionResponse compact_resp;
  grpc::ClientContext compact_ctx;
  ASSERT_TRUE(kv->Compact(&compact_ctx, compact, &compact_resp).ok());
  Alarm(**server, etcdserverpb::AlarmRequest::DEACTIVATE, alarms.alarms(0).memberid());
  EXPECT_TRUE(Put(kv.get(), "k", "v").ok());
}

TEST(OperabilityTest, PeriodicAutoCompactionKeepsItsRetention) {
  // 1 s of history, checked every 100 ms.
  auto server = ServerProcess::StartRametcd(
      {"--auto-compaction-mode=periodic", "--auto-compaction-retention=1s"});
  ASSERT_TRUE(server.ok()) << server.status();
  auto kv = (*server)->NewKvStub();
  int64_t first = 0;
  ASSERT_TRUE(Put(kv.get(), "k", "0", &first).ok());
  ASSERT_TRUE(GetAt(kv.get(), "k", first).ok());
  // Keep writing for 3 s: the revision of the first put falls out of the retention.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  int64_t last = first;
  while (std::chrono::steady_clock::now() < deadline) {
    ASSERT_TRUE(Put(kv.get(), "k", "x", &last).ok());
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  grpc::Status old = GetAt(kv.get(), "k", first);
  EXPECT_EQ(old.error_message(), "etcdserver: mvcc: required revision has been compacted");
  // The recent past is kept.
  EXPECT_TRUE(GetAt(kv.get(), "k", last - 1).ok());
  EXPECT_THAT((*server)->log(), ::testing::HasSubstr("compacted automatically"));
}

TEST(OperabilityTest, GrpcHealthServesEmptyServiceAndWarnsAboutIgnoredFlags) {
  auto server = ServerProcess::StartRametcd({"--initial-cluster", "default=http://127.0.0.1:2380",
                                             "--snapshot-count=10000",
                                             "--experimental-initial-corrupt-check=true"});
  ASSERT_TRUE(server.ok()) << server.status();
  grpc::GenericStub stub((*server)->channel());
  grpc::ByteBuffer request;  // HealthCheckRequest{service: ""} encodes as no bytes
  grpc::Slice empty;
  request = grpc::ByteBuffer(&empty, 1);
  grpc::ByteBuffer response;
  grpc::ClientContext ctx;
  absl::Notification done;
  grpc::Status status;
  stub.UnaryCall(&ctx, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &request, &response,
                 [&](grpc::Status s) {
                   status = std::move(s);
                   done.Notify();
                 });
  done.WaitForNotification();
  ASSERT_TRUE(status.ok()) << status.error_message();
  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(response.Dump(&slices).ok());
  std::string bytes;
  for (const grpc::Slice& s : slices)
    bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  // HealthCheckResponse{status: SERVING (1)}: field 1, varint 1.
  EXPECT_EQ(bytes, std::string("\x08\x01", 2));

  const std::string log = (*server)->log();
  for (const char* flag : {"--initial-cluster has no effect", "--snapshot-count has no effect",
                           "--experimental-initial-corrupt-check has no effect"}) {
    EXPECT_THAT(log, ::testing::HasSubstr(flag));
  }
}

}  // namespace
}  // namespace rametcd::testing
