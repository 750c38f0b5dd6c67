#include "http/http_server.h"

#include <openssl/ssl.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <optional>
#include <thread>
#include <type_traits>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "base/absl_view.h"
#include "base/logging.h"
#include "base/status_macros.h"
#include "boost/asio/executor_work_guard.hpp"
#include "boost/asio/io_context.hpp"
#include "boost/asio/ip/tcp.hpp"
#include "boost/asio/post.hpp"
#include "boost/asio/ssl.hpp"
#include "boost/asio/steady_timer.hpp"
#include "boost/beast/core.hpp"
#include "boost/beast/http.hpp"
#include "boost/beast/ssl.hpp"

namespace rametcd::http {
namespace {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = boost::asio::ip::tcp;

constexpr uint32_t kMaxHeaderBytes = 8 * 1024;
constexpr uint64_t kMaxBodyBytes = 4 * 1024;
// Holds one request with its body, plus pipelined bytes up to the same amount again.
constexpr size_t kReadBufferBytes = 2 * (kMaxHeaderBytes + kMaxBodyBytes);
// How long a closing connection waits for the client to close its side (or for the TLS
// close_notify) before the socket is closed.
constexpr auto kLingerTime = std::chrono::seconds(2);
constexpr auto kAcceptRetry = std::chrono::milliseconds(100);
constexpr char kDefaultContentType[] = "text/plain; charset=utf-8";

// Lets `reply` functions reach the io_context from any thread while the server runs.
struct ReplyGate {
  absl::Mutex mu;
  net::io_context* ioc ABSL_GUARDED_BY(mu) = nullptr;
};

class SessionBase : public std::enable_shared_from_this<SessionBase> {
 public:
  virtual ~SessionBase() = default;
  virtual void Start() = 0;
  // A handler's reply for request number `seq` (io thread).
  virtual void Deliver(uint64_t seq, Response response) = 0;
  virtual void Close() = 0;
};

// Shared by all copies of one `reply` function; answers 500 if none of them was called.
class ReplyState {
 public:
  ReplyState(std::shared_ptr<ReplyGate> gate, std::weak_ptr<SessionBase> session, uint64_t seq)
      : gate_(std::move(gate)), session_(std::move(session)), seq_(seq) {}
  ~ReplyState() {
    if (!done_.load(std::memory_order_acquire)) {
      Deliver(Response{500, "", "internal error: the request was dropped without a reply\n"});
    }
  }

  void Deliver(Response response) {
    if (done_.exchange(true, std::memory_order_acq_rel)) return;
    absl::MutexLock lock(&gate_->mu);
    if (gate_->ioc == nullptr) return;  // the server is stopping
    net::post(*gate_->ioc,
              [session = session_, seq = seq_, response = std::move(response)]() mutable {
                if (std::shared_ptr<SessionBase> s = session.lock())
                  s->Deliver(seq, std::move(response));
              });
  }

 private:
  const std::shared_ptr<ReplyGate> gate_;
  const std::weak_ptr<SessionBase> session_;
  const uint64_t seq_;
  std::atomic<bool> done_{false};
};

// What a session needs from the server (io thread).
class SessionHost {
 public:
  virtual ~SessionHost() = default;
  virtual const Handler& handler() const = 0;
  virtual std::chrono::nanoseconds idle() const = 0;
  virtual const std::shared_ptr<ReplyGate>& gate() const = 0;
  // Forgets a closed session (and resumes accepting if the limit was reached).
  virtual void Remove(SessionBase* session) = 0;
};

bool IsHttpError(const beast::error_code& ec) {
  return ec.category() == bhttp::make_error_code(bhttp::error::end_of_stream).category();
}

// Splits "host:port" / "[v6]:port".
absl::Status SplitHostPort(const std::string& address, std::string* host, uint16_t* port) {
  size_t colon = address.rfind(':');
  if (colon == std::string::npos) return absl::InvalidArgumentError("missing port");
  *host = address.substr(0, colon);
  if (!host->empty() && host->front() == '[') {
    if (host->size() < 2 || host->back() != ']') return absl::InvalidArgumentError("bad host");
    *host = host->substr(1, host->size() - 2);
  }
  uint32_t p = 0;
  if (!absl::SimpleAtoi(AbslView(std::string_view(address).substr(colon + 1)), &p) || p > 65535) {
    return absl::InvalidArgumentError("bad port");
  }
  *port = static_cast<uint16_t>(p);
  if (host->empty()) *host = "0.0.0.0";
  return absl::OkStatus();
}

absl::Status CheckReadable(const std::string& path, std::string_view what) {
  if (path.empty())
    return absl::InvalidArgumentError(absl::StrCat("TLS ", AbslView(what), " file is not set"));
  FILE* f = std::fopen(path.c_str(), "r");
  if (f == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("cannot read TLS ", AbslView(what), " file ",
                                                   path, ": ", std::strerror(errno)));
  }
  std::fclose(f);
  return absl::OkStatus();
}

absl::Status ConfigureTls(const TlsOptions& tls, ssl::context* ctx) {
  RETURN_IF_ERROR(CheckReadable(tls.cert_file, "certificate"));
  RETURN_IF_ERROR(CheckReadable(tls.key_file, "key"));
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                   ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                   ssl::context::single_dh_use);
  if (SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION) != 1) {
    return absl::InternalError("cannot require TLS 1.2");
  }
  beast::error_code ec;
  ctx->use_certificate_chain_file(tls.cert_file, ec);
  if (ec) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot load TLS certificate from ", tls.cert_file, ": ", ec.message()));
  }
  ctx->use_private_key_file(tls.key_file, ssl::context::pem, ec);
  if (ec) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot load TLS key from ", tls.key_file, ": ", ec.message()));
  }
  if (SSL_CTX_check_private_key(ctx->native_handle()) != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "TLS key ", tls.key_file, " does not match the certificate in ", tls.cert_file));
  }
  if (tls.client_cert_auth) {
    if (tls.trusted_ca_file.empty()) {
      return absl::InvalidArgumentError("client certificate auth needs a trusted CA file");
    }
    RETURN_IF_ERROR(CheckReadable(tls.trusted_ca_file, "trusted CA"));
    ctx->load_verify_file(tls.trusted_ca_file, ec);
    if (ec) {
      return absl::InvalidArgumentError(
          absl::StrCat("cannot load trusted CA file ", tls.trusted_ca_file, ": ", ec.message()));
    }
    // Tells clients which CAs are accepted.
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(tls.trusted_ca_file.c_str());
    if (names == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("no CA certificate in trusted CA file ", tls.trusted_ca_file));
    }
    SSL_CTX_set_client_CA_list(ctx->native_handle(), names);
    ctx->set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
  }
  return absl::OkStatus();
}

// One connection. Stream is beast::tcp_stream or beast::ssl_stream<beast::tcp_stream>. Runs on
// the io thread only; kept alive by the Core's session map and by its pending operations.
template <class Stream>
class Session final : public SessionBase {
 public:
  static constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;

  Session(SessionHost* core, tcp::socket socket, ssl::context* tls)
      : core_(core), stream_(MakeStream(std::move(socket), tls)), buffer_(kReadBufferBytes) {}

  void Start() override {
    if constexpr (kTls) {
      Lowest().expires_after(core_->idle());
      stream_.async_handshake(ssl::stream_base::server, [self = Self()](beast::error_code ec) {
        if (ec) return self->Close();
        self->ReadRequest();
      });
    } else {
      ReadRequest();
    }
  }

  void Deliver(uint64_t seq, Response response) override {
    if (closed_ || !awaiting_reply_ || seq != seq_) return;
    awaiting_reply_ = false;
    Write(std::move(response), /*allow_header=*/false);
  }

  void Close() override {
    if (closed_) return;
    closed_ = true;
    Lowest().close();
    core_->Remove(this);
  }

 private:
  static Stream MakeStream(tcp::socket socket, ssl::context* tls) {
    if constexpr (kTls) {
      return Stream(beast::tcp_stream(std::move(socket)), *tls);
    } else {
      return Stream(std::move(socket));
    }
  }

  std::shared_ptr<Session> Self() { return std::static_pointer_cast<Session>(shared_from_this()); }
  beast::tcp_stream& Lowest() { return beast::get_lowest_layer(stream_); }

  void ReadRequest() {
    if (closed_) return;
    head_ = false;
    parser_.emplace();
    parser_->header_limit(kMaxHeaderBytes);
    parser_->body_limit(kMaxBodyBytes);
    Lowest().expires_after(core_->idle());
    bhttp::async_read(stream_, buffer_, *parser_,
                      [self = Self()](beast::error_code ec, size_t) { self->OnRead(ec); });
  }

  void OnRead(beast::error_code ec) {
    if (closed_) return;
    if (ec == bhttp::error::header_limit || ec == bhttp::error::buffer_overflow) {
      return SendErrorAndClose(431, "request header fields too large\n");
    }
    if (ec == bhttp::error::body_limit) return SendErrorAndClose(413, "request body too large\n");
    if (ec == bhttp::error::end_of_stream || ec == bhttp::error::partial_message) return Close();
    if (ec && IsHttpError(ec)) return SendErrorAndClose(400, "bad request\n");
    if (ec) return Close();  // timeout, reset, TLS failure...

    const auto& req = parser_->get();
    version_ = req.version();
    keep_alive_ = req.keep_alive();
    head_ = req.method() == bhttp::verb::head;
    if (req.method() != bhttp::verb::get && !head_) {
      return Write(Response{405, "", "method not allowed\n"}, /*allow_header=*/true);
    }
    Request request{std::string(req.method_string()), std::string(req.target())};
    parser_.reset();
    awaiting_reply_ = true;
    const uint64_t seq = ++seq_;
    auto state = std::make_shared<ReplyState>(core_->gate(), weak_from_this(), seq);
    core_->handler()(request, [state](Response r) { state->Deliver(std::move(r)); });
  }

  void SendErrorAndClose(int status, std::string body) {
    keep_alive_ = false;
    Write(Response{status, "", std::move(body)}, /*allow_header=*/false);
  }

  void Write(Response r, bool allow_header) {
    if (r.status < 100 || r.status > 999) r = Response{500, "", "bad status from handler\n"};
    res_.emplace();
    res_->version(version_);
    res_->result(static_cast<unsigned>(r.status));
    res_->set(bhttp::field::content_type,
              r.content_type.empty() ? std::string(kDefaultContentType) : r.content_type);
    if (allow_header) res_->set(bhttp::field::allow, "GET, HEAD");
    res_->keep_alive(keep_alive_);
    res_->body() = std::move(r.body);
    res_->prepare_payload();
    if (head_) {
      const size_t length = res_->body().size();
      res_->body().clear();
      res_->content_length(length);
    }
    Lowest().expires_after(core_->idle());
    bhttp::async_write(stream_, *res_, [self = Self()](beast::error_code ec, size_t) {
      self->res_.reset();
      if (self->closed_) return;
      if (ec) return self->Close();
      if (!self->keep_alive_) return self->Linger();
      self->ReadRequest();
    });
  }

  // Closes gracefully: the client gets the whole response even if it is still sending (closing
  // with unread input would reset the connection).
  void Linger() {
    Lowest().expires_after(kLingerTime);
    if constexpr (kTls) {
      stream_.async_shutdown([self = Self()](beast::error_code) { self->Close(); });
    } else {
      beast::error_code ignored;
      Lowest().socket().shutdown(tcp::socket::shutdown_send, ignored);
      Drain();
    }
  }

  void Drain() {
    Lowest().async_read_some(net::buffer(drain_), [self = Self()](beast::error_code ec, size_t) {
      if (ec || self->closed_) return self->Close();
      self->Drain();
    });
  }

  SessionHost* const core_;
  Stream stream_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::optional<bhttp::response<bhttp::string_body>> res_;
  char drain_[512];
  unsigned version_ = 11;
  bool keep_alive_ = true;
  bool head_ = false;
  bool awaiting_reply_ = false;
  bool closed_ = false;
  uint64_t seq_ = 0;
};

}  // namespace

// Everything that lives on the io thread, plus the thread itself.
class HttpServer::Core final : public SessionHost {
 public:
  Core(Options options, Handler handler)
      : options_(std::move(options)),
        handler_(std::move(handler)),
        idle_(absl::ToChronoNanoseconds(options_.idle_timeout)),
        work_(net::make_work_guard(ioc_)),
        gate_(std::make_shared<ReplyGate>()) {
    absl::MutexLock lock(&gate_->mu);
    gate_->ioc = &ioc_;
  }

  ~Core() { Stop(); }

  absl::Status Configure() {
    if (options_.addresses.empty()) return absl::InvalidArgumentError("no listen address");
    if (options_.max_connections == 0) return absl::InvalidArgumentError("max_connections is 0");
    if (options_.idle_timeout <= absl::ZeroDuration()) {
      return absl::InvalidArgumentError("idle_timeout must be positive");
    }
    if (options_.tls) {
      tls_.emplace(ssl::context::tls_server);
      RETURN_IF_ERROR(ConfigureTls(options_.tls_options, &*tls_));
    }
    for (const std::string& address : options_.addresses) {
      absl::Status s = Listen(address);
      if (!s.ok()) {
        return absl::UnavailableError(
            absl::StrCat("cannot listen on ", address, ": ", s.message()));
      }
    }
    return absl::OkStatus();
  }

  std::vector<int> Ports() const {
    std::vector<int> ports;
    for (const auto& l : listeners_) ports.push_back(l->acceptor.local_endpoint().port());
    return ports;
  }

  void Run() {
    for (auto& l : listeners_) Accept(l.get());
    thread_ = std::thread([this] { ioc_.run(); });
  }

  void Stop() {
    absl::MutexLock lock(&stop_mu_);
    if (stopped_) return;
    stopped_ = true;
    {
      absl::MutexLock gate_lock(&gate_->mu);
      gate_->ioc = nullptr;
    }
    if (thread_.joinable()) {
      net::post(ioc_, [this] { CloseAll(); });
      work_.reset();
      thread_.join();
    }
  }

  // SessionHost, on the io thread:
  const Handler& handler() const override { return handler_; }
  std::chrono::nanoseconds idle() const override { return idle_; }
  const std::shared_ptr<ReplyGate>& gate() const override { return gate_; }

  void Remove(SessionBase* session) override {
    if (sessions_.erase(session) == 0) return;
    for (auto& l : listeners_) {
      if (l->paused) {
        l->paused = false;
        Accept(l.get());
      }
    }
  }

 private:
  struct Listener {
    explicit Listener(net::io_context& ioc) : acceptor(ioc), retry(ioc) {}
    tcp::acceptor acceptor;
    net::steady_timer retry;
    bool paused = false;
  };

  absl::Status Listen(const std::string& address) {
    std::string host;
    uint16_t port = 0;
    RETURN_IF_ERROR(SplitHostPort(address, &host, &port));
    beast::error_code ec;
    tcp::resolver resolver(ioc_);
    auto results = resolver.resolve(host, std::to_string(port),
                                    tcp::resolver::passive | tcp::resolver::numeric_service, ec);
    if (ec) return absl::UnavailableError(ec.message());
    if (results.empty()) return absl::UnavailableError("host not found");
    tcp::endpoint endpoint = results.begin()->endpoint();
    auto l = std::make_unique<Listener>(ioc_);
    l->acceptor.open(endpoint.protocol(), ec);
    if (!ec) l->acceptor.set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) l->acceptor.bind(endpoint, ec);
    if (!ec) l->acceptor.listen(net::socket_base::max_listen_connections, ec);
    if (ec) return absl::UnavailableError(ec.message());
    listeners_.push_back(std::move(l));
    return absl::OkStatus();
  }

  void Accept(Listener* l) {
    if (closing_) return;
    if (sessions_.size() >= options_.max_connections) {
      l->paused = true;  // Remove() resumes
      return;
    }
    l->acceptor.async_accept([this, l](beast::error_code ec, tcp::socket socket) {
      if (closing_ || ec == net::error::operation_aborted) return;
      if (ec) {
        // E.g. out of file descriptors: try again later rather than spin.
        Log(LogLevel::kWarn, "http accept failed", {{"error", ec.message()}});
        l->retry.expires_after(kAcceptRetry);
        l->retry.async_wait([this, l](beast::error_code ec) {
          if (!ec) Accept(l);
        });
        return;
      }
      StartSession(std::move(socket));
      Accept(l);
    });
  }

  void StartSession(tcp::socket socket);

  void CloseAll() {
    closing_ = true;
    for (auto& l : listeners_) {
      beast::error_code ignored;
      l->acceptor.close(ignored);
      l->retry.cancel();
    }
    auto sessions = std::move(sessions_);
    sessions_.clear();
    for (auto& [ptr, session] : sessions) session->Close();
  }

  const Options options_;
  const Handler handler_;
  const std::chrono::nanoseconds idle_;
  std::optional<ssl::context> tls_;  // outlives the io_context's sessions
  net::io_context ioc_;
  net::executor_work_guard<net::io_context::executor_type> work_;
  const std::shared_ptr<ReplyGate> gate_;
  std::vector<std::unique_ptr<Listener>> listeners_;
  // io thread only:
  absl::flat_hash_map<SessionBase*, std::shared_ptr<SessionBase>> sessions_;
  bool closing_ = false;
  std::thread thread_;

  absl::Mutex stop_mu_;
  bool stopped_ ABSL_GUARDED_BY(stop_mu_) = false;
};

void HttpServer::Core::StartSession(tcp::socket socket) {
  beast::error_code ignored;
  socket.set_option(tcp::no_delay(true), ignored);
  std::shared_ptr<SessionBase> session;
  if (tls_) {
    session = std::make_shared<Session<beast::ssl_stream<beast::tcp_stream>>>(
        this, std::move(socket), &*tls_);
  } else {
    session = std::make_shared<Session<beast::tcp_stream>>(this, std::move(socket), nullptr);
  }
  sessions_.emplace(session.get(), session);
  session->Start();
}

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(Options options, Handler handler) {
  std::unique_ptr<HttpServer> server(new HttpServer());
  server->core_ = std::make_unique<Core>(std::move(options), std::move(handler));
  RETURN_IF_ERROR(server->core_->Configure());
  server->ports_ = server->core_->Ports();
  server->core_->Run();
  return server;
}

HttpServer::~HttpServer() { Stop(); }

void HttpServer::Stop() {
  if (core_ != nullptr) core_->Stop();
}

}  // namespace rametcd::http
