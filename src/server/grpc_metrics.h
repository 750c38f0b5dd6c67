// gRPC server metrics: an interceptor that records, per RPC, the series go-grpc-prometheus
// exports for etcd (so etcd's dashboards and alerts work unchanged) plus etcd's client traffic
// counters:
//
//   grpc_server_started_total{grpc_type,grpc_service,grpc_method}
//   grpc_server_handled_total{grpc_type,grpc_service,grpc_method,grpc_code}
//   grpc_server_msg_received_total{grpc_type,grpc_service,grpc_method}
//   grpc_server_msg_sent_total{grpc_type,grpc_service,grpc_method}
//   etcd_network_client_grpc_received_bytes_total
//   etcd_network_client_grpc_sent_bytes_total
//
// grpc_type is unary, client_stream, server_stream or bidi_stream; grpc_code is the Go name of
// the status code (OK, NotFound, ...). When: started when the RPC's interceptors are created,
// received after each request message is deserialized, sent when each response message is handed
// to gRPC (before it is written), handled when the status is sent (an RPC that ends without one
// counts as Canceled).
//
// Byte counts: sent bytes are the serialized size of each response, which the interceptor reads
// from the ByteBuffer (it asks for the serialized form, which gRPC would produce right after
// anyway). gRPC hands server interceptors only the deserialized request, so received bytes are
// the request's ByteSizeLong(), which equals its serialized size.
//
// Hot path: per method, one MethodMetrics with every counter child resolved up front (one per
// status code), found through a lock-free open-addressing table keyed by method name and type;
// the mutex is only taken the first time a method is seen. Only methods of services compiled
// into the binary (found in protobuf's generated descriptor pool, with the matching streaming
// type) get their own series; any other method name, e.g. a client probing for unimplemented
// services, is counted under grpc_service="unknown", grpc_method="unknown", so clients cannot
// grow the label space.
//
// Ownership: the factory is owned by the grpc::Server it is installed in (ServerBuilder::
// experimental().SetInterceptorCreators) and owns the method table; counters live in `registry`.
// REQUIRES: `registry` outlives the server; the server has no generic (ByteBuffer) service that
// reads requests of methods named like compiled-in protobuf methods, and names its raw methods.
//
// Thread safety: gRPC calls the factory and interceptors from any thread; all of it is safe.
#ifndef RAMETCD_SERVER_GRPC_METRICS_H_
#define RAMETCD_SERVER_GRPC_METRICS_H_

#include <memory>
#include <string>
#include <vector>

#include "grpcpp/support/server_interceptor.h"
#include "metrics/registry.h"

namespace rametcd::server {

// `preregister_services` (full names such as "etcdserverpb.KV") get zero-valued series for all
// their methods and codes at once, as go-grpc-prometheus's Register(server) does in etcd; other
// methods appear on first use. `raw_methods` ("/etcdserverpb.Watch/Watch") are compiled-in
// methods the server registered as raw (ByteBuffer) methods: their requests are counted by their
// encoded length.
std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> MakeGrpcMetricsInterceptor(
    metrics::Registry* registry, const std::vector<std::string>& preregister_services = {},
    const std::vector<std::string>& raw_methods = {});

}  // namespace rametcd::server

#endif  // RAMETCD_SERVER_GRPC_METRICS_H_
