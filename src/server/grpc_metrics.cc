#include "server/grpc_metrics.h"

#include <array>
#include <atomic>
#include <functional>
#include <string_view>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "base/logging.h"
#include "base/string_hash.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message_lite.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/interceptor.h"
#include "grpcpp/support/status.h"

namespace rametcd::server {
namespace {

using grpc::experimental::InterceptionHookPoints;
using grpc::experimental::ServerRpcInfo;

// gRPC status codes 0..16 by go-grpc-prometheus's (Go's codes.Code.String()) names.
constexpr int kNumCodes = 17;
constexpr std::array<const char*, kNumCodes> kCodeNames = {
    "OK",       "Canceled",       "Unknown",          "InvalidArgument",   "DeadlineExceeded",
    "NotFound", "AlreadyExists",  "PermissionDenied", "ResourceExhausted", "FailedPrecondition",
    "Aborted",  "OutOfRange",     "Unimplemented",    "Internal",          "Unavailable",
    "DataLoss", "Unauthenticated"};
constexpr int kCodeCanceled = 1;
constexpr int kCodeUnknown = 2;
static_assert(grpc::StatusCode::CANCELLED == kCodeCanceled &&
              grpc::StatusCode::UNKNOWN == kCodeUnknown &&
              grpc::StatusCode::UNAUTHENTICATED == kNumCodes - 1);

const char* TypeName(ServerRpcInfo::Type type) {
  switch (type) {
    case ServerRpcInfo::Type::UNARY:
      return "unary";
    case ServerRpcInfo::Type::CLIENT_STREAMING:
      return "client_stream";
    case ServerRpcInfo::Type::SERVER_STREAMING:
      return "server_stream";
    case ServerRpcInfo::Type::BIDI_STREAMING:
      return "bidi_stream";
  }
  return "unknown";
}

ServerRpcInfo::Type TypeOf(const google::protobuf::MethodDescriptor& m) {
  if (m.client_streaming()) {
    return m.server_streaming() ? ServerRpcInfo::Type::BIDI_STREAMING
                                : ServerRpcInfo::Type::CLIENT_STREAMING;
  }
  return m.server_streaming() ? ServerRpcInfo::Type::SERVER_STREAMING : ServerRpcInfo::Type::UNARY;
}

// Every counter one method needs, resolved once.
struct MethodMetrics {
  std::string full_name;  // "/etcdserverpb.KV/Range", as gRPC reports it
  ServerRpcInfo::Type type;
  bool protobuf = false;  // a compiled-in protobuf method: messages are protobuf messages
  bool raw = false;       // ... registered as a raw method: messages are ByteBuffers
  metrics::Counter* started = nullptr;
  std::array<metrics::Counter*, kNumCodes> handled = {};
  metrics::Counter* msg_received = nullptr;
  metrics::Counter* msg_sent = nullptr;
};

// The families and the method table, shared by all interceptors of one server.
class GrpcMetrics {
 public:
  GrpcMetrics(metrics::Registry* registry, const std::vector<std::string>& raw_methods)
      : raw_methods_(raw_methods.begin(), raw_methods.end()),
        started_(registry->AddCounterFamily("grpc_server_started_total",
                                            "Total number of RPCs started on the server.",
                                            {"grpc_type", "grpc_service", "grpc_method"})),
        handled_(registry->AddCounterFamily(
            "grpc_server_handled_total",
            "Total number of RPCs completed on the server, regardless of success or failure.",
            {"grpc_type", "grpc_service", "grpc_method", "grpc_code"})),
        msg_received_(registry->AddCounterFamily(
            "grpc_server_msg_received_total",
            "Total number of RPC stream messages received on the server.",
            {"grpc_type", "grpc_service", "grpc_method"})),
        msg_sent_(
            registry->AddCounterFamily("grpc_server_msg_sent_total",
                                       "Total number of gRPC stream messages sent by the server.",
                                       {"grpc_type", "grpc_service", "grpc_method"})),
        received_bytes_(
            registry->AddCounter("etcd_network_client_grpc_received_bytes_total",
                                 "The total number of bytes received from grpc clients.")),
        sent_bytes_(registry->AddCounter("etcd_network_client_grpc_sent_bytes_total",
                                         "The total number of bytes sent to grpc clients.")) {}

  metrics::Counter* received_bytes() const { return received_bytes_; }
  metrics::Counter* sent_bytes() const { return sent_bytes_; }

  // The entry for an RPC; lock-free once the method has been seen.
  const MethodMetrics* Lookup(const char* method, ServerRpcInfo::Type type) {
    const std::string_view name = method != nullptr ? method : "";
    const size_t hash = Hash(name, type);
    for (size_t i = 0; i < kSlots; ++i) {
      const MethodMetrics* m = slots_[(hash + i) & (kSlots - 1)].load(std::memory_order_acquire);
      if (m == nullptr) break;
      if (m->type == type && m->full_name == name) return m;
    }
    return Insert(name, type, hash);
  }

  void Preregister(const std::string& service) {
    const google::protobuf::ServiceDescriptor* sd =
        google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(service);
    if (sd == nullptr) {
      Log(LogLevel::kWarn, "grpc metrics: unknown service", {{"service", service}});
      return;
    }
    for (int i = 0; i < sd->method_count(); ++i) {
      const google::protobuf::MethodDescriptor* md = sd->method(i);
      const std::string name = "/" + service + "/" + md->name();
      Lookup(name.c_str(), TypeOf(*md));
    }
  }

 private:
  // At most kMaxMethods entries in a table twice as large, so probes stay short.
  static constexpr size_t kMaxMethods = 512;
  static constexpr size_t kSlots = 2 * kMaxMethods;

  static size_t Hash(std::string_view name, ServerRpcInfo::Type type) {
    return std::hash<std::string_view>()(name) * 31 + static_cast<size_t>(type);
  }

  const MethodMetrics* Insert(std::string_view name, ServerRpcInfo::Type type, size_t hash) {
    std::string service, method;
    bool protobuf = false;
    // "/package.Service/Method"
    const size_t slash = name.rfind('/');
    if (name.size() > 1 && name[0] == '/' && slash != std::string_view::npos && slash > 1) {
      service = std::string(name.substr(1, slash - 1));
      method = std::string(name.substr(slash + 1));
      const google::protobuf::ServiceDescriptor* sd =
          google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(service);
      const google::protobuf::MethodDescriptor* md =
          sd != nullptr ? sd->FindMethodByName(method) : nullptr;
      protobuf = md != nullptr && TypeOf(*md) == type;
    }
    absl::MutexLock lock(&mu_);
    if (!protobuf || methods_.size() >= kMaxMethods) return UnknownLocked(type);
    size_t slot = 0;
    for (size_t i = 0; i < kSlots; ++i) {
      slot = (hash + i) & (kSlots - 1);
      const MethodMetrics* m = slots_[slot].load(std::memory_order_relaxed);
      if (m == nullptr) break;
      if (m->type == type && m->full_name == name) return m;  // another thread was first
    }
    auto m = Make(std::string(name), type, service, method);
    m->protobuf = true;
    m->raw = raw_methods_.contains(name);
    const MethodMetrics* result = m.get();
    methods_.push_back(std::move(m));
    slots_[slot].store(result, std::memory_order_release);
    return result;
  }

  // Methods that are not compiled-in protobuf methods share one entry per type (not in the
  // table: such calls are rare and take the mutex).
  const MethodMetrics* UnknownLocked(ServerRpcInfo::Type type) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    std::unique_ptr<MethodMetrics>& m = unknown_[static_cast<size_t>(type)];
    if (m == nullptr) m = Make("", type, "unknown", "unknown");
    return m.get();
  }

  std::unique_ptr<MethodMetrics> Make(std::string full_name, ServerRpcInfo::Type type,
                                      const std::string& service, const std::string& method) {
    auto m = std::make_unique<MethodMetrics>();
    m->full_name = std::move(full_name);
    m->type = type;
    const std::string_view type_name = TypeName(type);
    m->started = started_->WithLabelValues({type_name, service, method});
    for (int code = 0; code < kNumCodes; ++code) {
      m->handled[code] = handled_->WithLabelValues({type_name, service, method, kCodeNames[code]});
    }
    m->msg_received = msg_received_->WithLabelValues({type_name, service, method});
    m->msg_sent = msg_sent_->WithLabelValues({type_name, service, method});
    return m;
  }

  const absl::flat_hash_set<std::string, StringViewHash, StringViewEq> raw_methods_;
  metrics::CounterFamily* const started_;
  metrics::CounterFamily* const handled_;
  metrics::CounterFamily* const msg_received_;
  metrics::CounterFamily* const msg_sent_;
  metrics::Counter* const received_bytes_;
  metrics::Counter* const sent_bytes_;

  // Readers probe without the mutex; entries are written once, under it, and never removed.
  std::array<std::atomic<const MethodMetrics*>, kSlots> slots_ = {};
  absl::Mutex mu_;
  std::vector<std::unique_ptr<MethodMetrics>> methods_ ABSL_GUARDED_BY(mu_);
  std::array<std::unique_ptr<MethodMetrics>, 4> unknown_ ABSL_GUARDED_BY(mu_);
};

// One per RPC, created and destroyed by gRPC; hooks run one batch at a time.
class MetricsInterceptor final : public grpc::experimental::Interceptor {
 public:
  MetricsInterceptor(const MethodMetrics* method, const GrpcMetrics* shared)
      : method_(method), shared_(shared) {}

  ~MetricsInterceptor() override {
    if (!handled_) method_->handled[kCodeCanceled]->Increment();
  }

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_MESSAGE)) {
      const void* message = methods->GetRecvMessage();
      if (message != nullptr) {
        method_->msg_received->Increment();
        if (method_->raw) {
          shared_->received_bytes()->Add(static_cast<const grpc::ByteBuffer*>(message)->Length());
        } else if (method_->protobuf) {
          // The generated request type derives from MessageLite alone, at offset 0.
          shared_->received_bytes()->Add(
              static_cast<const google::protobuf::MessageLite*>(message)->ByteSizeLong());
        }
      }
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_MESSAGE)) {
      method_->msg_sent->Increment();
      if (const grpc::ByteBuffer* buffer = methods->GetSerializedSendMessage()) {
        shared_->sent_bytes()->Add(buffer->Length());
      }
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      const int code = static_cast<int>(methods->GetSendStatus().error_code());
      method_->handled[code >= 0 && code < kNumCodes ? code : kCodeUnknown]->Increment();
      handled_ = true;
    }
    methods->Proceed();
  }

 private:
  const MethodMetrics* const method_;
  const GrpcMetrics* const shared_;
  bool handled_ = false;
};

class MetricsInterceptorFactory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  MetricsInterceptorFactory(metrics::Registry* registry,
                            const std::vector<std::string>& raw_methods)
      : shared_(registry, raw_methods) {}

  GrpcMetrics& shared() { return shared_; }

  grpc::experimental::Interceptor* CreateServerInterceptor(ServerRpcInfo* info) override {
    const MethodMetrics* method = shared_.Lookup(info->method(), info->type());
    method->started->Increment();
    return new MetricsInterceptor(method, &shared_);
  }

 private:
  GrpcMetrics shared_;
};

}  // namespace

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> MakeGrpcMetricsInterceptor(
    metrics::Registry* registry, const std::vector<std::string>& preregister_services,
    const std::vector<std::string>& raw_methods) {
  auto factory = std::make_unique<MetricsInterceptorFactory>(registry, raw_methods);
  for (const std::string& service : preregister_services) factory->shared().Preregister(service);
  return factory;
}

}  // namespace rametcd::server
