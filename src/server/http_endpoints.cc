#include "server/http_endpoints.h"

#include <string>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "server/version.h"

namespace rametcd::server {
namespace {

constexpr char kJson[] = "application/json";

http::Response Health(bool healthy, const std::string& reason) {
  return {healthy ? 200 : 503, kJson,
          absl::StrCat("{\"health\":\"", healthy ? "true" : "false", "\",\"reason\":\"", reason,
                       "\"}")};
}

}  // namespace

absl::StatusOr<std::unique_ptr<HttpEndpoints>> HttpEndpoints::Start(const Options& options,
                                                                    ApplyLoop* loop,
                                                                    ServerMetrics* metrics) {
  std::unique_ptr<HttpEndpoints> endpoints(new HttpEndpoints(loop, metrics));
  for (const bool tls : {false, true}) {
    http::HttpServer::Options server_options;
    for (const ListenUrl& url : options.listen_metrics) {
      if (url.tls == tls) server_options.addresses.push_back(url.address);
    }
    if (server_options.addresses.empty()) continue;
    server_options.tls = tls;
    server_options.tls_options = {options.client_tls.cert_file, options.client_tls.key_file,
                                  options.client_tls.trusted_ca_file,
                                  options.client_tls.client_cert_auth};
    HttpEndpoints* self = endpoints.get();
    auto server = http::HttpServer::Start(
        std::move(server_options),
        [self](const http::Request& request, std::function<void(http::Response)> reply) {
          self->Handle(request, std::move(reply));
        });
    if (!server.ok()) return server.status();
    endpoints->servers_.push_back(std::move(*server));
  }
  return endpoints;
}

void HttpEndpoints::Stop() {
  for (auto& server : servers_) server->Stop();
}

void HttpEndpoints::Handle(const http::Request& request,
                           std::function<void(http::Response)> reply) {
  std::string_view target = request.target;
  const size_t question = target.find('?');
  const std::string_view path = target.substr(0, question);
  absl::flat_hash_set<std::string> excluded;
  if (question != std::string_view::npos) {
    const std::vector<std::string> params =
        absl::StrSplit(std::string(target.substr(question + 1)), '&', absl::SkipEmpty());
    for (const std::string& param : params) {
      if (param.starts_with("exclude=")) excluded.insert(param.substr(8));
    }
  }
  if (path == "/version") {
    reply({200, kJson,
           absl::StrCat("{\"etcdserver\":\"", kEtcdServerVersion, "\",\"etcdcluster\":\"",
                        kEtcdClusterVersion, "\"}")});
    return;
  }
  // The rest needs the store's state: a task on the loop.
  ApplyLoop::Task task;
  http::Response refused{503, "", "the server is overloaded: too many requests\n"};
  if (path == "/health") {
    refused = Health(false, "too many requests");
    task = [reply, excluded = std::move(excluded)](ApplyLoop::Engine& engine) {
      std::vector<std::string> reasons;
      for (const auto& [type, member] : engine.alarms.List(etcdserverpb::NONE)) {
        const std::string name = etcdserverpb::AlarmType_Name(type);
        if (!excluded.contains(name)) reasons.push_back("ALARM " + name);
      }
      if (engine.wal != nullptr && engine.wal->stats().failed) reasons.push_back("WAL FAILED");
      reply(Health(reasons.empty(), absl::StrJoin(reasons, ", ")));
    };
  } else if (path == "/livez") {
    task = [reply](ApplyLoop::Engine&) { reply({200, "", "ok\n"}); };
  } else if (path == "/readyz") {
    task = [reply](ApplyLoop::Engine& engine) {
      if (engine.wal != nullptr && engine.wal->stats().failed) {
        reply({503, "", "not ready: the WAL failed; writes are refused\n"});
      } else {
        reply({200, "", "ok\n"});
      }
    };
  } else if (path == "/metrics") {
    task = [reply, metrics = metrics_](ApplyLoop::Engine& engine) {
      http::Response response{200, metrics::Registry::kContentType, ""};
      metrics->Render(engine, &response.body);
      reply(std::move(response));
    };
  } else {
    reply({404, "", "404 page not found\n"});
    return;
  }
  if (!loop_->Submit(std::move(task))) reply(std::move(refused));
}

}  // namespace rametcd::server
