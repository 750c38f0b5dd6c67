#include "server/options.h"

#include <vector>

#include "gtest/gtest.h"

namespace rametcd::server {
namespace {

absl::StatusOr<CommandLine> Parse(std::vector<const char*> args) {
  args.insert(args.begin(), "rametcd");
  return ParseCommandLine(static_cast<int>(args.size()), args.data());
}

TEST(OptionsTest, DefaultsMatchEtcd) {
  auto cl = Parse({});
  ASSERT_TRUE(cl.ok());
  EXPECT_EQ(cl->options.name, "default");
  EXPECT_EQ(cl->options.data_dir, "default.etcd");
  EXPECT_EQ(cl->options.listen_addresses, std::vector<std::string>{"127.0.0.1:2379"});
  EXPECT_EQ(cl->options.max_request_bytes, 1572864);
  EXPECT_EQ(cl->options.max_txn_ops, 128);
}

TEST(OptionsTest, GoStyleFlagSyntax) {
  auto cl = Parse({"--name", "m1", "-max-txn-ops=7", "--listen-client-urls",
                   "http://127.0.0.1:1,http://[::1]:2/", "--version"});
  ASSERT_TRUE(cl.ok()) << cl.status();
  EXPECT_EQ(cl->options.name, "m1");
  EXPECT_EQ(cl->options.data_dir, "m1.etcd");
  EXPECT_EQ(cl->options.max_txn_ops, 7);
  EXPECT_EQ(cl->options.listen_addresses, (std::vector<std::string>{"127.0.0.1:1", "[::1]:2"}));
  EXPECT_TRUE(cl->version);
  EXPECT_FALSE(cl->help);
}

TEST(OptionsTest, ErrorsNameTheFlag) {
  EXPECT_EQ(Parse({"--bogus"}).status().message(), "flag provided but not defined: -bogus");
  EXPECT_EQ(Parse({"--name"}).status().message(), "flag needs an argument: --name");
  EXPECT_EQ(Parse({"--max-request-bytes=-1"}).status().message(),
            "invalid value \"-1\" for flag --max-request-bytes: want a positive integer");
  EXPECT_FALSE(Parse({"--help=maybe"}).ok());
  EXPECT_FALSE(Parse({"--listen-client-urls", "https://127.0.0.1:2379"}).ok());
  EXPECT_FALSE(Parse({"--listen-client-urls", "http://127.0.0.1"}).ok());
  EXPECT_FALSE(Parse({"stray"}).ok());
}

TEST(OptionsTest, UsageListsEveryFlag) {
  std::string usage = UsageText();
  for (const char* flag :
       {"--name", "--data-dir", "--listen-client-urls", "--advertise-client-urls",
        "--max-request-bytes", "--max-txn-ops", "--log-level", "--help", "--version"}) {
    EXPECT_NE(usage.find(flag), std::string::npos) << flag;
  }
}

}  // namespace
}  // namespace rametcd::server
