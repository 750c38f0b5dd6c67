#include "support/differential.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "google/protobuf/util/message_differencer.h"

namespace rametcd::testing {
namespace {

constexpr auto kTimeout = std::chrono::seconds(20);

std::string Describe(const grpc::Status& status, const google::protobuf::Message& resp) {
  if (!status.ok()) {
    return absl::StrCat("error code=", status.error_code(), " message=\"", status.error_message(),
                        "\"");
  }
  return absl::StrCat("ok ", resp.ShortDebugString());
}

}  // namespace

absl::StatusOr<std::unique_ptr<Differential>> Differential::Start() {
  auto d = std::make_unique<Differential>();
  auto etcd = ServerProcess::StartEtcd();
  if (!etcd.ok()) return etcd.status();
  auto rametcd = ServerProcess::StartRametcd();
  if (!rametcd.ok()) return rametcd.status();
  d->etcd_ = std::move(*etcd);
  d->rametcd_ = std::move(*rametcd);
  d->etcd_kv_ = d->etcd_->NewKvStub();
  d->rametcd_kv_ = d->rametcd_->NewKvStub();
  d->etcd_lease_ = etcdserverpb::Lease::NewStub(d->etcd_->channel());
  d->rametcd_lease_ = etcdserverpb::Lease::NewStub(d->rametcd_->channel());
  return d;
}

void Differential::Trace(const google::protobuf::Message& req) const {
  static const bool trace = std::getenv("RAMETCD_DIFF_TRACE") != nullptr;
  if (trace) {
    std::fprintf(stderr, "#%lld %s\n", static_cast<long long>(compared_),
                 req.ShortDebugString().c_str());
  }
}

std::chrono::system_clock::time_point Differential::Deadline() {
  return std::chrono::system_clock::now() + kTimeout;
}

std::string Differential::Verdict(const google::protobuf::Message& req,
                                  const grpc::Status& etcd_status,
                                  const google::protobuf::Message& etcd_resp,
                                  const grpc::Status& rametcd_status,
                                  const google::protobuf::Message& rametcd_resp) {
  bool same = etcd_status.error_code() == rametcd_status.error_code() &&
              etcd_status.error_message() == rametcd_status.error_message() &&
              google::protobuf::util::MessageDifferencer::Equals(etcd_resp, rametcd_resp);
  if (same) return "";
  return absl::StrCat("request:  ", req.ShortDebugString(),
                      "\netcd:     ", Describe(etcd_status, etcd_resp),
                      "\nrametcd:  ", Describe(rametcd_status, rametcd_resp));
}

std::string Differential::Range(const etcdserverpb::RangeRequest& req) {
  return Call(&etcdserverpb::KV::Stub::Range, etcd_kv_.get(), rametcd_kv_.get(), req);
}
std::string Differential::Put(const etcdserverpb::PutRequest& req) {
  return Call(&etcdserverpb::KV::Stub::Put, etcd_kv_.get(), rametcd_kv_.get(), req);
}
std::string Differential::DeleteRange(const etcdserverpb::DeleteRangeRequest& req) {
  return Call(&etcdserverpb::KV::Stub::DeleteRange, etcd_kv_.get(), rametcd_kv_.get(), req);
}
std::string Differential::Txn(const etcdserverpb::TxnRequest& req) {
  return Call(&etcdserverpb::KV::Stub::Txn, etcd_kv_.get(), rametcd_kv_.get(), req);
}
std::string Differential::Compact(const etcdserverpb::CompactionRequest& req) {
  return Call(&etcdserverpb::KV::Stub::Compact, etcd_kv_.get(), rametcd_kv_.get(), req);
}

std::string Differential::LeaseGrant(const etcdserverpb::LeaseGrantRequest& req) {
  return Call(&etcdserverpb::Lease::Stub::LeaseGrant, etcd_lease_.get(), rametcd_lease_.get(), req);
}
std::string Differential::LeaseRevoke(const etcdserverpb::LeaseRevokeRequest& req) {
  return Call(&etcdserverpb::Lease::Stub::LeaseRevoke, etcd_lease_.get(), rametcd_lease_.get(),
              req);
}

etcdserverpb::RangeRequest Get(const std::string& key, const std::string& range_end) {
  etcdserverpb::RangeRequest r;
  r.set_key(key);
  r.set_range_end(range_end);
  return r;
}

etcdserverpb::PutRequest Put(const std::string& key, const std::string& value, int64_t lease) {
  etcdserverpb::PutRequest r;
  r.set_key(key);
  r.set_value(value);
  r.set_lease(lease);
  return r;
}

etcdserverpb::DeleteRangeRequest Delete(const std::string& key, const std::string& range_end) {
  etcdserverpb::DeleteRangeRequest r;
  r.set_key(key);
  r.set_range_end(range_end);
  return r;
}

etcdserverpb::Compare Cmp(const std::string& key, etcdserverpb::Compare::CompareTarget target,
                          etcdserverpb::Compare::CompareResult result, int64_t operand) {
  etcdserverpb::Compare c;
  c.set_key(key);
  c.set_target(target);
  c.set_result(result);
  switch (target) {
    case etcdserverpb::Compare::VERSION:
      c.set_version(operand);
      break;
    case etcdserverpb::Compare::CREATE:
      c.set_create_revision(operand);
      break;
    case etcdserverpb::Compare::MOD:
      c.set_mod_revision(operand);
      break;
    case etcdserverpb::Compare::LEASE:
      c.set_lease(operand);
      break;
    default:
      break;
  }
  return c;
}

etcdserverpb::Compare CmpValue(const std::string& key, etcdserverpb::Compare::CompareResult result,
                               const std::string& value) {
  etcdserverpb::Compare c;
  c.set_key(key);
  c.set_target(etcdserverpb::Compare::VALUE);
  c.set_result(result);
  c.set_value(value);
  return c;
}

etcdserverpb::RequestOp Op(const etcdserverpb::RangeRequest& r) {
  etcdserverpb::RequestOp op;
  *op.mutable_request_range() = r;
  return op;
}
etcdserverpb::RequestOp Op(const etcdserverpb::PutRequest& r) {
  etcdserverpb::RequestOp op;
  *op.mutable_request_put() = r;
  return op;
}
etcdserverpb::RequestOp Op(const etcdserverpb::DeleteRangeRequest& r) {
  etcdserverpb::RequestOp op;
  *op.mutable_request_delete_range() = r;
  return op;
}
etcdserverpb::RequestOp Op(const etcdserverpb::TxnRequest& r) {
  etcdserverpb::RequestOp op;
  *op.mutable_request_txn() = r;
  return op;
}

etcdserverpb::CompactionRequest CompactTo(int64_t revision) {
  etcdserverpb::CompactionRequest r;
  r.set_revision(revision);
  return r;
}

}  // namespace rametcd::testing
