#include "http/http_server.h"

#include <openssl/ssl.h>
#include <poll.h>

#include <atomic>
#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "boost/asio/connect.hpp"
#include "boost/asio/io_context.hpp"
#include "boost/asio/ip/tcp.hpp"
#include "boost/asio/ssl.hpp"
#include "boost/asio/write.hpp"
#include "boost/beast/core.hpp"
#include "boost/beast/http.hpp"
#include "boost/beast/ssl.hpp"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "support/server_process.h"
#include "support/test_certs.h"

namespace rametcd::http {
namespace {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = boost::asio::ip::tcp;
using ::testing::AnyOf;
using ::testing::HasSubstr;
using ClientResponse = bhttp::response<bhttp::string_body>;

// Upper bound for any single client operation; a correct server answers in milliseconds.
constexpr auto kTimeout = std::chrono::seconds(10);

// A blocking HTTP(S) test client. Every operation runs the client's own io_context until it
// completes or its deadline passes, so a misbehaving server fails the test instead of hanging it.
class TestClient {
 public:
  // `tls` is null for plain HTTP. `verify_host` is checked against the server certificate.
  static absl::StatusOr<std::unique_ptr<TestClient>> Connect(int port, ssl::context* tls = nullptr,
                                                             const std::string& verify_host = "") {
    auto c = std::unique_ptr<TestClient>(new TestClient());
    if (tls != nullptr) {
      c->tls_.emplace(c->ioc_, *tls);
      if (!verify_host.empty()) {
        SSL_set_tlsext_host_name(c->tls_->native_handle(), verify_host.c_str());
        c->tls_->set_verify_callback(ssl::host_name_verification(verify_host));
      }
    } else {
      c->plain_.emplace(c->ioc_);
    }
    tcp::endpoint endpoint(net::ip::make_address("127.0.0.1"), static_cast<uint16_t>(port));
    beast::error_code ec = c->Run([&](auto& stream, auto done) {
      beast::get_lowest_layer(stream).async_connect(endpoint, done);
    });
    if (ec) return absl::UnavailableError(absl::StrCat("connect: ", ec.message()));
    if (c->tls_) {
      ec = c->Run([&](auto& stream, auto done) {
        if constexpr (!std::is_same_v<std::decay_t<decltype(stream)>, beast::tcp_stream>) {
          stream.async_handshake(ssl::stream_base::client, done);
        }
      });
      if (ec) return absl::UnavailableError(absl::StrCat("handshake: ", ec.message()));
    }
    return c;
  }

  absl::Status Send(const std::string& raw) {
    beast::error_code ec = Run([&](auto& stream, auto done) {
      net::async_write(stream, net::buffer(raw),
                       [done](beast::error_code ec, size_t) { done(ec); });
    });
    if (ec) return absl::UnavailableError(absl::StrCat("write: ", ec.message()));
    return absl::OkStatus();
  }

  // Reads one response; `head` when it answers a HEAD request (no body follows).
  absl::StatusOr<ClientResponse> Read(bool head = false) {
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(1 << 20);
    parser.skip(head);
    beast::error_code ec = Run([&](auto& stream, auto done) {
      bhttp::async_read(stream, buffer_, parser,
                        [done](beast::error_code ec, size_t) { done(ec); });
    });
    if (ec) return absl::UnavailableError(absl::StrCat("read: ", ec.message()));
    return parser.release();
  }

  absl::StatusOr<ClientResponse> Request(const std::string& method, const std::string& target,
                                         bool keep_alive = true) {
    absl::Status s = Send(absl::StrCat(method, " ", target, " HTTP/1.1\r\nHost: test\r\n",
                                       keep_alive ? "" : "Connection: close\r\n", "\r\n"));
    if (!s.ok()) return s;
    return Read(method == "HEAD");
  }

  // Whether the server sent something (or closed) within `timeout`, without consuming it.
  bool WaitReadable(std::chrono::milliseconds timeout) {
    pollfd p{beast::get_lowest_layer(*plain_).socket().native_handle(), POLLIN, 0};
    return ::poll(&p, 1, static_cast<int>(timeout.count())) == 1;
  }

  // Reads until the server closes the connection; false if it is still open after `timeout`
  // (the client is then closed too).
  bool WaitClosed(std::chrono::steady_clock::duration timeout = kTimeout) {
    while (true) {
      char scratch[1024];
      beast::error_code ec = Run(
          [&](auto& stream, auto done) {
            stream.async_read_some(net::buffer(scratch),
                                   [done](beast::error_code ec, size_t) { done(ec); });
          },
          timeout);
      if (ec == beast::error::timeout) return false;
      if (ec) return true;  // EOF, reset, TLS alert
    }
  }

 private:
  TestClient() = default;

  // Starts `op(stream, done)` and runs until `done(ec)` is called; the lowest layer's deadline
  // bounds the wait.
  template <class Op>
  beast::error_code Run(Op op, std::chrono::steady_clock::duration timeout = kTimeout) {
    std::optional<beast::error_code> result;
    auto done = [&result](beast::error_code ec) { result = ec; };
    auto start = [&](auto& stream) {
      beast::get_lowest_layer(stream).expires_after(timeout);
      op(stream, done);
    };
    if (tls_) {
      start(*tls_);
    } else {
      start(*plain_);
    }
    ioc_.restart();
    while (!result && ioc_.run_one() > 0) {
    }
    return result.value_or(net::error::operation_aborted);
  }

  net::io_context ioc_;
  std::optional<beast::tcp_stream> plain_;
  std::optional<beast::ssl_stream<beast::tcp_stream>> tls_;
  beast::flat_buffer buffer_;
};

// Answers GET /hello* with "hello <target>", /slow by parking the reply, and 404 otherwise.
class HttpServerTest : public ::testing::Test {
 protected:
  absl::StatusOr<std::unique_ptr<HttpServer>> StartServer(HttpServer::Options options) {
    return HttpServer::Start(std::move(options), [this](const Request& req, auto reply) {
      calls_.fetch_add(1);
      if (req.target.rfind("/hello", 0) == 0) {
        reply(
            Response{200, "text/x-test", absl::StrCat("hello ", req.target, " via ", req.method)});
      } else if (req.target == "/slow") {
        absl::MutexLock lock(&mu_);
        parked_.push_back(std::move(reply));
      } else if (req.target == "/drop") {
        // Never replies: the server answers 500 when the last copy of `reply` goes away.
      } else {
        reply(Response{404, "", "not found\n"});
      }
    });
  }

  std::unique_ptr<HttpServer> MustStart(HttpServer::Options options) {
    auto server = StartServer(std::move(options));
    EXPECT_TRUE(server.ok()) << server.status();
    return server.ok() ? std::move(server).value() : nullptr;
  }

  static HttpServer::Options LocalOptions() {
    HttpServer::Options options;
    options.addresses = {"127.0.0.1:0"};
    return options;
  }

  // Waits (bounded) until `n` replies are parked.
  bool WaitParked(size_t n) {
    absl::MutexLock lock(&mu_);
    auto enough = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return parked_.size() >= n; };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), absl::Seconds(10));
  }

  std::function<void(Response)> TakeParked() {
    absl::MutexLock lock(&mu_);
    auto reply = std::move(parked_.front());
    parked_.pop_front();
    return reply;
  }

  std::atomic<int> calls_{0};
  absl::Mutex mu_;
  std::deque<std::function<void(Response)>> parked_ ABSL_GUARDED_BY(mu_);
};

TEST_F(HttpServerTest, GetAndHead) {
  auto server = MustStart(LocalOptions());
  ASSERT_NE(server, nullptr);
  ASSERT_EQ(server->ports().size(), 1u);
  ASSERT_GT(server->ports()[0], 0);
  auto client = TestClient::Connect(server->ports()[0]);
  ASSERT_TRUE(client.ok()) << client.status();

  auto get = (*client)->Request("GET", "/hello?x=1");
  ASSERT_TRUE(get.ok()) << get.status();
  EXPECT_EQ(get->result_int(), 200);
  EXPECT_EQ(get->body(), "hello /hello?x=1 via GET");
  EXPECT_EQ((*get)[bhttp::field::content_type], "text/x-test");
  EXPECT_TRUE(get->keep_alive());

  auto head = (*client)->Request("HEAD", "/hello?x=1");
  ASSERT_TRUE(head.ok()) << head.status();
  EXPECT_EQ(head->result_int(), 200);
  EXPECT_EQ(head->body(), "");
  // The length of the body a GET would have had ("... via HEAD" is one letter longer).
  EXPECT_EQ((*head)[bhttp::field::content_length], "25");
  // The connection is still in sync after the bodiless HEAD response.
  auto again = (*client)->Request("GET", "/hello");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->body(), "hello /hello via GET");
}

TEST_F(HttpServerTest, KeepAliveAndPipelining) {
  auto server = MustStart(LocalOptions());
  ASSERT_NE(server, nullptr);
  auto client = TestClient::Connect(server->ports()[0]);
  ASSERT_TRUE(client.ok()) << client.status();
  for (int i = 0; i < 5; ++i) {
    auto r = (*client)->Request("GET", absl::StrCat("/hello/", i));
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->body(), absl::StrCat("hello /hello/", i, " via GET"));
  }
  // Two requests in one write are answered in order.
  ASSERT_TRUE((*client)
                  ->Send("GET /hello/a HTTP/1.1\r\nHost: t\r\n\r\n"
                         "GET /hello/b HTTP/1.1\r\nHost: t\r\n\r\n")
                  .ok());
  auto a = (*client)->Read();
  auto b = (*client)->Read();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->body(), "hello /hello/a via GET");
  EXPECT_EQ(b->body(), "hello /hello/b via GET");
  // Connection: close is honoured.
  auto last = (*client)->Request("GET", "/hello", /*keep_alive=*/false);
  ASSERT_TRUE(last.ok()) << last.status();
  EXPECT_FALSE(last->keep_alive());
  EXPECT_TRUE((*client)->WaitClosed());
}

TEST_F(HttpServerTest, OtherMethodsGet405WithoutReachingTheHandler) {
  auto server = MustStart(LocalOptions());
  ASSERT_NE(server, nullptr);
  auto client = TestClient::Connect(server->ports()[0]);
  ASSERT_TRUE(client.ok());
  ASSERT_TRUE(
      (*client)->Send("POST /hello HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc").ok());
  auto post = (*client)->Read();
  ASSERT_TRUE(post.ok()) << post.status();
  EXPECT_EQ(post->result_int(), 405);
  EXPECT_EQ((*post)[bhttp::field::allow], "GET, HEAD");
  auto del = (*client)->Request("DELETE", "/hello");
  ASSERT_TRUE(del.ok()) << del.status();
  EXPECT_EQ(del->result_int(), 405);
  EXPECT_EQ(calls_.load(), 0);
  // Still usable.
  auto get = (*client)->Request("GET", "/hello");
  ASSERT_TRUE(get.ok());
  EXPECT_EQ(get->result_int(), 200);
}

TEST_F(HttpServerTest, HandlerDecidesNotFound) {
  auto server = MustStart(LocalOptions());
  ASSERT_NE(server, nullptr);
  auto client = TestClient::Connect(server->ports()[0]);
  ASSERT_TRUE(client.ok());
  auto r = (*client)->Request("GET", "/nope");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->result_int(), 404);
  EXPECT_EQ(r->body(), "not found\n");
  EXPECT_EQ((*r)[bhttp::field::content_type], "text/plain; charset=utf-8");
}

TEST_F(HttpServerTest, OversizedAndMalformedRequestsAreRefused) {
  auto server = MustStart(LocalOptions());
  ASSERT_NE(server, nullptr);
  const int port = server->ports()[0];
  struct Case {
    std::string request;
    int status;
  };
  const Case cases[] = {
      {absl::StrCat("GET /hello HTTP/1.1\r\nHost: t\r\nX-Big: ", std::string(10000, 'x'),
                    "\r\n\r\n"),
       431},
      {"GET /hello HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n", 413},
      {absl::StrCat("GET /hello HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n",
                    "1388\r\n", std::string(5000, 'y'), "\r\n0\r\n\r\n"),
       413},
      {"GARBAGE\r\n\r\n", 400},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.status);
    auto client = TestClient::Connect(port);
    ASSERT_TRUE(client.ok());
    ASSERT_TRUE((*client)->Send(c.request).ok());
    auto r = (*client)->Read();
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->result_int(), c.status);
    EXPECT_FALSE(r->keep_alive());
    EXPECT_TRUE((*client)->WaitClosed());
  }
  // A small body is accepted (and ignored).
  auto client = TestClient::Connect(port);
  ASSERT_TRUE(client.ok());
  ASSERT_TRUE(
      (*client)->Send("GET /hello HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nhi").ok());
  auto r = (*client)->Read();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->result_int(), 200);
  EXPECT_EQ(calls_.load(), 1);
}

TEST_F(HttpServerTest, IdleClientsDoNotBlockOthersAndAreTimedOut) {
  HttpServer::Options options = LocalOptions();
  options.idle_timeout = absl::Milliseconds(300);
  auto server = MustStart(options);
  ASSERT_NE(server, nullptr);
  const int port = server->ports()[0];
  auto silent = TestClient::Connect(port);
  auto partial = TestClient::Connect(port);
  ASSERT_TRUE(silent.ok() && partial.ok());
  ASSERT_TRUE((*partial)->Send("GET /hello HTTP/1.1\r\nHo").ok());
  auto other = TestClient::Connect(port);
  ASSERT_TRUE(other.ok());
  auto r = (*other)->Request("GET", "/hello");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->result_int(), 200);
  // Neither the silent nor the slow client may keep its connection.
  EXPECT_TRUE((*silent)->WaitClosed());
  EXPECT_TRUE((*partial)->WaitClosed());
  // And a kept-alive connection idle after a request is closed too.
  EXPECT_TRUE((*other)->WaitClosed());
}

TEST_F(HttpServerTest, AsyncReplyFromAnotherThread) {
  auto server = MustStart(LocalOptions());
  ASSERT_NE(server, nullptr);
  auto client = TestClient::Connect(server->ports()[0]);
  ASSERT_TRUE(client.ok());
  ASSERT_TRUE((*client)->Send("GET /slow HTTP/1.1\r\nHost: t\r\n\r\n").ok());
  ASSERT_TRUE(WaitParked(1));
  std::thread replier([reply = TakeParked()] {
    reply(Response{202, "application/json", "{\"late\":true}"});
    reply(Response{500, "", "a second reply is ignored"});
  });
  auto r = (*client)->Read();
  replier.join();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->result_int(), 202);
  EXPECT_EQ(r->body(), "{\"late\":true}");
  EXPECT_EQ((*r)[bhttp::field::content_type], "application/json");
  // The connection goes on with the next request.
  auto next = (*client)->Request("GET", "/hello");
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next->result_int(), 200);
}

TEST_F(HttpServerTest, DroppedReplyAnswers500) {
  auto server = MustStart(LocalOptions());
  ASSERT_NE(server, nullptr);
  auto client = TestClient::Connect(server->ports()[0]);
  ASSERT_TRUE(client.ok());
  auto r = (*client)->Request("GET", "/drop");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->result_int(), 500);
}

TEST_F(HttpServerTest, MaxConnectionsHoldsFurtherClientsBack) {
  HttpServer::Options options = LocalOptions();
  options.max_connections = 1;
  auto server = MustStart(options);
  ASSERT_NE(server, nullptr);
  const int port = server->ports()[0];
  auto first = TestClient::Connect(port);
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE((*first)->Request("GET", "/hello").ok());
  // The second connection sits in the listen backlog: its request is not read while the first
  // connection is open.
  auto second = TestClient::Connect(port);
  ASSERT_TRUE(second.ok());
  ASSERT_TRUE((*second)->Send("GET /hello/2 HTTP/1.1\r\nHost: t\r\n\r\n").ok());
  EXPECT_FALSE((*second)->WaitReadable(std::chrono::milliseconds(300)));
  EXPECT_EQ(calls_.load(), 1);
  first->reset();  // closes the first connection
  auto r = (*second)->Read();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->body(), "hello /hello/2 via GET");
}

TEST_F(HttpServerTest, StopClosesOpenConnections) {
  auto server = MustStart(LocalOptions());
  ASSERT_NE(server, nullptr);
  const int port = server->ports()[0];
  auto idle = TestClient::Connect(port);
  auto waiting = TestClient::Connect(port);
  auto partial = TestClient::Connect(port);
  ASSERT_TRUE(idle.ok() && waiting.ok() && partial.ok());
  ASSERT_TRUE((*waiting)->Send("GET /slow HTTP/1.1\r\nHost: t\r\n\r\n").ok());
  ASSERT_TRUE((*partial)->Send("GET /hel").ok());
  ASSERT_TRUE(WaitParked(1));
  server->Stop();
  EXPECT_TRUE((*idle)->WaitClosed());
  EXPECT_TRUE((*waiting)->WaitClosed());
  EXPECT_TRUE((*partial)->WaitClosed());
  // Replying after Stop() does nothing; Stop() is idempotent; new connections are refused.
  TakeParked()(Response{200, "", "too late"});
  server->Stop();
  EXPECT_FALSE(TestClient::Connect(port).ok());
  server.reset();
}

TEST_F(HttpServerTest, ListenErrorsNameTheAddress) {
  auto first = MustStart(LocalOptions());
  ASSERT_NE(first, nullptr);
  const std::string taken = absl::StrCat("127.0.0.1:", first->ports()[0]);
  HttpServer::Options options;
  options.addresses = {"127.0.0.1:0", taken};
  auto second = StartServer(options);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(second.status().message(),
              HasSubstr(absl::StrCat("cannot listen on ", taken, ": Address already in use")));

  options.addresses = {"no-port"};
  auto bad = StartServer(options);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("cannot listen on no-port"));

  // Several addresses: ports() follows their order.
  options.addresses = {"127.0.0.1:0", "[::1]:0"};
  auto two = StartServer(options);
  if (two.ok()) {  // [::1] may be unavailable in a container without IPv6
    ASSERT_EQ((*two)->ports().size(), 2u);
    EXPECT_NE((*two)->ports()[0], (*two)->ports()[1]);
  }
}

// ---------------------------------------------------------------------------------------------
// HTTPS

class HttpsServerTest : public HttpServerTest {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::TempDir();
    auto certs = testing::MakeTestCerts(dir_->path() + "/certs");
    ASSERT_TRUE(certs.ok()) << certs.status();
    certs_ = new testing::TestCerts(*certs);
  }
  static void TearDownTestSuite() {
    delete certs_;
    delete dir_;
  }

  HttpServer::Options TlsOptions(bool client_cert_auth) {
    HttpServer::Options options = LocalOptions();
    options.tls = true;
    options.tls_options.cert_file = certs_->server_cert;
    options.tls_options.key_file = certs_->server_key;
    options.tls_options.trusted_ca_file = certs_->ca;
    options.tls_options.client_cert_auth = client_cert_auth;
    return options;
  }

  // A client context trusting the test CA, with an optional client certificate.
  static std::unique_ptr<ssl::context> ClientContext(const std::string& cert = "",
                                                     const std::string& key = "") {
    auto ctx = std::make_unique<ssl::context>(ssl::context::tls_client);
    ctx->load_verify_file(certs_->ca);
    ctx->set_verify_mode(ssl::verify_peer);
    if (!cert.empty()) {
      ctx->use_certificate_chain_file(cert);
      ctx->use_private_key_file(key, ssl::context::pem);
    }
    return ctx;
  }

  // Connects, sends GET /hello and reads the answer; any TLS refusal is an error.
  static absl::StatusOr<ClientResponse> Fetch(int port, ssl::context* ctx,
                                              const std::string& host = "localhost") {
    auto client = TestClient::Connect(port, ctx, host);
    if (!client.ok()) return client.status();
    return (*client)->Request("GET", "/hello");
  }

  static testing::TempDir* dir_;
  static testing::TestCerts* certs_;
};

testing::TempDir* HttpsServerTest::dir_ = nullptr;
testing::TestCerts* HttpsServerTest::certs_ = nullptr;

TEST_F(HttpsServerTest, ServesWithAVerifiableCertificate) {
  auto server = MustStart(TlsOptions(/*client_cert_auth=*/false));
  ASSERT_NE(server, nullptr);
  auto ctx = ClientContext();
  // Both subject alternative names verify.
  for (const char* host : {"localhost", "127.0.0.1"}) {
    auto r = Fetch(server->ports()[0], ctx.get(), host);
    ASSERT_TRUE(r.ok()) << host << ": " << r.status();
    EXPECT_EQ(r->body(), "hello /hello via GET");
  }
  // A name the certificate does not carry fails verification (the check is real).
  auto wrong_name = Fetch(server->ports()[0], ctx.get(), "example.com");
  ASSERT_FALSE(wrong_name.ok());
  EXPECT_THAT(wrong_name.status().message(), HasSubstr("certificate verify failed"));
  // Keep-alive over TLS, HEAD over TLS.
  auto client = TestClient::Connect(server->ports()[0], ctx.get(), "localhost");
  ASSERT_TRUE(client.ok()) << client.status();
  auto head = (*client)->Request("HEAD", "/hello");
  ASSERT_TRUE(head.ok()) << head.status();
  EXPECT_EQ(head->result_int(), 200);
  auto get = (*client)->Request("GET", "/nope");
  ASSERT_TRUE(get.ok()) << get.status();
  EXPECT_EQ(get->result_int(), 404);
}

TEST_F(HttpsServerTest, RefusesOldTlsAndPlainHttp) {
  auto server = MustStart(TlsOptions(false));
  ASSERT_NE(server, nullptr);
  auto old = ClientContext();
  SSL_CTX_set_min_proto_version(old->native_handle(), TLS1_VERSION);
  SSL_CTX_set_max_proto_version(old->native_handle(), TLS1_1_VERSION);
  SSL_CTX_set_security_level(old->native_handle(), 0);
  auto r = Fetch(server->ports()[0], old.get());
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("protocol version"));
  // Plain HTTP to the TLS port gets no HTTP response.
  auto plain = TestClient::Connect(server->ports()[0]);
  ASSERT_TRUE(plain.ok());
  EXPECT_FALSE((*plain)->Request("GET", "/hello").ok());
  EXPECT_EQ(calls_.load(), 0);
}

TEST_F(HttpsServerTest, MutualTlsRequiresAClientCertificateFromTheTrustedCa) {
  auto server = MustStart(TlsOptions(/*client_cert_auth=*/true));
  ASSERT_NE(server, nullptr);
  const int port = server->ports()[0];

  auto no_cert = ClientContext();
  auto r = Fetch(port, no_cert.get());
  ASSERT_FALSE(r.ok()) << "served a client without a certificate";
  // The server's alert (TLS 1.3: after the client's Finished, so the client sees it on read).
  EXPECT_THAT(r.status().message(),
              AnyOf(HasSubstr("certificate required"), HasSubstr("handshake failure")));

  auto wrong_ca = ClientContext(certs_->other_ca_client_cert, certs_->other_ca_client_key);
  r = Fetch(port, wrong_ca.get());
  ASSERT_FALSE(r.ok()) << "served a client whose certificate is from another CA";
  EXPECT_THAT(r.status().message(), HasSubstr("unknown ca"));
  EXPECT_EQ(calls_.load(), 0);

  auto good = ClientContext(certs_->client_cert, certs_->client_key);
  r = Fetch(port, good.get());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->result_int(), 200);
  EXPECT_EQ(calls_.load(), 1);
}

TEST_F(HttpsServerTest, BadCertificateFilesAreReported) {
  HttpServer::Options options = TlsOptions(false);
  options.tls_options.cert_file = dir_->path() + "/missing.crt";
  auto s = StartServer(options);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.status().message(), HasSubstr("missing.crt"));
  EXPECT_THAT(s.status().message(), HasSubstr("No such file"));

  // A file that is not a certificate.
  options = TlsOptions(false);
  options.tls_options.cert_file = certs_->server_key;
  s = StartServer(options);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.status().message(), HasSubstr("cannot load TLS certificate from"));

  // A key that does not belong to the certificate.
  options = TlsOptions(false);
  options.tls_options.key_file = certs_->client_key;
  s = StartServer(options);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.status().message(), HasSubstr(certs_->client_key));
  EXPECT_THAT(s.status().message(), HasSubstr("mismatch"));

  // Client certificate auth without a CA file.
  options = TlsOptions(true);
  options.tls_options.trusted_ca_file = "";
  s = StartServer(options);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.status().message(), HasSubstr("trusted CA"));
}

}  // namespace
}  // namespace rametcd::http
