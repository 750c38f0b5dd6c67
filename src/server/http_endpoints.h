// HttpEndpoints: etcd's HTTP endpoints on --listen-metrics-urls (http:// and https:// URLs; the
// https ones use the client certificate flags, as etcd does):
//
//   /health   {"health":"true","reason":""}, or 503 with {"health":"false","reason":"..."} while
//             an alarm is raised (?exclude=NOSPACE ignores one; repeatable), the WAL has failed,
//             or the store does not take requests. ?serializable=true is accepted (every read is
//             local here).
//   /livez    "ok" when the apply loop answers.
//   /readyz   "ok" when the apply loop answers and the WAL has not failed; 503 otherwise.
//   /version  {"etcdserver":"3.5.13","etcdcluster":"3.5.0"}
//   /metrics  Prometheus text (server_metrics.h).
//
// Every answer that needs the store's state is computed by a task on the apply loop, so the
// HTTP thread never waits; a full loop queue answers 503 at once.
//
// Ownership: owns its HTTP servers (one for the http:// URLs, one for the https:// ones); borrows
// the ApplyLoop and ServerMetrics, which must outlive it. Thread safety: Start/Stop from one
// thread; Stop before the loop stops.
#ifndef RAMETCD_SERVER_HTTP_ENDPOINTS_H_
#define RAMETCD_SERVER_HTTP_ENDPOINTS_H_

#include <functional>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "http/http_server.h"
#include "server/apply_loop.h"
#include "server/options.h"
#include "server/server_metrics.h"

namespace rametcd::server {

class HttpEndpoints {
 public:
  // Errors: as http::HttpServer::Start (an address that cannot be bound, unusable certificates).
  static absl::StatusOr<std::unique_ptr<HttpEndpoints>> Start(const Options& options,
                                                              ApplyLoop* loop,
                                                              ServerMetrics* metrics);
  ~HttpEndpoints() { Stop(); }
  HttpEndpoints(const HttpEndpoints&) = delete;
  HttpEndpoints& operator=(const HttpEndpoints&) = delete;

  void Stop();

 private:
  HttpEndpoints(ApplyLoop* loop, ServerMetrics* metrics) : loop_(loop), metrics_(metrics) {}
  void Handle(const http::Request& request, std::function<void(http::Response)> reply);

  ApplyLoop* const loop_;
  ServerMetrics* const metrics_;
  std::vector<std::unique_ptr<http::HttpServer>> servers_;
};

}  // namespace rametcd::server

#endif  // RAMETCD_SERVER_HTTP_ENDPOINTS_H_
