// The ceiling server: an etcd KV gRPC service that does nothing. Put, Range, DeleteRange and Txn
// answer at once with a header whose revision counts up (Txn: succeeded, no responses; Range: no
// keys), on gRPC callback reactors as rametcd's KvService does, with the same channel arguments
// that matter for throughput. Every load figure of bench/compare.sh is also given as a fraction
// of what this server reaches on the same machine in the same run: what gRPC itself allows.
//
//   build/bench/ceiling_server [--listen 127.0.0.1:PORT]   (default 127.0.0.1:2379)
//
// Runs until SIGTERM or SIGINT.
#include <pthread.h>

#include <atomic>
#include <climits>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

#include "etcd/api/etcdserverpb/rpc.grpc.pb.h"
#include "grpcpp/grpcpp.h"

namespace {

class CeilingKv final : public etcdserverpb::KV::CallbackService {
 public:
  grpc::ServerUnaryReactor* Range(grpc::CallbackServerContext* ctx,
                                  const etcdserverpb::RangeRequest*,
                                  etcdserverpb::RangeResponse* resp) override {
    return Answer(ctx, resp->mutable_header(), false);
  }
  grpc::ServerUnaryReactor* Put(grpc::CallbackServerContext* ctx, const etcdserverpb::PutRequest*,
                                etcdserverpb::PutResponse* resp) override {
    return Answer(ctx, resp->mutable_header(), true);
  }
  grpc::ServerUnaryReactor* DeleteRange(grpc::CallbackServerContext* ctx,
                                        const etcdserverpb::DeleteRangeRequest*,
                                        etcdserverpb::DeleteRangeResponse* resp) override {
    return Answer(ctx, resp->mutable_header(), true);
  }
  grpc::ServerUnaryReactor* Txn(grpc::CallbackServerContext* ctx, const etcdserverpb::TxnRequest*,
                                etcdserverpb::TxnResponse* resp) override {
    resp->set_succeeded(true);
    return Answer(ctx, resp->mutable_header(), true);
  }

 private:
  grpc::ServerUnaryReactor* Answer(grpc::CallbackServerContext* ctx,
                                   etcdserverpb::ResponseHeader* header, bool write) {
    header->set_cluster_id(1);
    header->set_member_id(1);
    header->set_raft_term(1);
    header->set_revision(write ? revision_.fetch_add(1, std::memory_order_relaxed) + 1
                               : revision_.load(std::memory_order_relaxed));
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

  std::atomic<int64_t> revision_{1};
};

}  // namespace

int main(int argc, char** argv) {
  std::string listen = "127.0.0.1:2379";
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--listen") == 0 && i + 1 < argc) {
      listen = argv[++i];
    } else {
      std::fprintf(stderr, "usage: %s [--listen HOST:PORT]\n", argv[0]);
      return 2;
    }
  }
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);  // threads started after this inherit it

  CeilingKv kv;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(listen, grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&kv);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, INT_MAX);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    std::fprintf(stderr, "ceiling_server: cannot listen on %s\n", listen.c_str());
    return 1;
  }
  std::printf("ceiling_server: listening on %s\n", listen.c_str());
  std::fflush(stdout);
  int signal = 0;
  sigwait(&signals, &signal);
  server->Shutdown();
  return 0;
}
