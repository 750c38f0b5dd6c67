// rametcd-recover against a data dir written by the real server: verify on a clean dir, on a torn
// tail, on corruption in the middle of a log, on a misplaced record and on an incomplete last
// batch; dump as text and JSON; repair (backup, cut, the server starts again with what came
// before the damage or the incomplete batch); compact (one checkpoint per stream, the same keys,
// values and revisions after a restart, refused while a server holds the dir).
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "etcd/api/etcdserverpb/rpc.pb.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "support/server_process.h"
#include "wal/record_codec.h"

namespace rametcd::testing {
namespace {

namespace fs = std::filesystem;

const std::string kPodsDir = "%2Fregistry%2Fpods%2F";

CommandResult Recover(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {RAMETCD_RECOVER_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommand(argv);
}

CommandResult Etcdctl(const ServerProcess& server, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"env", "ETCDCTL_API=3", "etcdctl",
                                   "--endpoints=" + server.endpoint(), "--command-timeout=10s"};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommand(argv);
}

// The first line of `output` that starts with `start` (etcdctl may add its own log lines).
std::string LineStartingWith(const std::string& output, const std::string& start) {
  for (absl::string_view line : absl::StrSplit(output, '\n')) {
    if (absl::StartsWith(line, start)) return std::string(line);
  }
  return "";
}

// Every key of the server, as `etcdctl get --prefix "" -w json` reports them.
etcdserverpb::RangeResponse GetAll(const ServerProcess& server) {
  CommandResult r = Etcdctl(server, {"get", "--prefix", "", "-w", "json"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  etcdserverpb::RangeResponse response;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  const std::string json = LineStartingWith(r.output, "{\"header\"");
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(json, &response, options).ok())
      << r.output;
  return response;
}

bool HasKey(const etcdserverpb::RangeResponse& response, const std::string& key) {
  for (const mvccpb::KeyValue& kv : response.kvs()) {
    if (kv.key() == key) return true;
  }
  return false;
}

void ExpectSameKeys(const etcdserverpb::RangeResponse& want,
                    const etcdserverpb::RangeResponse& got) {
  EXPECT_EQ(got.header().revision(), want.header().revision());
  ASSERT_EQ(got.kvs_size(), want.kvs_size()) << got.DebugString();
  for (int i = 0; i < want.kvs_size(); ++i) {
    EXPECT_EQ(got.kvs(i).SerializeAsString(), want.kvs(i).SerializeAsString())
        << "want " << want.kvs(i).DebugString() << "got " << got.kvs(i).DebugString();
  }
}

std::vector<std::string> FilesIn(const fs::path& dir, const std::string& extension) {
  std::vector<std::string> files;
  for (const fs::directory_entry& e : fs::directory_iterator(dir)) {
    if (e.path().extension() == extension) files.push_back(e.path().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

// The offsets of the records in one file, from `dump --json`.
std::vector<uint64_t> RecordOffsets(const std::string& data_dir, const std::string& file) {
  CommandResult r = Recover({"dump", data_dir, "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  std::vector<uint64_t> offsets;
  for (absl::string_view line : absl::StrSplit(r.output, '\n', absl::SkipEmpty())) {
    google::protobuf::Struct object;
    if (!google::protobuf::util::JsonStringToMessage(std::string(line), &object).ok()) continue;
    const auto& fields = object.fields();
    if (fields.contains("file") && fields.at("file").string_value() == file) {
      offsets.push_back(static_cast<uint64_t>(fields.at("offset").number_value()));
    }
  }
  return offsets;
}

class RecoverTest : public ::testing::Test {
 protected:
  // One data dir written by a real server, shared by the tests; each works on a copy.
  static void SetUpTestSuite() {
    source_ = new TempDir();
    const std::string data = source_->path() + "/data";
    auto server = ServerProcess::StartRametcd({"--data-dir", data});
    ASSERT_TRUE(server.ok()) << server.status();
    const ServerProcess& s = **server;
    auto put = [&](const std::vector<std::string>& args) {
      std::vector<std::string> full = {"put"};
      full.insert(full.end(), args.begin(), args.end());
      CommandResult r = Etcdctl(s, full);
      ASSERT_EQ(r.exit_code, 0) << r.output;
    };
    for (int i = 1; i <= 5; ++i) {
      put({absl::StrCat("/registry/pods/default/pod-", i), absl::StrCat("pod ", i, " \"spec\"")});
    }
    put({"/registry/events/default/e1", "event 1"});
    put({"/registry/events/default/e2", "event 2"});
    put({"/other/key", "other value\twith tab"});
    put({"top", "level"});
    CommandResult lease = Etcdctl(s, {"lease", "grant", "600"});
    ASSERT_EQ(lease.exit_code, 0) << lease.output;
    std::vector<std::string> words =
        absl::StrSplit(LineStartingWith(lease.output, "lease "), ' ', absl::SkipEmpty());
    ASSERT_GE(words.size(), 2u) << lease.output;
    put({"/registry/leases/kube-system/holder", "leased", "--lease=" + words[1]});
    put({"/registry/pods/default/pod-1", "pod 1 v2"});
    put({"top", "level 2"});
    const int64_t before_compaction = GetAll(s).header().revision();
    CommandResult compaction = Etcdctl(s, {"compaction", absl::StrCat(before_compaction - 1)});
    ASSERT_EQ(compaction.exit_code, 0) << compaction.output;
    put({"/registry/events/default/e1", "event 1 v2"});
    CommandResult del = Etcdctl(s, {"del", "/registry/events/default/e2"});
    ASSERT_EQ(del.exit_code, 0) << del.output;
    put({"/registry/pods/default/pod-6", "pod 6"});
    *expected_ = GetAll(s);
    ASSERT_EQ(expected_->kvs_size(), 10) << expected_->DebugString();
    ASSERT_EQ((*server)->Terminate(), 0) << s.log();
  }
  static void TearDownTestSuite() {
    delete source_;
    source_ = nullptr;
  }

  void SetUp() override {
    ASSERT_NE(source_, nullptr);
    data_ = work_.path() + "/data";
    fs::copy(source_->path() + "/data", data_, fs::copy_options::recursive);
  }

  std::string PodsLog() const {
    std::vector<std::string> logs = FilesIn(data_ + "/wal/" + kPodsDir, ".log");
    EXPECT_EQ(logs.size(), 1u);
    return logs.empty() ? "" : logs.back();
  }

  static TempDir* source_;
  static etcdserverpb::RangeResponse* expected_;
  TempDir work_;
  std::string data_;
};

TempDir* RecoverTest::source_ = nullptr;
etcdserverpb::RangeResponse* RecoverTest::expected_ = new etcdserverpb::RangeResponse();

TEST_F(RecoverTest, HelpAndUsage) {
  CommandResult r = Recover({"--help"});
  EXPECT_EQ(r.exit_code, 0);
  for (const char* command : {"verify", "dump", "repair", "compact"}) {
    EXPECT_NE(r.output.find(command), std::string::npos) << r.output;
    CommandResult help = Recover({command, "--help"});
    EXPECT_EQ(help.exit_code, 0) << command;
    EXPECT_NE(help.output.find(absl::StrCat("rametcd-recover ", command)), std::string::npos)
        << help.output;
  }
  EXPECT_EQ(Recover({}).exit_code, 2);
  EXPECT_EQ(Recover({"frobnicate", data_}).exit_code, 2);
  r = Recover({"verify", data_, "--no-such-flag"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("Usage: rametcd-recover verify"), std::string::npos) << r.output;
  EXPECT_EQ(Recover({"verify"}).exit_code, 2);
  EXPECT_EQ(Recover({"compact", data_, "--revision", "x"}).exit_code, 2);
  EXPECT_EQ(Recover({"verify", work_.path() + "/no-such-dir"}).exit_code, 4);
}

TEST_F(RecoverTest, VerifyCleanDir) {
  CommandResult r = Recover({"verify", data_});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("stream /registry/pods/"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("stream _meta"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("clean"), std::string::npos) << r.output;
}

TEST_F(RecoverTest, DumpTextAndJson) {
  CommandResult r = Recover({"dump", data_});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (const char* text :
       {"/registry/pods/default/pod-3", "/registry/events/default/e2", "/other/key", "top",
        "value=\"pod 1 v2\"", "other value\\twith tab", "lease-grant",
        "compaction revision=", "delete key=\"/registry/events/default/e2\""}) {
    EXPECT_NE(r.output.find(text), std::string::npos) << text << "\n" << r.output;
  }

  r = Recover({"dump", data_, "--prefix", "/registry/pods/"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("/registry/pods/default/pod-6"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("/registry/events/"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("top"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("lease-grant"), std::string::npos) << r.output;

  r = Recover({"dump", data_, "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  int lines = 0;
  for (absl::string_view line : absl::StrSplit(r.output, '\n', absl::SkipEmpty())) {
    ++lines;
    EXPECT_TRUE(absl::StartsWith(line, "{")) << line;
    EXPECT_NE(line.find("\"offset\":"), absl::string_view::npos) << line;
    google::protobuf::Struct object;
    EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(std::string(line), &object).ok())
        << line;
    EXPECT_TRUE(object.fields().contains("stream")) << line;
    EXPECT_TRUE(object.fields().contains("file")) << line;
  }
  EXPECT_GE(lines, 17);

  r = Recover({"dump", data_, "--json", "--prefix=/registry/events/"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  lines = 0;
  for (absl::string_view line : absl::StrSplit(r.output, '\n', absl::SkipEmpty())) {
    ++lines;
    EXPECT_NE(line.find("\"stream\":\"/registry/events/\""), absl::string_view::npos) << line;
  }
  EXPECT_EQ(lines, 4) << r.output;
}

TEST_F(RecoverTest, TornTail) {
  const std::string log = FilesIn(data_ + "/wal/_other", ".log").back();
  std::ofstream(log, std::ios::app | std::ios::binary) << "garbage after the last record";
  CommandResult r = Recover({"verify", data_});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("torn tail"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(log), std::string::npos) << r.output;

  // Cutting into the last record of a stream is a torn tail too.
  const std::string pods = PodsLog();
  fs::resize_file(pods, fs::file_size(pods) - 3);
  r = Recover({"verify", data_});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find(pods), std::string::npos) << r.output;

  r = Recover({"repair", data_});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  r = Recover({"verify", data_});
  EXPECT_EQ(r.exit_code, 0) << r.output;
}

// A crash while a batch that wrote two streams was written: the pods part reached its file, the
// _other part did not. verify names the incomplete batch, repair cuts it off (as the server would
// on start), and the server comes back with what came before it.
TEST_F(RecoverTest, IncompleteLastBatchIsReportedAndCut) {
  {
    auto server = ServerProcess::StartRametcd({"--data-dir", data_});
    ASSERT_TRUE(server.ok()) << server.status();
    CommandResult txn = RunCommand(
        {"env", "ETCDCTL_API=3", "etcdctl", "--endpoints=" + (*server)->endpoint(), "txn"},
        "\nput /registry/pods/default/pod-7 p7\nput /other/key2 o2\n\n\n");
    ASSERT_EQ(txn.exit_code, 0) << txn.output;
    ASSERT_NE(txn.output.find("SUCCESS"), std::string::npos) << txn.output;
    ASSERT_EQ((*server)->Terminate(), 0);
  }
  const std::string log = FilesIn(data_ + "/wal/_other", ".log").back();
  const std::vector<uint64_t> offsets =
      RecordOffsets(data_, "_other/" + fs::path(log).filename().string());
  ASSERT_GE(offsets.size(), 2u);
  fs::resize_file(log, offsets[offsets.size() - 2]);  // the txn's part and its batch end
  CommandResult r = Recover({"verify", data_});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("incomplete batch: batch"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("misses its part in stream \"_other\""), std::string::npos) << r.output;

  r = Recover({"repair", data_});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("an incomplete last batch"), std::string::npos) << r.output;
  r = Recover({"verify", data_});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  auto server = ServerProcess::StartRametcd({"--data-dir", data_});
  ASSERT_TRUE(server.ok()) << server.status();
  ExpectSameKeys(*expected_, GetAll(**server));
}

// verify reads the streams as the server does: a valid record where it does not belong (a lease
// grant in a data stream) is corruption, though its bytes hold.
TEST_F(RecoverTest, MisplacedRecordIsCorrupt) {
  wal::Record grant;
  grant.mutable_lease_grant()->set_id(7);
  grant.mutable_lease_grant()->set_ttl(60);
  std::string framed;
  wal::AppendRecord(grant, &framed);
  std::ofstream(PodsLog(), std::ios::app | std::ios::binary) << framed;
  CommandResult r = Recover({"verify", data_});
  EXPECT_EQ(r.exit_code, 3) << r.output;
  EXPECT_NE(r.output.find("CORRUPT: "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("lease_grant record at offset"), std::string::npos) << r.output;
}

TEST_F(RecoverTest, CorruptionInTheMiddleIsRepairedWithABackup) {
  const std::string log = PodsLog();
  const std::string short_name = kPodsDir + "/" + fs::path(log).filename().string();
  const std::vector<uint64_t> offsets = RecordOffsets(data_, short_name);
  ASSERT_GE(offsets.size(), 6u);
  // The third pod (each write is a txn record and its batch end); more records follow it.
  const uint64_t damaged = offsets[4];
  {
    std::fstream f(log, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(damaged + 16);
    char c = 0;
    f.read(&c, 1);
    c ^= 0x5a;
    f.seekp(damaged + 16);
    f.write(&c, 1);
  }
  CommandResult r = Recover({"verify", data_});
  EXPECT_EQ(r.exit_code, 3) << r.output;
  EXPECT_NE(r.output.find(absl::StrCat(log, ": corrupt data at offset ", damaged)),
            std::string::npos)
      << r.output;

  // The server refuses the dir; repair cuts the log at the damage, keeping a backup.
  r = RunCommand({RametcdBinary(), "--data-dir", data_, "--listen-client-urls",
                  absl::StrCat("http://127.0.0.1:", FreePort())});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("rametcd-recover repair"), std::string::npos) << r.output;
  const uint64_t size = fs::file_size(log);
  r = Recover({"repair", data_});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  std::vector<std::string> backups;
  for (const fs::directory_entry& e : fs::directory_iterator(data_)) {
    if (e.path().filename().string().rfind("wal-backup-", 0) == 0) {
      backups.push_back(e.path().string());
    }
  }
  ASSERT_EQ(backups.size(), 1u) << r.output;
  const std::string backup = backups[0] + "/" + short_name;
  ASSERT_TRUE(fs::exists(backup)) << r.output;
  EXPECT_EQ(fs::file_size(backup), size);
  EXPECT_EQ(fs::file_size(log), damaged);
  r = Recover({"verify", data_});
  EXPECT_EQ(r.exit_code, 0) << r.output;

  // An explicit backup dir, when there is nothing left to repair, stays empty.
  r = Recover({"repair", data_, "--backup-dir", work_.path() + "/backup"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("nothing to repair"), std::string::npos) << r.output;

  auto server = ServerProcess::StartRametcd({"--data-dir", data_});
  ASSERT_TRUE(server.ok()) << server.status();
  etcdserverpb::RangeResponse got = GetAll(**server);
  EXPECT_TRUE(HasKey(got, "/registry/pods/default/pod-1"));
  EXPECT_TRUE(HasKey(got, "/registry/pods/default/pod-2"));
  EXPECT_FALSE(HasKey(got, "/registry/pods/default/pod-3"));
  EXPECT_TRUE(HasKey(got, "/registry/events/default/e1"));
  EXPECT_TRUE(HasKey(got, "/other/key"));
  EXPECT_TRUE(HasKey(got, "top"));
  // Only the last write (pod-6) came after the deletion of e2.
  EXPECT_EQ(got.header().revision(), expected_->header().revision() - 1);
}

TEST_F(RecoverTest, RepairWithBackupDir) {
  const std::string log = PodsLog();
  const std::string short_name = kPodsDir + "/" + fs::path(log).filename().string();
  const std::vector<uint64_t> offsets = RecordOffsets(data_, short_name);
  ASSERT_GE(offsets.size(), 3u);
  {
    std::fstream f(log, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(offsets[2] + 2);  // the second pod's frame length: its frame checksum fails
    f.write("\x7f", 1);
  }
  EXPECT_EQ(Recover({"verify", data_}).exit_code, 3);
  const std::string backup_dir = work_.path() + "/backup";
  CommandResult r = Recover({"repair", data_, "--backup-dir", backup_dir});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(fs::exists(backup_dir + "/" + short_name)) << r.output;
  EXPECT_EQ(fs::file_size(log), offsets[2]);
  EXPECT_EQ(Recover({"verify", data_}).exit_code, 0);
}

// A crash right after a new segment was created leaves it empty: repair removes it.
TEST_F(RecoverTest, UnwrittenNewSegmentIsRemoved) {
  const std::string empty = data_ + "/wal/_other/00000000000000ff.log";
  std::ofstream(empty).close();
  CommandResult r = Recover({"verify", data_});
  EXPECT_EQ(r.exit_code, 3) << r.output;
  EXPECT_NE(r.output.find(empty), std::string::npos) << r.output;
  r = Recover({"repair", data_});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_FALSE(fs::exists(empty)) << r.output;
  EXPECT_EQ(Recover({"verify", data_}).exit_code, 0);
  auto server = ServerProcess::StartRametcd({"--data-dir", data_});
  ASSERT_TRUE(server.ok()) << server.status();
  ExpectSameKeys(*expected_, GetAll(**server));
}

TEST_F(RecoverTest, DamagedCheckpointIsReportedNotCut) {
  ASSERT_EQ(Recover({"compact", data_}).exit_code, 0);
  const std::string checkpoint = FilesIn(data_ + "/wal/" + kPodsDir, ".ckpt").back();
  fs::resize_file(checkpoint, fs::file_size(checkpoint) - 2);
  const uint64_t size = fs::file_size(checkpoint);
  CommandResult r = Recover({"verify", data_});
  EXPECT_EQ(r.exit_code, 3) << r.output;
  EXPECT_NE(r.output.find(checkpoint), std::string::npos) << r.output;
  r = Recover({"repair", data_});
  EXPECT_EQ(r.exit_code, 3) << r.output;
  EXPECT_NE(r.output.find("cannot repair"), std::string::npos) << r.output;
  EXPECT_EQ(fs::file_size(checkpoint), size);
}

TEST_F(RecoverTest, CompactKeepsKeysAndRevisions) {
  {
    // Refused while a server holds the data dir.
    auto server = ServerProcess::StartRametcd({"--data-dir", data_});
    ASSERT_TRUE(server.ok()) << server.status();
    CommandResult r = Recover({"compact", data_});
    EXPECT_EQ(r.exit_code, 4) << r.output;
    EXPECT_NE(r.output.find("is in use by another process; stop the server first"),
              std::string::npos)
        << r.output;
    r = Recover({"repair", data_});
    EXPECT_EQ(r.exit_code, 4) << r.output;
    ExpectSameKeys(*expected_, GetAll(**server));
    ASSERT_EQ((*server)->Terminate(), 0);
  }
  CommandResult r = Recover({"compact", data_});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("stream /registry/pods/: "), std::string::npos) << r.output;
  int streams = 0;
  for (const fs::directory_entry& e : fs::directory_iterator(data_ + "/wal")) {
    ++streams;
    EXPECT_EQ(FilesIn(e.path(), ".ckpt").size(), 1u) << e.path();
    EXPECT_TRUE(FilesIn(e.path(), ".log").empty()) << e.path();
    EXPECT_TRUE(FilesIn(e.path(), ".tmp").empty()) << e.path();
  }
  EXPECT_EQ(streams, 5);  // pods, events, leases, _other (/other/key, top) and _meta
  r = Recover({"verify", data_});
  EXPECT_EQ(r.exit_code, 0) << r.output;

  auto server = ServerProcess::StartRametcd({"--data-dir", data_});
  ASSERT_TRUE(server.ok()) << server.status();
  ExpectSameKeys(*expected_, GetAll(**server));
  CommandResult leases = Etcdctl(**server, {"lease", "list"});
  EXPECT_NE(leases.output.find("found 1 leases"), std::string::npos) << leases.output;
  // Writes continue after the checkpoint, and survive another restart and compaction.
  ASSERT_EQ(Etcdctl(**server, {"put", "/registry/pods/default/pod-7", "pod 7"}).exit_code, 0);
  etcdserverpb::RangeResponse after_put = GetAll(**server);
  EXPECT_EQ(after_put.header().revision(), expected_->header().revision() + 1);
  ASSERT_EQ((*server)->Terminate(), 0);
  r = Recover({"compact", data_, "--revision", absl::StrCat(after_put.header().revision())});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  server = ServerProcess::StartRametcd({"--data-dir", data_});
  ASSERT_TRUE(server.ok()) << server.status();
  ExpectSameKeys(after_put, GetAll(**server));
  // The compaction point moved: older revisions are gone.
  CommandResult old = Etcdctl(**server, {"get", "top", "--rev", "2"});
  EXPECT_NE(old.exit_code, 0) << old.output;
  EXPECT_NE(old.output.find("compacted"), std::string::npos) << old.output;
}

}  // namespace
}  // namespace rametcd::testing
