// HttpServer: a small HTTP/1.1 (optionally HTTPS) server for operational endpoints such as
// /metrics and /health, as etcd serves them on --listen-metrics-urls and the client URLs.
//
// Model: one io_context on one thread owned by the server (Boost.Asio / Beast). Requests are
// parsed there and passed to the Handler on that thread; the handler must not block, and answers
// by calling `reply` (at once, or later from any thread). Connections are kept alive (HTTP/1.1
// keep-alive, HTTP/1.0 only on request); one request per connection is in flight at a time.
//
// Bounds: at most `max_connections` connections (further clients wait in the listen backlog until
// one closes); request headers of at most 8 KiB (else 431) and bodies of at most 4 KiB (else
// 413); a request, a TLS handshake and a response write must each complete within
// `idle_timeout`, and a connection idle between requests for `idle_timeout` is closed, so a
// client that sends nothing cannot hold a connection. Only GET and HEAD are served (others get
// 405 without reaching the handler); a HEAD response carries the handler's headers and length
// without the body. Malformed requests get 400 and the connection is closed.
//
// TLS: TLS 1.2 or later with the certificate chain and key from files; with client_cert_auth,
// clients must present a certificate that verifies against trusted_ca_file, others are refused
// during the handshake.
//
// Ownership: the server owns its thread, sockets and connections. A `reply` function may outlive
// the server: calling it after Stop() does nothing. If every copy of a `reply` function is
// destroyed without being called, the client gets a 500. No timeout runs while a request waits
// for its reply: the handler must eventually call or drop `reply`.
//
// Thread safety: Start(), ports() and Stop() from the owning thread. REQUIRES: Stop() (and the
// destructor) are not called from the handler.
#ifndef RAMETCD_HTTP_HTTP_SERVER_H_
#define RAMETCD_HTTP_HTTP_SERVER_H_

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace rametcd::http {

struct TlsOptions {
  std::string cert_file;          // PEM certificate chain, leaf first
  std::string key_file;           // PEM private key
  std::string trusted_ca_file;    // PEM CA certificates for client certificates
  bool client_cert_auth = false;  // require and verify client certificates
};

struct Request {
  std::string method;  // "GET" or "HEAD"
  std::string target;  // path and query, as sent
};

struct Response {
  int status = 200;
  std::string content_type;  // "text/plain; charset=utf-8" when empty
  std::string body;
};

// Called on the server's thread; must not block. `reply` may be called later, from any thread;
// only its first call counts.
using Handler = std::function<void(const Request&, std::function<void(Response)> reply)>;

class HttpServer {
 public:
  struct Options {
    std::vector<std::string> addresses;  // "host:port" or "[v6]:port"; port 0 picks a free port
    bool tls = false;
    TlsOptions tls_options;
    size_t max_connections = 1024;
    absl::Duration idle_timeout = absl::Seconds(60);
  };

  // Binds every address and starts serving. Errors: InvalidArgument for bad options or an
  // unusable certificate, key or CA file (the message names the file and the reason);
  // Unavailable "cannot listen on ADDR: reason" when an address cannot be bound.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(Options options, Handler handler);

  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // The bound ports, in the order of Options::addresses.
  std::vector<int> ports() const { return ports_; }

  // Closes the listeners and every connection (requests waiting for a reply are dropped) and
  // joins the server's thread. Idempotent; also called by the destructor.
  void Stop();

 private:
  class Core;
  HttpServer() = default;

  std::unique_ptr<Core> core_;
  std::vector<int> ports_;
};

}  // namespace rametcd::http

#endif  // RAMETCD_HTTP_HTTP_SERVER_H_
