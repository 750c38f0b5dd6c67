// Converts absl::Status to grpc::Status and back. absl's codes are gRPC's codes, so the mapping is
// 1:1 and the message is kept verbatim (etcd clients match on it).
#ifndef RAMETCD_SERVER_GRPC_STATUS_H_
#define RAMETCD_SERVER_GRPC_STATUS_H_

#include <string>

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace rametcd::server {

inline grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

// The other way, for rametcd's own gRPC clients (live import).
inline absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

}  // namespace rametcd::server

#endif  // RAMETCD_SERVER_GRPC_STATUS_H_
