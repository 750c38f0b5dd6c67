#include "load/connections.h"

#include <chrono>

#include "absl/strings/str_cat.h"

namespace rametcd::bench {

Connections::Connections(const std::string& endpoint, int conns) {
  for (int i = 0; i < conns; ++i) {
    grpc::ChannelArguments args;
    args.SetInt("rametcd.bench.connection", i);  // a distinct subchannel (TCP connection) each
    args.SetMaxReceiveMessageSize(-1);
    auto channel = grpc::CreateCustomChannel(endpoint, grpc::InsecureChannelCredentials(), args);
    kv_.push_back(etcdserverpb::KV::NewStub(channel));
    watch_.push_back(etcdserverpb::Watch::NewStub(channel));
    channels_.push_back(std::move(channel));
  }
}

absl::Status Connections::WaitReady(double seconds) {
  const auto deadline = std::chrono::system_clock::now() +
                        std::chrono::duration_cast<std::chrono::system_clock::duration>(
                            std::chrono::duration<double>(seconds));
  for (size_t i = 0; i < channels_.size(); ++i) {
    if (!channels_[i]->WaitForConnected(deadline)) {
      return absl::UnavailableError(
          absl::StrCat("connection ", i, " not ready after ", seconds, " s"));
    }
  }
  return absl::OkStatus();
}

}  // namespace rametcd::bench
