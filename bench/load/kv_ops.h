// The KV requests rametcd-bench sends (closed_loop.h Ops), modelled on what kube-apiserver and
// etcd's `benchmark` send:
//   PutOp            Put of a key drawn at random from a key space;
//   SequentialPutOp  Put of key 0, 1, 2, ... (filling a prefix before a read workload);
//   OptimisticPutOp  kube-apiserver's GuaranteedUpdate/Create: Txn(compare mod_revision(key) ==
//                    the revision this client last saw, put, else range key); a lost race
//                    (else branch) teaches the client the key's current revision;
//   ListPageOp       one page of a paginated list (Range limit N), pinned to the revision of its
//                    list's first page, as the apiserver's pager does;
//   CountOp          Range count_only over a prefix.
// Keys are `prefix` followed by a zero-padded decimal number, `key_size` bytes in all (when
// the prefix leaves room).
//
// Threads: Start() runs on the caller's or a gRPC thread; per-client state is touched only by
// that client's requests, which never overlap (closed loop).
#ifndef RAMETCD_BENCH_LOAD_KV_OPS_H_
#define RAMETCD_BENCH_LOAD_KV_OPS_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "load/closed_loop.h"
#include "load/connections.h"

namespace rametcd::bench {

// Sends one Put; done->Done(ok) when it is answered.
void SendPut(etcdserverpb::KV::Stub& kv, std::string key, std::string value, Completion* done);

std::string KeyOf(const std::string& prefix, int64_t i, int key_size);
// The end of the range of every key starting with `prefix`.
std::string PrefixEnd(const std::string& prefix);
// `size` bytes of printable filler.
std::string Value(int size, uint64_t seed);

class PutOp final : public Op {
 public:
  PutOp(Connections& conns, int clients, std::string prefix, int64_t key_space, int key_size,
        int val_size, uint64_t seed);
  void Start(int client, Completion* done) override;

 private:
  Connections& conns_;
  const std::string prefix_;
  const int64_t key_space_;
  const int key_size_;
  const std::string value_;
  std::vector<std::mt19937_64> rng_;  // per client
};

class SequentialPutOp final : public Op {
 public:
  SequentialPutOp(Connections& conns, std::string prefix, int key_size, int val_size);
  void Start(int client, Completion* done) override;

 private:
  Connections& conns_;
  const std::string prefix_;
  const int key_size_;
  const std::string value_;
  std::atomic<int64_t> next_{0};
};

class OptimisticPutOp final : public Op {
 public:
  // Which key (number) `client` updates next; `rng` is that client's.
  using Chooser = std::function<int64_t(int client, std::mt19937_64& rng)>;
  OptimisticPutOp(Connections& conns, int clients, std::string prefix, int key_size, int val_size,
                  Chooser choose, uint64_t seed);
  void Start(int client, Completion* done) override;
  uint64_t conflicts() const { return conflicts_.load(std::memory_order_relaxed); }

 private:
  struct ClientState {
    std::mt19937_64 rng;
    absl::flat_hash_map<int64_t, int64_t> mod_revision;  // key number -> as last seen
  };
  Connections& conns_;
  const std::string prefix_;
  const int key_size_;
  const std::string value_;
  const Chooser choose_;
  std::vector<ClientState> state_;
  std::atomic<uint64_t> conflicts_{0};
};

class ListPageOp final : public Op {
 public:
  ListPageOp(Connections& conns, int clients, std::string prefix, int limit);
  void Start(int client, Completion* done) override;
  uint64_t lists() const { return lists_.load(std::memory_order_relaxed); }
  uint64_t keys() const { return keys_.load(std::memory_order_relaxed); }

 private:
  struct ClientState {
    std::string next_key;  // empty: the next page is a list's first
    int64_t revision = 0;
  };
  Connections& conns_;
  const std::string prefix_;
  const std::string end_;
  const int limit_;
  std::vector<ClientState> state_;
  std::atomic<uint64_t> lists_{0};
  std::atomic<uint64_t> keys_{0};
};

class CountOp final : public Op {
 public:
  CountOp(Connections& conns, std::string prefix);
  void Start(int client, Completion* done) override;
  int64_t last_count() const { return last_count_.load(std::memory_order_relaxed); }

 private:
  Connections& conns_;
  const std::string prefix_;
  std::atomic<int64_t> last_count_{-1};
};

}  // namespace rametcd::bench

#endif  // RAMETCD_BENCH_LOAD_KV_OPS_H_
