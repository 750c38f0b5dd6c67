#include "server/undecodable_requests.h"

#include "absl/strings/str_cat.h"

namespace rametcd::server {
namespace {

using grpc::experimental::InterceptionHookPoints;
using grpc::experimental::ServerRpcInfo;

class UndecodableRequestInterceptor final : public grpc::experimental::Interceptor {
 public:
  // `method` is the server's registered name, which outlives the call.
  explicit UndecodableRequestInterceptor(const char* method) : method_(method ? method : "") {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    // A unary request that arrived but did not deserialize is handed on as no message.
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_MESSAGE) &&
        methods->GetRecvMessage() == nullptr) {
      undecodable_ = true;
    }
    if (undecodable_ &&
        methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS) &&
        methods->GetSendStatus().error_code() == grpc::StatusCode::UNIMPLEMENTED) {
      methods->ModifySendStatus(grpc::Status(
          grpc::StatusCode::INTERNAL,
          absl::StrCat("grpc: error unmarshalling request: not a valid ", method_, " request")));
    }
    methods->Proceed();
  }

 private:
  const char* const method_;
  bool undecodable_ = false;
};

class Factory final : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  grpc::experimental::Interceptor* CreateServerInterceptor(ServerRpcInfo* info) override {
    if (info->type() != ServerRpcInfo::Type::UNARY) return nullptr;
    return new UndecodableRequestInterceptor(info->method());
  }
};

}  // namespace

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
MakeUndecodableRequestInterceptor() {
  return std::make_unique<Factory>();
}

grpc::Status UndecodableStreamMessage(const std::string& type) {
  return grpc::Status(
      grpc::StatusCode::INTERNAL,
      absl::StrCat("grpc: failed to unmarshal the received message: not a valid ", type));
}

}  // namespace rametcd::server
