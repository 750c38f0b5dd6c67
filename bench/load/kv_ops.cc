#include "load/kv_ops.h"

#include <chrono>
#include <memory>

#include "absl/strings/str_format.h"

namespace rametcd::bench {
namespace {

// One unary call's context, request and response, alive until its callback ran.
template <typename Request, typename Response>
struct Call {
  Call() { ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60)); }
  grpc::ClientContext ctx;
  Request req;
  Response resp;
};

std::vector<std::mt19937_64> Generators(int clients, uint64_t seed) {
  std::vector<std::mt19937_64> rng;
  for (int i = 0; i < clients; ++i) rng.emplace_back(seed * 1000003 + static_cast<uint64_t>(i));
  return rng;
}

}  // namespace

void SendPut(etcdserverpb::KV::Stub& kv, std::string key, std::string value, Completion* done) {
  auto* call = new Call<etcdserverpb::PutRequest, etcdserverpb::PutResponse>;
  call->req.set_key(std::move(key));
  call->req.set_value(std::move(value));
  kv.async()->Put(&call->ctx, &call->req, &call->resp, [call, done](grpc::Status s) {
    delete call;
    done->Done(s.ok());
  });
}

std::string KeyOf(const std::string& prefix, int64_t i, int key_size) {
  const int width = std::max(8, key_size - static_cast<int>(prefix.size()));
  return absl::StrFormat("%s%0*d", prefix, width, i);
}

std::string PrefixEnd(const std::string& prefix) {
  std::string end = prefix;
  while (!end.empty() && static_cast<unsigned char>(end.back()) == 0xff) end.pop_back();
  if (!end.empty()) end.back() = static_cast<char>(end.back() + 1);
  return end.empty() ? std::string(1, '\0') : end;
}

std::string Value(int size, uint64_t seed) {
  std::string v(static_cast<size_t>(size), ' ');
  std::mt19937_64 rng(seed);
  for (char& c : v) c = static_cast<char>('a' + rng() % 26);
  return v;
}

PutOp::PutOp(Connections& conns, int clients, std::string prefix, int64_t key_space, int key_size,
             int val_size, uint64_t seed)
    : conns_(conns),
      prefix_(std::move(prefix)),
      key_space_(key_space),
      key_size_(key_size),
      value_(Value(val_size, seed)),
      rng_(Generators(clients, seed)) {}

void PutOp::Start(int client, Completion* done) {
  const auto key = static_cast<int64_t>(rng_[client]() % static_cast<uint64_t>(key_space_));
  SendPut(conns_.kv(client), KeyOf(prefix_, key, key_size_), value_, done);
}

SequentialPutOp::SequentialPutOp(Connections& conns, std::string prefix, int key_size, int val_size)
    : conns_(conns), prefix_(std::move(prefix)), key_size_(key_size), value_(Value(val_size, 7)) {}

void SequentialPutOp::Start(int client, Completion* done) {
  SendPut(conns_.kv(client),
          KeyOf(prefix_, next_.fetch_add(1, std::memory_order_relaxed), key_size_), value_, done);
}

OptimisticPutOp::OptimisticPutOp(Connections& conns, int clients, std::string prefix, int key_size,
                                 int val_size, Chooser choose, uint64_t seed)
    : conns_(conns),
      prefix_(std::move(prefix)),
      key_size_(key_size),
      value_(Value(val_size, seed)),
      choose_(std::move(choose)) {
  for (std::mt19937_64& rng : Generators(clients, seed)) state_.push_back({rng, {}});
}

void OptimisticPutOp::Start(int client, Completion* done) {
  ClientState& state = state_[client];
  const int64_t number = choose_(client, state.rng);
  auto* call = new Call<etcdserverpb::TxnRequest, etcdserverpb::TxnResponse>;
  const std::string key = KeyOf(prefix_, number, key_size_);
  etcdserverpb::Compare* cmp = call->req.add_compare();
  cmp->set_key(key);
  cmp->set_target(etcdserverpb::Compare::MOD);
  cmp->set_result(etcdserverpb::Compare::EQUAL);
  cmp->set_mod_revision(state.mod_revision[number]);
  etcdserverpb::PutRequest* put = call->req.add_success()->mutable_request_put();
  put->set_key(key);
  put->set_value(value_);
  call->req.add_failure()->mutable_request_range()->set_key(key);
  conns_.kv(client).async()->Txn(
      &call->ctx, &call->req, &call->resp, [this, call, done, &state, number](grpc::Status s) {
        if (s.ok()) {
          if (call->resp.succeeded()) {
            state.mod_revision[number] = call->resp.header().revision();
          } else {
            conflicts_.fetch_add(1, std::memory_order_relaxed);
            const auto& range = call->resp.responses(0).response_range();
            state.mod_revision[number] = range.kvs().empty() ? 0 : range.kvs(0).mod_revision();
          }
        }
        delete call;
        done->Done(s.ok());
      });
}

ListPageOp::ListPageOp(Connections& conns, int clients, std::string prefix, int limit)
    : conns_(conns),
      prefix_(std::move(prefix)),
      end_(PrefixEnd(prefix_)),
      limit_(limit),
      state_(static_cast<size_t>(clients)) {}

void ListPageOp::Start(int client, Completion* done) {
  ClientState& state = state_[client];
  auto* call = new Call<etcdserverpb::RangeRequest, etcdserverpb::RangeResponse>;
  call->req.set_key(state.next_key.empty() ? prefix_ : state.next_key);
  call->req.set_range_end(end_);
  call->req.set_limit(limit_);
  call->req.set_revision(state.next_key.empty() ? 0 : state.revision);
  conns_.kv(client).async()->Range(
      &call->ctx, &call->req, &call->resp, [this, call, done, &state](grpc::Status s) {
        if (s.ok()) {
          keys_.fetch_add(static_cast<uint64_t>(call->resp.kvs_size()), std::memory_order_relaxed);
          if (state.next_key.empty()) state.revision = call->resp.header().revision();
          if (call->resp.more() && call->resp.kvs_size() > 0) {
            state.next_key = call->resp.kvs(call->resp.kvs_size() - 1).key() + '\0';
          } else {
            state.next_key.clear();
            lists_.fetch_add(1, std::memory_order_relaxed);
          }
        } else {
          state.next_key.clear();
        }
        delete call;
        done->Done(s.ok());
      });
}

CountOp::CountOp(Connections& conns, std::string prefix)
    : conns_(conns), prefix_(std::move(prefix)) {}

void CountOp::Start(int client, Completion* done) {
  auto* call = new Call<etcdserverpb::RangeRequest, etcdserverpb::RangeResponse>;
  call->req.set_key(prefix_);
  call->req.set_range_end(PrefixEnd(prefix_));
  call->req.set_count_only(true);
  conns_.kv(client).async()->Range(
      &call->ctx, &call->req, &call->resp, [this, call, done](grpc::Status s) {
        if (s.ok()) {
          last_count_.store(call->resp.count(), std::memory_order_relaxed);
        }
        delete call;
        done->Done(s.ok());
      });
}

}  // namespace rametcd::bench
