// Undecodable requests get etcd's status code. A request message that does not parse (truncated,
// malformed, or nested deeper than protobuf's recursion limit) is answered by grpc-go, and so by
// etcd, with INTERNAL "grpc: error unmarshalling request: ..." for a unary RPC and "grpc: failed
// to unmarshal the received message ..." ending a stream. gRPC C++'s callback API answers a unary
// request it cannot decode with UNIMPLEMENTED and no message instead, without calling the
// service: this interceptor turns that answer into etcd's. (Streams, where a request that does
// not decode looks like the client's half-close to the reactor, read raw bytes and parse them
// themselves: see watch_service.cc and lease_service.cc.)
//
// Thread safety: gRPC creates one interceptor per RPC and calls it one batch at a time.
#ifndef RAMETCD_SERVER_UNDECODABLE_REQUESTS_H_
#define RAMETCD_SERVER_UNDECODABLE_REQUESTS_H_

#include <memory>
#include <string>

#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/server_interceptor.h"
#include "grpcpp/support/status.h"

namespace rametcd::server {

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
MakeUndecodableRequestInterceptor();

// The status grpc-go ends a stream with when a request message of `type` (e.g.
// "etcdserverpb.WatchRequest") does not parse.
grpc::Status UndecodableStreamMessage(const std::string& type);

// Parses `buffer` into `message` the way gRPC would; false if it does not parse.
template <typename Message>
bool ParseRequest(grpc::ByteBuffer* buffer, Message* message) {
  return grpc::SerializationTraits<Message>::Deserialize(buffer, message).ok();
}

}  // namespace rametcd::server

#endif  // RAMETCD_SERVER_UNDECODABLE_REQUESTS_H_
