// The rametcd binary as an operator meets it: --help, --version, bad flags, a port in use, a
// locked data dir, clean stop on SIGTERM, and the gRPC message-size limit.
#include <sys/wait.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "support/server_process.h"
#include "support/watch_session.h"

namespace rametcd::testing {
namespace {

TEST(ServerCliTest, VersionAndHelp) {
  CommandResult version = RunCommand({RametcdBinary(), "--version"});
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_NE(version.output.find("rametcd Version: "), std::string::npos) << version.output;
  CommandResult help = RunCommand({RametcdBinary(), "--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.output.find("--listen-client-urls"), std::string::npos) << help.output;
}

TEST(ServerCliTest, BadFlagExitsWithAClearMessage) {
  CommandResult r = RunCommand({RametcdBinary(), "--no-such-flag"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("flag provided but not defined: -no-such-flag"), std::string::npos)
      << r.output;
  r = RunCommand({RametcdBinary(), "--listen-client-urls", "unix:///tmp/sock"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("unsupported URL \"unix:///tmp/sock\""), std::string::npos) << r.output;
  r = RunCommand({RametcdBinary(), "--listen-client-urls", "https://127.0.0.1:1"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("https:// URLs need a certificate"), std::string::npos) << r.output;
  // A certificate file that cannot be read is named, and the server does not start.
  TempDir dir;
  r = RunCommand({RametcdBinary(), "--data-dir", dir.path() + "/d", "--listen-client-urls",
                  "https://127.0.0.1:0", "--cert-file", dir.path() + "/missing.pem", "--key-file",
                  dir.path() + "/missing.key"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("cannot read --key-file " + dir.path() + "/missing.key"),
            std::string::npos)
      << r.output;
}

TEST(ServerCliTest, PortInUseExitsNamingTheAddress) {
  auto first = ServerProcess::StartRametcd();
  ASSERT_TRUE(first.ok()) << first.status();
  TempDir dir;
  CommandResult r =
      RunCommand({RametcdBinary(), "--data-dir", dir.path() + "/d", "--listen-client-urls",
                  absl::StrCat("http://", (*first)->endpoint())});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find(absl::StrCat("cannot listen on ", (*first)->endpoint(),
                                       ": Address already in use")),
            std::string::npos)
      << r.output;
}

TEST(ServerCliTest, DataDirIsLocked) {
  auto first = ServerProcess::StartRametcd();
  ASSERT_TRUE(first.ok()) << first.status();
  CommandResult r =
      RunCommand({RametcdBinary(), "--data-dir", (*first)->data_dir() + "/data",
                  "--listen-client-urls", absl::StrCat("http://127.0.0.1:", FreePort())});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("is in use by another process"), std::string::npos) << r.output;
}

TEST(ServerCliTest, StopsCleanlyOnSigterm) {
  auto server = ServerProcess::StartRametcd();
  ASSERT_TRUE(server.ok()) << server.status();
  int status = (*server)->Terminate();
  ASSERT_NE(status, -1) << "did not stop";
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_NE((*server)->log().find("\"msg\":\"stopped\""), std::string::npos) << (*server)->log();
}

TEST(ServerCliTest, StopsCleanlyWithAWatchOpen) {
  auto server = ServerProcess::StartRametcd();
  ASSERT_TRUE(server.ok()) << server.status();
  WatchSession session((*server)->channel());
  ASSERT_TRUE(session.Send(CreateWatch("k")));
  ASSERT_TRUE(session.Next().has_value());
  int status = (*server)->Terminate();
  ASSERT_NE(status, -1) << "did not stop";
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(ServerCliTest, RequestLimits) {
  auto server = ServerProcess::StartRametcd({"--max-request-bytes", "1000"});
  ASSERT_TRUE(server.ok()) << server.status();
  auto kv = (*server)->NewKvStub();
  auto put = [&](size_t size) {
    grpc::ClientContext ctx;
    etcdserverpb::PutRequest req;
    req.set_key("k");
    req.set_value(std::string(size, 'v'));
    etcdserverpb::PutResponse resp;
    return kv->Put(&ctx, req, &resp);
  };
  EXPECT_TRUE(put(500).ok());
  grpc::Status too_large = put(2000);
  EXPECT_EQ(too_large.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(too_large.error_message(), "etcdserver: request is too large");
  // Beyond max-request-bytes + 512 KiB gRPC itself refuses the message.
  EXPECT_EQ(put(600 * 1024).error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_TRUE(put(10).ok());  // and the server keeps serving
}

}  // namespace
}  // namespace rametcd::testing
