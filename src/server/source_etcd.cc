#include "server/source_etcd.h"

#include <climits>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "base/etcd_errors.h"
#include "base/status_macros.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "server/grpc_status.h"

namespace rametcd::server {
namespace {

// Unary calls to the source; a whole page of keys must fit in it.
constexpr absl::Duration kCallTimeout = absl::Seconds(60);

void SetDeadline(grpc::ClientContext* context) {
  context->set_deadline(absl::ToChronoTime(absl::Now() + kCallTimeout));
}

absl::StatusOr<std::string> ReadFile(const std::string& flag, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in.is_open()) {
    return absl::InvalidArgumentError(absl::StrCat("cannot read --", flag, " ", path));
  }
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> Credentials(const ImportSource& source) {
  if (!source.endpoint.tls) return grpc::InsecureChannelCredentials();
  grpc::SslCredentialsOptions ssl;
  if (!source.cacert.empty()) {
    ASSIGN_OR_RETURN(ssl.pem_root_certs, ReadFile("import-cacert", source.cacert));
  }
  if (!source.cert.empty()) {
    ASSIGN_OR_RETURN(ssl.pem_cert_chain, ReadFile("import-cert", source.cert));
    ASSIGN_OR_RETURN(ssl.pem_private_key, ReadFile("import-key", source.key));
  }
  return grpc::SslCredentials(ssl);
}

// A read of one key that never exists ("\0" is no Kubernetes or etcdctl key) at `revision`.
etcdserverpb::RangeRequest ProbeRequest(int64_t revision) {
  etcdserverpb::RangeRequest request;
  request.set_key(std::string(1, '\0'));
  request.set_revision(revision);
  request.set_count_only(true);
  return request;
}

}  // namespace

absl::StatusOr<std::unique_ptr<SourceEtcd>> SourceEtcd::Connect(const ImportSource& source) {
  ASSIGN_OR_RETURN(std::shared_ptr<grpc::ChannelCredentials> credentials, Credentials(source));
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(INT_MAX);  // pages of keys and watch responses can be large
  return std::unique_ptr<SourceEtcd>(new SourceEtcd(
      source.url, grpc::CreateCustomChannel(source.endpoint.address, credentials, args)));
}

SourceEtcd::SourceEtcd(std::string url, std::shared_ptr<grpc::Channel> channel)
    : url_(std::move(url)),
      channel_(std::move(channel)),
      kv_(etcdserverpb::KV::NewStub(channel_)),
      lease_(etcdserverpb::Lease::NewStub(channel_)),
      watch_(etcdserverpb::Watch::NewStub(channel_)) {}

absl::StatusOr<etcdserverpb::RangeResponse> SourceEtcd::Range(
    const etcdserverpb::RangeRequest& request) {
  grpc::ClientContext context;
  SetDeadline(&context);
  etcdserverpb::RangeResponse response;
  RETURN_IF_ERROR(FromGrpcStatus(kv_->Range(&context, request, &response)));
  return response;
}

absl::StatusOr<int64_t> SourceEtcd::CurrentRevision() {
  ASSIGN_OR_RETURN(etcdserverpb::RangeResponse response, Range(ProbeRequest(0)));
  return response.header().revision();
}

absl::StatusOr<int64_t> SourceEtcd::OldestReadableRevision(int64_t current) {
  const std::string compacted(etcd_errors::Compacted().message());
  auto readable = [&](int64_t revision) -> absl::StatusOr<bool> {
    absl::StatusOr<etcdserverpb::RangeResponse> response = Range(ProbeRequest(revision));
    if (response.ok()) return true;
    if (response.status().message() == compacted) return false;
    return response.status();
  };
  // Invariant: `hi` is readable, everything below `lo` is not.
  int64_t lo = 1, hi = std::max<int64_t>(current, 1);
  while (lo < hi) {
    const int64_t mid = lo + (hi - lo) / 2;
    ASSIGN_OR_RETURN(bool ok, readable(mid));
    if (ok) {
      hi = mid;
    } else {
      lo = mid + 1;
    }
  }
  return hi;
}

absl::Status SourceEtcd::RangeAll(
    int64_t revision, int64_t page_keys,
    absl::FunctionRef<absl::Status(std::vector<mvccpb::KeyValue>&)> fn) {
  etcdserverpb::RangeRequest request;
  request.set_key(std::string(1, '\0'));
  request.set_range_end(std::string(1, '\0'));
  request.set_revision(revision);
  request.set_limit(page_keys);
  std::vector<mvccpb::KeyValue> page;
  while (true) {
    ASSIGN_OR_RETURN(etcdserverpb::RangeResponse response, Range(request));
    if (response.kvs().empty()) return absl::OkStatus();
    page.clear();
    for (mvccpb::KeyValue& kv : *response.mutable_kvs()) page.push_back(std::move(kv));
    request.set_key(page.back().key() + std::string(1, '\0'));
    RETURN_IF_ERROR(fn(page));
    if (!response.more()) return absl::OkStatus();
  }
}

absl::StatusOr<std::vector<SourceEtcd::Lease>> SourceEtcd::Leases(int64_t* revision) {
  grpc::ClientContext context;
  SetDeadline(&context);
  etcdserverpb::LeaseLeasesResponse list;
  RETURN_IF_ERROR(FromGrpcStatus(lease_->LeaseLeases(&context, {}, &list)));
  *revision = list.header().revision();
  std::vector<Lease> leases;
  for (const etcdserverpb::LeaseStatus& status : list.leases()) {
    ASSIGN_OR_RETURN(std::optional<int64_t> ttl, GrantedTtl(status.id()));
    if (ttl) leases.push_back({status.id(), *ttl});
  }
  return leases;
}

absl::StatusOr<std::optional<int64_t>> SourceEtcd::GrantedTtl(int64_t id) {
  grpc::ClientContext context;
  SetDeadline(&context);
  etcdserverpb::LeaseTimeToLiveRequest request;
  request.set_id(id);
  etcdserverpb::LeaseTimeToLiveResponse response;
  RETURN_IF_ERROR(FromGrpcStatus(lease_->LeaseTimeToLive(&context, request, &response)));
  if (response.ttl() < 0) return std::nullopt;  // etcd's answer for an unknown lease
  return response.grantedttl();
}

SourceEtcd::Watch::Watch(etcdserverpb::Watch::Stub& stub) : stream_(stub.Watch(&context_)) {}

absl::Status SourceEtcd::Watch::Start(int64_t start_revision) {
  etcdserverpb::WatchRequest request;
  etcdserverpb::WatchCreateRequest* create = request.mutable_create_request();
  create->set_key(std::string(1, '\0'));
  create->set_range_end(std::string(1, '\0'));
  create->set_start_revision(start_revision);
  if (!stream_->Write(request)) return FromGrpcStatus(stream_->Finish());
  return absl::OkStatus();
}

absl::StatusOr<etcdserverpb::WatchResponse> SourceEtcd::Watch::Read() {
  etcdserverpb::WatchResponse response;
  if (!stream_->Read(&response)) {
    absl::Status status = FromGrpcStatus(stream_->Finish());
    return status.ok() ? absl::UnavailableError("the source ended the watch stream") : status;
  }
  return response;
}

}  // namespace rametcd::server
