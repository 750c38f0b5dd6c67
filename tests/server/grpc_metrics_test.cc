#include "server/grpc_metrics.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "etcd/api/etcdserverpb/rpc.grpc.pb.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"
#include "metrics/registry.h"

namespace rametcd::server {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// Range answers OK with one key-value; Put fails with InvalidArgument.
class TestKv final : public etcdserverpb::KV::CallbackService {
 public:
  grpc::ServerUnaryReactor* Range(grpc::CallbackServerContext* ctx,
                                  const etcdserverpb::RangeRequest* req,
                                  etcdserverpb::RangeResponse* resp) override {
    mvccpb::KeyValue* kv = resp->add_kvs();
    kv->set_key(req->key());
    kv->set_value(absl::StrCat("value of ", req->key()));
    resp->set_count(1);
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
  grpc::ServerUnaryReactor* Put(grpc::CallbackServerContext* ctx, const etcdserverpb::PutRequest*,
                                etcdserverpb::PutResponse*) override {
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    reactor->Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "bad put"));
    return reactor;
  }
};

// Answers every WatchRequest with one WatchResponse; finishes OK when the client is done.
class TestWatch final : public etcdserverpb::Watch::CallbackService {
 public:
  grpc::ServerBidiReactor<etcdserverpb::WatchRequest, etcdserverpb::WatchResponse>* Watch(
      grpc::CallbackServerContext*) override {
    return new Reactor();
  }

 private:
  class Reactor final
      : public grpc::ServerBidiReactor<etcdserverpb::WatchRequest, etcdserverpb::WatchResponse> {
   public:
    Reactor() { StartRead(&req_); }
    void OnReadDone(bool ok) override {
      if (!ok) return Finish(grpc::Status::OK);
      resp_.Clear();
      resp_.set_watch_id(++n_);
      resp_.set_created(true);
      StartWrite(&resp_);
    }
    void OnWriteDone(bool ok) override {
      if (!ok) return Finish(grpc::Status(grpc::StatusCode::CANCELLED, "write failed"));
      StartRead(&req_);
    }
    void OnDone() override { delete this; }

   private:
    etcdserverpb::WatchRequest req_;
    etcdserverpb::WatchResponse resp_;
    int64_t n_ = 0;
  };
};

class GrpcMetricsTest : public ::testing::Test {
 protected:
  void StartServer(const std::vector<std::string>& preregister = {}) {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&kv_);
    builder.RegisterService(&watch_);
    std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> creators;
    creators.push_back(MakeGrpcMetricsInterceptor(&registry_, preregister));
    builder.experimental().SetInterceptorCreators(std::move(creators));
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    channel_ =
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials());
  }

  void TearDown() override {
    if (server_) server_->Shutdown();
  }

  std::string Scrape() {
    std::string out;
    registry_.WritePrometheusText(&out);
    return out;
  }

  static std::string Series(const std::string& name, const std::string& type,
                            const std::string& service, const std::string& method,
                            const std::string& code = "") {
    std::string s = absl::StrCat(name, "{grpc_type=\"", type, "\",grpc_service=\"", service,
                                 "\",grpc_method=\"", method, "\"");
    if (!code.empty()) absl::StrAppend(&s, ",grpc_code=\"", code, "\"");
    return s + "} ";
  }

  metrics::Registry registry_;  // outlives the server
  TestKv kv_;
  TestWatch watch_;
  std::unique_ptr<grpc::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
};

TEST_F(GrpcMetricsTest, CountsUnaryRpcsMessagesBytesAndCodes) {
  StartServer();
  auto kv = etcdserverpb::KV::NewStub(channel_);
  uint64_t received = 0, sent = 0;
  for (const char* key : {"a", "some/longer/key"}) {
    grpc::ClientContext ctx;
    etcdserverpb::RangeRequest req;
    req.set_key(key);
    etcdserverpb::RangeResponse resp;
    ASSERT_TRUE(kv->Range(&ctx, req, &resp).ok());
    received += req.ByteSizeLong();
    sent += resp.ByteSizeLong();
  }
  grpc::ClientContext ctx;
  etcdserverpb::PutRequest put;
  put.set_key("k");
  put.set_value(std::string(1000, 'v'));
  etcdserverpb::PutResponse put_resp;
  EXPECT_EQ(kv->Put(&ctx, put, &put_resp).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  received += put.ByteSizeLong();

  const std::string text = Scrape();
  const std::string kv_service = "etcdserverpb.KV";
  EXPECT_THAT(text,
              HasSubstr(Series("grpc_server_started_total", "unary", kv_service, "Range") + "2\n"));
  EXPECT_THAT(
      text,
      HasSubstr(Series("grpc_server_handled_total", "unary", kv_service, "Range", "OK") + "2\n"));
  EXPECT_THAT(
      text,
      HasSubstr(Series("grpc_server_msg_received_total", "unary", kv_service, "Range") + "2\n"));
  EXPECT_THAT(
      text, HasSubstr(Series("grpc_server_msg_sent_total", "unary", kv_service, "Range") + "2\n"));
  EXPECT_THAT(text,
              HasSubstr(Series("grpc_server_started_total", "unary", kv_service, "Put") + "1\n"));
  EXPECT_THAT(text, HasSubstr(Series("grpc_server_handled_total", "unary", kv_service, "Put",
                                     "InvalidArgument") +
                              "1\n"));
  // Every code of a seen method is exported, as zero until it happens.
  EXPECT_THAT(
      text,
      HasSubstr(Series("grpc_server_handled_total", "unary", kv_service, "Put", "OK") + "0\n"));
  EXPECT_THAT(text, HasSubstr(Series("grpc_server_handled_total", "unary", kv_service, "Range",
                                     "Unauthenticated") +
                              "0\n"));
  EXPECT_THAT(text, HasSubstr(Series("grpc_server_msg_received_total", "unary", kv_service, "Put") +
                              "1\n"));
  EXPECT_THAT(text,
              HasSubstr(Series("grpc_server_msg_sent_total", "unary", kv_service, "Put") + "0\n"));
  EXPECT_THAT(text, HasSubstr(absl::StrCat("etcd_network_client_grpc_received_bytes_total ",
                                           received, "\n")));
  EXPECT_THAT(text,
              HasSubstr(absl::StrCat("etcd_network_client_grpc_sent_bytes_total ", sent, "\n")));
  // Methods never called have no series without preregistration.
  EXPECT_THAT(text, Not(HasSubstr("grpc_method=\"Compact\"")));
}

TEST_F(GrpcMetricsTest, CountsBidiStreamMessages) {
  StartServer();
  auto watch = etcdserverpb::Watch::NewStub(channel_);
  grpc::ClientContext ctx;
  auto stream = watch->Watch(&ctx);
  uint64_t received = 0, sent = 0;
  for (int i = 0; i < 3; ++i) {
    etcdserverpb::WatchRequest req;
    req.mutable_create_request()->set_key(absl::StrCat("key", i));
    ASSERT_TRUE(stream->Write(req));
    received += req.ByteSizeLong();
    etcdserverpb::WatchResponse resp;
    ASSERT_TRUE(stream->Read(&resp));
    EXPECT_EQ(resp.watch_id(), i + 1);
    sent += resp.ByteSizeLong();
  }
  ASSERT_TRUE(stream->WritesDone());
  ASSERT_TRUE(stream->Finish().ok());

  const std::string text = Scrape();
  const std::string service = "etcdserverpb.Watch";
  EXPECT_THAT(text, HasSubstr(Series("grpc_server_started_total", "bidi_stream", service, "Watch") +
                              "1\n"));
  EXPECT_THAT(
      text,
      HasSubstr(Series("grpc_server_msg_received_total", "bidi_stream", service, "Watch") + "3\n"));
  EXPECT_THAT(
      text,
      HasSubstr(Series("grpc_server_msg_sent_total", "bidi_stream", service, "Watch") + "3\n"));
  EXPECT_THAT(text,
              HasSubstr(Series("grpc_server_handled_total", "bidi_stream", service, "Watch", "OK") +
                        "1\n"));
  EXPECT_THAT(text, HasSubstr(absl::StrCat("etcd_network_client_grpc_received_bytes_total ",
                                           received, "\n")));
  EXPECT_THAT(text,
              HasSubstr(absl::StrCat("etcd_network_client_grpc_sent_bytes_total ", sent, "\n")));
}

TEST_F(GrpcMetricsTest, UnknownMethodsShareOneSeries) {
  StartServer();
  // A compiled-in service that this server does not register...
  auto lease = etcdserverpb::Lease::NewStub(channel_);
  grpc::ClientContext ctx;
  etcdserverpb::LeaseGrantRequest req;
  etcdserverpb::LeaseGrantResponse resp;
  EXPECT_EQ(lease->LeaseGrant(&ctx, req, &resp).error_code(), grpc::StatusCode::UNIMPLEMENTED);
  // ...and made-up method names.
  grpc::GenericStub generic(channel_);
  for (int i = 0; i < 3; ++i) {
    grpc::ClientContext gctx;
    grpc::Slice empty("");
    grpc::ByteBuffer request(&empty, 1), response;
    grpc::Status status;
    bool done = false;
    absl::Mutex mu;
    generic.UnaryCall(&gctx, absl::StrCat("/made.Up/Method", i), grpc::StubOptions(), &request,
                      &response, [&](grpc::Status s) {
                        absl::MutexLock lock(&mu);
                        status = s;
                        done = true;
                      });
    absl::MutexLock lock(&mu);
    mu.Await(absl::Condition(&done));
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNIMPLEMENTED);
  }
  const std::string text = Scrape();
  EXPECT_THAT(
      text,
      HasSubstr(Series("grpc_server_started_total", "bidi_stream", "unknown", "unknown") + "4\n"));
  EXPECT_THAT(text, HasSubstr(Series("grpc_server_handled_total", "bidi_stream", "unknown",
                                     "unknown", "Unimplemented") +
                              "4\n"));
  EXPECT_THAT(text, Not(HasSubstr("made.Up")));
  EXPECT_THAT(text, Not(HasSubstr("LeaseGrant")));
}

TEST_F(GrpcMetricsTest, PreregisteredServicesExportZeroSeries) {
  StartServer({"etcdserverpb.KV", "etcdserverpb.Watch", "no.such.Service"});
  const std::string text = Scrape();
  EXPECT_THAT(text,
              HasSubstr(Series("grpc_server_started_total", "unary", "etcdserverpb.KV", "Compact") +
                        "0\n"));
  EXPECT_THAT(text, HasSubstr(Series("grpc_server_handled_total", "bidi_stream",
                                     "etcdserverpb.Watch", "Watch", "Unavailable") +
                              "0\n"));
  EXPECT_THAT(text, Not(HasSubstr("no.such.Service")));
  // Calls then count into the preregistered series.
  auto kv = etcdserverpb::KV::NewStub(channel_);
  grpc::ClientContext ctx;
  etcdserverpb::RangeRequest req;
  etcdserverpb::RangeResponse resp;
  ASSERT_TRUE(kv->Range(&ctx, req, &resp).ok());
  EXPECT_THAT(Scrape(), HasSubstr(Series("grpc_server_handled_total", "unary", "etcdserverpb.KV",
                                         "Range", "OK") +
                                  "1\n"));
}

}  // namespace
}  // namespace rametcd::server
