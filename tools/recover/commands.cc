// The subcommands of `rametcd-recover`: verify, dump, repair, compact, export-etcd-snapshot and
// import-etcd (see commands.h).
//
// All of them read the data dir through the WAL library (layout.h, file_scan.h, checkpoint.h,
// recovery.h), so they see the files exactly as the server's recovery does. verify and repair
// share one analysis (AnalyzeStream) of what is wrong with each file; repair cuts each damaged
// log segment at its first problem after copying it to a backup directory. The migration
// commands convert through snapshot/ (etcd's backend file) and migrate/ (the WAL written from it).
#include "tools/recover/commands.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <map>
#include <set>
#include <string_view>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "base/absl_view.h"
#include "base/status_macros.h"
#include "google/protobuf/util/json_util.h"
#include "lease/lessor.h"
#include "migrate/data_dir_from_backend.h"
#include "mvcc/resource_prefix.h"
#include "mvcc/store.h"
#include "rametcd/wal/record.pb.h"
#include "snapshot/backend_from_store.h"
#include "snapshot/etcd_backend.h"
#include "snapshot/snapshot_file.h"
#include "wal/batches.h"
#include "wal/checkpoint.h"
#include "wal/data_dir.h"
#include "wal/file_scan.h"
#include "wal/file_util.h"
#include "wal/frame.h"
#include "wal/layout.h"
#include "wal/recovery.h"
#include "wal/stream_reader.h"

namespace rametcd::recover {
namespace {

namespace fs = std::filesystem;
using wal::Damage;
using wal::FileKind;
using wal::FileScan;
using wal::Record;
using wal::StreamFiles;

void PrintError(std::ostream& err, absl::string_view message) {
  err << "rametcd-recover: " << message << "\n";
}

// Fails unless `data_dir` is a readable directory.
absl::Status CheckDataDir(const std::string& data_dir) {
  struct stat st;
  if (::stat(data_dir.c_str(), &st) != 0) {
    return absl::NotFoundError(
        absl::StrCat("cannot read data dir ", data_dir, ": ", std::strerror(errno)));
  }
  if (!S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat(data_dir, " is not a directory"));
  }
  if (::access(data_dir.c_str(), R_OK | X_OK) != 0) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot read data dir ", data_dir, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

// Lists the streams of `data_dir`, with an exit code for the failure.
absl::StatusOr<std::vector<StreamFiles>> ListDataDir(const std::string& data_dir, int* exit_code) {
  *exit_code = kExitUnreadable;
  RETURN_IF_ERROR(CheckDataDir(data_dir));
  auto streams = wal::ListStreams(wal::WalDir(data_dir));
  if (!streams.ok() && absl::IsFailedPrecondition(streams.status())) {
    *exit_code = kExitCorrupt;  // a file that is not rametcd's: the server would refuse it too
  }
  return streams;
}

// For the commands that change files: checks and lists `data_dir` and takes the server's lock
// on it (held until `*dir` is destroyed); with `create`, a missing `data_dir` is created. On
// failure prints why and returns the exit code.
std::optional<int> HoldDataDir(const std::string& data_dir, std::ostream& err,
                               std::unique_ptr<wal::DataDir>* dir,
                               std::vector<StreamFiles>* streams, bool create = false) {
  if (absl::Status s = CheckDataDir(data_dir); !s.ok() && !(create && absl::IsNotFound(s))) {
    PrintError(err, s.message());
    return kExitUnreadable;
  }
  auto locked = wal::DataDir::Open(data_dir);
  if (!locked.ok()) {
    PrintError(err, absl::StrCat(locked.status().message(), "; stop the server first"));
    return kExitUnreadable;
  }
  *dir = *std::move(locked);
  int fail_code = kExitUnreadable;
  auto listed = ListDataDir(data_dir, &fail_code);
  if (!listed.ok()) {
    PrintError(err, listed.status().message());
    return fail_code;
  }
  *streams = *std::move(listed);
  return std::nullopt;
}

// Makes `path`'s contents durable.
absl::Status SyncFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::InternalError(absl::StrCat("open ", path, ": ", std::strerror(errno)));
  const bool ok = ::fsync(fd) == 0;
  const int error = errno;
  ::close(fd);
  if (!ok) return absl::InternalError(absl::StrCat("fsync ", path, ": ", std::strerror(error)));
  return absl::OkStatus();
}

uint64_t FileSize(const std::string& path) {
  std::error_code ec;
  const uintmax_t size = fs::file_size(path, ec);
  return ec ? 0 : size;
}

// The path of a stream file relative to the wal dir: "<stream-dir>/<file>".
std::string ShortPath(const StreamFiles& files, uint64_t seq, bool checkpoint) {
  return absl::StrCat(fs::path(files.dir).filename().string(), "/",
                      wal::SegmentFileName(seq, checkpoint));
}

// ---------------------------------------------------------------------------------------------
// Analysis shared by verify and repair.

// One thing wrong with a file.
struct Problem {
  uint64_t offset = 0;
  bool torn = false;        // a torn tail at the end of the stream's newest log
  bool cuttable = true;     // truncating the file at `offset` (0: removing it) removes it
  std::string description;  // one line naming the file and offset
};

// magic, version, kind, seq and name length; then the name and the header's crc.
constexpr uint64_t kFixedHeaderBytes = 8 + 4 + 4 + 8 + 4;

struct FileReport {
  std::string path;
  bool checkpoint = false;
  uint64_t seq = 0;
  uint64_t size = 0;
  uint64_t records = 0;
  std::vector<Problem> problems;  // in file order
};

struct StreamReport {
  std::vector<FileReport> files;  // the checkpoint first, then the logs
  uint64_t records = 0;
  uint64_t bytes = 0;
};

std::string HeaderProblem(const FileScan& scan, const StreamFiles& files, uint64_t seq,
                          bool checkpoint) {
  const FileKind kind = checkpoint ? FileKind::kCheckpoint : FileKind::kLog;
  if (scan.header.kind != kind) {
    return absl::StrCat("header says it is a ",
                        scan.header.kind == FileKind::kLog ? "log" : "checkpoint", " file");
  }
  if (scan.header.stream != files.stream) {
    return absl::StrCat("header names stream \"", absl::CHexEscape(scan.header.stream),
                        "\", not \"", absl::CHexEscape(files.stream), "\"");
  }
  if (scan.header.seq != seq) {
    return absl::StrCat("header has sequence number ", scan.header.seq, ", not ", seq);
  }
  return "";
}

// Scans every live file of a stream, skipping damage to find all of it.
absl::StatusOr<StreamReport> AnalyzeStream(const StreamFiles& files) {
  StreamReport report;
  int64_t last_revision = 0;
  if (files.checkpoint) {
    FileReport file{files.CheckpointPath(), true, *files.checkpoint};
    file.size = FileSize(file.path);
    std::optional<wal::CheckpointEnd> end;
    auto scan = wal::ScanFile(file.path, /*skip_damaged=*/true, [&](uint64_t offset, Record& r) {
      if (end) {
        file.problems.push_back({offset, false, false,
                                 absl::StrCat(file.path, ": record at offset ", offset,
                                              " after the checkpoint's end record")});
      } else if (r.has_checkpoint_end()) {
        end = r.checkpoint_end();
      }
      return absl::OkStatus();
    });
    if (!scan.ok()) {
      if (!absl::IsDataLoss(scan.status())) return scan.status();
      file.problems.push_back({0, false, false, std::string(scan.status().message())});
    } else {
      file.records = scan->records;
      if (std::string p = HeaderProblem(*scan, files, file.seq, true); !p.empty()) {
        file.problems.push_back({0, false, false, absl::StrCat(file.path, ": ", p)});
      }
      for (const Damage& d : scan->damage) {
        file.problems.push_back(
            {d.offset, false, false,
             absl::StrCat(wal::DescribeDamage(file.path, d),
                          d.torn ? " in a checkpoint, which must be whole" : "")});
      }
      if (!end) {
        file.problems.push_back({scan->valid_end, false, false,
                                 absl::StrCat(file.path, ": checkpoint has no end record")});
      } else {
        last_revision = end->covered_revision();
        if (scan->damage.empty() && end->records() + 1 != static_cast<int64_t>(scan->records)) {
          file.problems.push_back(
              {0, false, false,
               absl::StrCat(file.path, ": checkpoint end record counts ", end->records(),
                            " records, the file holds ", scan->records - 1)});
        }
      }
    }
    report.records += file.records;
    report.bytes += file.size;
    report.files.push_back(std::move(file));
  }
  for (size_t i = 0; i < files.logs.size(); ++i) {
    const bool newest = i + 1 == files.logs.size();
    FileReport file{files.LogPath(files.logs[i]), false, files.logs[i]};
    file.size = FileSize(file.path);
    std::vector<Problem> order_problems;
    auto scan = wal::ScanFile(file.path, /*skip_damaged=*/true, [&](uint64_t offset, Record& r) {
      if (!r.has_txn()) return absl::OkStatus();
      if (r.txn().revision() <= last_revision) {
        order_problems.push_back(
            {offset, false, true,
             absl::StrCat(file.path, ": revision ", r.txn().revision(), " at offset ", offset,
                          " does not follow revision ", last_revision)});
      } else {
        last_revision = r.txn().revision();
      }
      return absl::OkStatus();
    });
    if (!scan.ok()) {
      if (!absl::IsDataLoss(scan.status())) return scan.status();
      // The newest segment, shorter than its own header: a crash between creating the file and
      // writing to it. It holds no records, so repair may remove it.
      const bool unwritten = newest && file.size < kFixedHeaderBytes + files.stream.size() + 4;
      file.problems.push_back(
          {0, false, unwritten,
           absl::StrCat(scan.status().message(),
                        unwritten ? " (an unwritten new segment: holds no records)" : "")});
    } else {
      file.records = scan->records;
      if (std::string p = HeaderProblem(*scan, files, file.seq, false); !p.empty()) {
        file.problems.push_back({0, false, false, absl::StrCat(file.path, ": ", p)});
      }
      for (const Damage& d : scan->damage) {
        file.problems.push_back(
            {d.offset, d.torn && newest, true, wal::DescribeDamage(file.path, d)});
      }
      for (Problem& p : order_problems) file.problems.push_back(std::move(p));
      std::stable_sort(file.problems.begin(), file.problems.end(),
                       [](const Problem& a, const Problem& b) { return a.offset < b.offset; });
    }
    report.records += file.records;
    report.bytes += file.size;
    report.files.push_back(std::move(file));
  }
  return report;
}

// Reads a stream whose bytes hold as the server does, which also checks every record's place and
// numbers, and appends its batch parts to `batches`. Errors: DataLoss naming what is wrong.
absl::Status ReadBatchParts(const StreamFiles& files, std::vector<wal::StreamBatches>* batches) {
  wal::StreamBatches parts(files.stream);
  auto read =
      wal::ReadStream(files, /*skip_damaged=*/false, [&](const wal::RecordPlace& place, Record& r) {
        parts.Add(place, r);
        return absl::OkStatus();
      });
  if (!read.ok()) return read.status();
  parts.SetRead(*read, files.checkpoint.has_value() || !files.logs.empty());
  batches->push_back(std::move(parts));
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------------------------
// dump

// `text` as the contents of a JSON string: valid UTF-8 passes, other bytes become \u00XX.
std::string JsonString(std::string_view text) {
  auto valid_utf8 = [](std::string_view s) {
    for (size_t i = 0; i < s.size();) {
      const unsigned char c = s[i];
      const int n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
      if (n == 0 || i + n > s.size()) return false;
      for (int k = 1; k < n; ++k) {
        if ((static_cast<unsigned char>(s[i + k]) >> 6) != 2) return false;
      }
      i += n;
    }
    return true;
  };
  const bool utf8 = valid_utf8(text);
  std::string out = "\"";
  for (char ch : text) {
    const unsigned char c = ch;
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(ch);
    } else if (c < 0x20 || c == 0x7f || (c >= 0x80 && !utf8)) {
      absl::StrAppendFormat(&out, "\\u%04x", c);
    } else {
      out.push_back(ch);
    }
  }
  out.push_back('"');
  return out;
}

// Whether `stream` can hold keys that start with `prefix`.
bool StreamMayHold(std::string_view stream, std::string_view prefix) {
  if (stream == wal::kMetaStream) return false;
  if (stream == wal::kOtherStream) return mvcc::ResourcePrefixOf(prefix).empty();
  return stream.starts_with(prefix) || prefix.starts_with(stream);
}

// Drops the changes of keys outside `prefix`; false if nothing of the record is left.
bool FilterRecord(std::string_view prefix, Record* r) {
  if (prefix.empty()) return true;
  google::protobuf::RepeatedPtrField<mvccpb::KeyValue>* kvs = nullptr;
  if (r->has_txn()) {
    kvs = r->mutable_txn()->mutable_changes();
  } else if (r->has_key_history()) {
    kvs = r->mutable_key_history()->mutable_versions();
  } else {
    return false;
  }
  kvs->erase(std::remove_if(kvs->begin(), kvs->end(),
                            [&](const mvccpb::KeyValue& kv) {
                              return !std::string_view(kv.key()).starts_with(prefix);
                            }),
             kvs->end());
  return !kvs->empty();
}

std::string DescribeKeyValue(const mvccpb::KeyValue& kv) {
  if (kv.version() == 0) {
    return absl::StrCat("delete key=\"", absl::CHexEscape(kv.key()),
                        "\" mod_revision=", kv.mod_revision());
  }
  return absl::StrCat(
      "put key=\"", absl::CHexEscape(kv.key()), "\" create_revision=", kv.create_revision(),
      " mod_revision=", kv.mod_revision(), " version=", kv.version(),
      " lease=", absl::Hex(kv.lease()), " value=\"", absl::CHexEscape(kv.value()), "\"");
}

void PrintRecordText(const std::string& where, const Record& r, std::ostream& out) {
  out << where << " ";
  switch (r.body_case()) {
    case Record::kTxn:
      out << "txn revision=" << r.txn().revision() << " changes=" << r.txn().changes_size() << "\n";
      for (const mvccpb::KeyValue& kv : r.txn().changes()) {
        out << "    " << DescribeKeyValue(kv) << "\n";
      }
      return;
    case Record::kKeyHistory:
      out << "key-history versions=" << r.key_history().versions_size() << "\n";
      for (const mvccpb::KeyValue& kv : r.key_history().versions()) {
        out << "    " << DescribeKeyValue(kv) << "\n";
      }
      return;
    case Record::kLeaseGrant:
      out << "lease-grant id=" << absl::StrCat(absl::Hex(r.lease_grant().id()))
          << " ttl=" << r.lease_grant().ttl() << "\n";
      return;
    case Record::kLeaseRevoke:
      out << "lease-revoke id=" << absl::StrCat(absl::Hex(r.lease_revoke().id())) << "\n";
      return;
    case Record::kCompaction:
      out << "compaction revision=" << r.compaction().revision() << "\n";
      return;
    case Record::kRevisionMark:
      out << "revision-mark revision=" << r.revision_mark().revision() << "\n";
      return;
    case Record::kCheckpointEnd:
      out << "checkpoint-end covered_revision=" << r.checkpoint_end().covered_revision()
          << " compacted_revision=" << r.checkpoint_end().compacted_revision()
          << " records=" << r.checkpoint_end().records() << " batch=" << r.checkpoint_end().batch()
          << "\n";
      return;
    case Record::kBatchEnd: {
      out << "batch-end batch=" << r.batch_end().batch();
      if (!r.batch_end().streams().empty()) {
        std::vector<std::string> streams;
        for (const std::string& s : r.batch_end().streams()) {
          streams.push_back(absl::StrCat("\"", absl::CHexEscape(s), "\""));
        }
        out << " streams=[" << absl::StrJoin(streams, ",") << "]";
      }
      out << "\n";
      return;
    }
    case Record::BODY_NOT_SET:
      out << "empty\n";
      return;
  }
}

absl::StatusOr<std::string> RecordJson(const std::string& stream, const std::string& file,
                                       uint64_t offset, const Record& r) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  std::string body;
  if (!google::protobuf::util::MessageToJsonString(r, &body, options).ok() || body.size() < 2 ||
      body.front() != '{') {
    return absl::InternalError(
        absl::StrCat(file, ": record at offset ", offset, " cannot be written as JSON"));
  }
  std::string line = absl::StrCat("{\"stream\":", JsonString(stream),
                                  ",\"file\":", JsonString(file), ",\"offset\":", offset);
  if (body != "{}")
    absl::StrAppend(&line, ",", absl::string_view(body).substr(1));
  else
    line.push_back('}');
  return line;
}

// ---------------------------------------------------------------------------------------------
// export-etcd-snapshot and import-etcd

// "none" for a store that was never compacted (-1), else the revision.
std::string CompactRevisionText(int64_t compacted) {
  return compacted < 0 ? "none" : absl::StrCat(compacted);
}

// The parent directory of `path`, for fsync after a rename.
std::string ParentDir(const std::string& path) {
  const fs::path parent = fs::path(path).parent_path();
  return parent.empty() ? "." : parent.string();
}

// The membership an exported snapshot records: etcd's default member (what `etcd` without flags
// runs as: name "default", peer URL http://localhost:2380, and the ID etcd derives from them and
// the default cluster token). `etcdctl snapshot restore` replaces it with its own flags' anyway.
snapshot::ClusterInfo DefaultCluster(int64_t revision) {
  snapshot::ClusterInfo cluster;
  cluster.members.push_back(
      {0x8e9e05c52164694dull, "default", {"http://localhost:2380"}, {"http://localhost:2379"}});
  cluster.consistent_index = static_cast<uint64_t>(revision);
  return cluster;
}

// Writes `backend` with its sha256 trailer as `file`, through `file`.tmp and a rename.
absl::Status WriteSnapshotFile(const snapshot::EtcdBackend& backend, const std::string& file) {
  const std::string tmp = file + ".tmp";
  absl::Status s = snapshot::WriteEtcdBackend(backend, tmp);
  if (s.ok()) s = snapshot::AppendSha256Trailer(tmp);
  if (s.ok() && std::rename(tmp.c_str(), file.c_str()) != 0) {
    s = absl::InternalError(absl::StrCat("rename ", tmp, " to ", file, ": ", std::strerror(errno)));
  }
  if (!s.ok()) {
    ::unlink(tmp.c_str());
    return s;
  }
  return wal::SyncDir(ParentDir(file));
}

// The exit code for a failure to read or convert an input: damage is 3, access problems 4.
int InputFailureCode(const absl::Status& s) {
  return absl::IsDataLoss(s) || absl::IsInvalidArgument(s) ? kExitCorrupt : kExitUnreadable;
}

// `s`'s message, prefixed with `path` unless it names it already.
std::string NamingFile(const std::string& path, const absl::Status& s) {
  const absl::string_view message = s.message();
  if (absl::StrContains(message, path)) return std::string(message);
  return absl::StrCat(path, ": ", message);
}

// Opens `path` with a shared flock, which fails while an etcd (bbolt holds an exclusive one)
// has the file open: its db is then changing under us. The lock is held until the fd is closed.
absl::StatusOr<int> OpenSharedLocked(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int error = errno;
    const std::string message = absl::StrCat("cannot open ", path, ": ", std::strerror(error));
    return error == ENOENT ? absl::NotFoundError(message) : absl::PermissionDeniedError(message);
  }
  if (::flock(fd, LOCK_SH | LOCK_NB) != 0) {
    const int error = errno;
    ::close(fd);
    if (error == EWOULDBLOCK) {
      return absl::UnavailableError(
          absl::StrCat(path,
                       " is locked by a running etcd: stop it first, or import a snapshot taken "
                       "with `etcdctl snapshot save`"));
    }
    return absl::PermissionDeniedError(
        absl::StrCat("cannot lock ", path, ": ", std::strerror(error)));
  }
  return fd;
}

// Reads an etcd snapshot or backend file, checking its sha256 trailer if it has one.
absl::StatusOr<snapshot::EtcdBackend> ReadEtcdFile(const std::string& path, bool* had_trailer) {
  ASSIGN_OR_RETURN(const int fd, OpenSharedLocked(path));
  absl::Cleanup close_fd = [fd] { ::close(fd); };
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat(path, " is not a regular file"));
  }
  ASSIGN_OR_RETURN(*had_trailer, snapshot::VerifySha256Trailer(path));
  return snapshot::ReadEtcdBackend(path);
}

}  // namespace

// ---------------------------------------------------------------------------------------------

int Verify(const std::string& data_dir, std::ostream& out, std::ostream& err) {
  int fail_code = kExitUnreadable;
  auto streams = ListDataDir(data_dir, &fail_code);
  if (!streams.ok()) {
    PrintError(err, streams.status().message());
    return fail_code;
  }
  size_t torn = 0, corrupt = 0, garbage = 0;
  uint64_t total_records = 0, total_bytes = 0;
  std::vector<wal::StreamBatches> batches;
  for (const StreamFiles& files : *streams) {
    auto report = AnalyzeStream(files);
    if (!report.ok()) {
      PrintError(err, report.status().message());
      return kExitUnreadable;
    }
    out << "stream " << absl::CHexEscape(files.stream) << " ("
        << fs::path(files.dir).filename().string() << "): " << report->files.size() << " files, "
        << report->records << " records, " << report->bytes << " bytes\n";
    const size_t corrupt_before = corrupt;
    for (const FileReport& file : report->files) {
      for (const Problem& p : file.problems) {
        out << "  " << (p.torn ? "torn: " : "CORRUPT: ") << p.description << "\n";
        ++(p.torn ? torn : corrupt);
      }
    }
    if (corrupt == corrupt_before) {
      if (absl::Status read = ReadBatchParts(files, &batches); !read.ok()) {
        out << "  CORRUPT: " << read.message() << "\n";
        ++corrupt;
      }
    }
    for (const std::string& g : files.garbage) {
      out << "  note: " << g << " is garbage (superseded or temporary); the server deletes it\n";
      ++garbage;
    }
    total_records += report->records;
    total_bytes += report->bytes;
  }
  size_t incomplete = 0;
  if (corrupt == 0) {
    for (const std::string& finding : wal::CutIncompleteBatches(batches).findings) {
      out << "incomplete batch: " << finding << "\n";
      ++incomplete;
    }
  }
  out << streams->size() << " streams, " << total_records << " records, " << total_bytes
      << " bytes: ";
  if (corrupt > 0) {
    out << corrupt << " corrupt regions, " << torn
        << " torn tails; run `rametcd-recover repair` (with the server stopped)\n";
    return kExitCorrupt;
  }
  if (torn > 0 || incomplete > 0) {
    out << torn << " torn tails at the end of the newest logs, " << incomplete
        << " findings of an incomplete last batch (a crash while it was written); the server "
           "cuts them off on start\n";
    return kExitTorn;
  }
  out << "clean\n";
  return kExitOk;
}

int Dump(const std::string& data_dir, const DumpOptions& options, std::ostream& out,
         std::ostream& err) {
  int fail_code = kExitUnreadable;
  auto streams = ListDataDir(data_dir, &fail_code);
  if (!streams.ok()) {
    PrintError(err, streams.status().message());
    return fail_code;
  }
  bool damaged = false;
  for (const StreamFiles& files : *streams) {
    if (!options.prefix.empty() && !StreamMayHold(files.stream, options.prefix)) continue;
    std::vector<std::pair<uint64_t, bool>> order;  // (seq, checkpoint)
    if (files.checkpoint) order.emplace_back(*files.checkpoint, true);
    for (uint64_t seq : files.logs) order.emplace_back(seq, false);
    if (!options.json) out << "# stream " << absl::CHexEscape(files.stream) << "\n";
    for (const auto& [seq, checkpoint] : order) {
      const std::string path = checkpoint ? files.CheckpointPath() : files.LogPath(seq);
      const std::string name = ShortPath(files, seq, checkpoint);
      absl::Status write_status;
      auto scan = wal::ScanFile(path, /*skip_damaged=*/true, [&](uint64_t offset, Record& r) {
        if (!FilterRecord(options.prefix, &r)) return absl::OkStatus();
        if (options.json) {
          ASSIGN_OR_RETURN(std::string line, RecordJson(files.stream, name, offset, r));
          out << line << "\n";
        } else {
          PrintRecordText(absl::StrCat(name, "@", offset), r, out);
        }
        return absl::OkStatus();
      });
      if (!scan.ok()) {
        PrintError(err, scan.status().message());
        if (!absl::IsDataLoss(scan.status())) return kExitUnreadable;
        damaged = true;
        continue;
      }
      for (const Damage& d : scan->damage) {
        PrintError(err, wal::DescribeDamage(path, d));
        damaged = true;
      }
    }
  }
  if (damaged) PrintError(err, "damage skipped; see `rametcd-recover verify`");
  return kExitOk;
}

// Copies `path` (a log of `files`) to `backup_dir`/<stream dir>/, synced, then truncates it at
// `cut` (removes it at 0). Returns the backup's path. Errors: nothing is changed if the backup
// fails.
absl::StatusOr<std::string> BackUpAndCut(const StreamFiles& files, const std::string& path,
                                         uint64_t cut, const std::string& backup_dir) {
  const std::string stream_dir = fs::path(files.dir).filename().string();
  const std::string backup =
      absl::StrCat(backup_dir, "/", stream_dir, "/", fs::path(path).filename().string());
  std::error_code ec;
  fs::create_directories(absl::StrCat(backup_dir, "/", stream_dir), ec);
  if (!ec) fs::copy_file(path, backup, fs::copy_options::overwrite_existing, ec);
  absl::Status synced = ec ? absl::OkStatus() : SyncFile(backup);
  if (synced.ok() && !ec) synced = wal::SyncDir(fs::path(backup).parent_path().string());
  if (ec || !synced.ok()) {
    return absl::InternalError(absl::StrCat("cannot back up ", path, " to ", backup, ": ",
                                            ec ? ec.message() : std::string(synced.message()),
                                            "; nothing changed"));
  }
  absl::Status s = cut == 0 ? wal::RemoveFile(path) : wal::TruncateFile(path, cut);
  if (s.ok() && cut == 0) s = wal::SyncDir(files.dir);  // TruncateFile syncs itself
  if (!s.ok()) return s;
  return backup;
}

int Repair(const std::string& data_dir, const std::string& backup_dir_flag, std::ostream& out,
           std::ostream& err) {
  std::unique_ptr<wal::DataDir> lock;
  std::vector<StreamFiles> streams;
  if (auto code = HoldDataDir(data_dir, err, &lock, &streams)) return *code;
  const std::string backup_dir =
      backup_dir_flag.empty()
          ? absl::StrCat(data_dir, "/wal-backup-", static_cast<int64_t>(std::time(nullptr)))
          : backup_dir_flag;
  size_t repaired = 0, unrepairable = 0;
  for (const StreamFiles& files : streams) {
    auto report = AnalyzeStream(files);
    if (!report.ok()) {
      PrintError(err, report.status().message());
      return kExitUnreadable;
    }
    for (const FileReport& file : report->files) {
      if (file.problems.empty()) continue;
      const bool cuttable = std::all_of(file.problems.begin(), file.problems.end(),
                                        [](const Problem& p) { return p.cuttable; });
      if (file.checkpoint || !cuttable) {
        for (const Problem& p : file.problems) out << "cannot repair: " << p.description << "\n";
        out << "  left " << file.path << " as it is"
            << (file.checkpoint ? " (a damaged checkpoint cannot be cut)" : "") << "\n";
        ++unrepairable;
        continue;
      }
      const uint64_t cut = file.problems.front().offset;
      auto backup = BackUpAndCut(files, file.path, cut, backup_dir);
      if (!backup.ok()) {
        PrintError(err, backup.status().message());
        return kExitUnreadable;
      }
      out << "repaired " << file.path << ": "
          << (cut == 0 ? "removed" : absl::StrCat("cut at offset ", cut)) << " (" << file.size - cut
          << " bytes removed; " << file.problems.size()
          << " problems, first: " << file.problems.front().description << "); backup in " << *backup
          << "\n";
      ++repaired;
    }
  }
  if (unrepairable == 0) {
    // The files hold now: cut an incomplete last batch off, as the server would on start.
    int fail_code = kExitUnreadable;
    auto listed = ListDataDir(data_dir, &fail_code);
    if (!listed.ok()) {
      PrintError(err, listed.status().message());
      return fail_code;
    }
    std::vector<wal::StreamBatches> batches;
    for (const StreamFiles& files : *listed) {
      if (absl::Status read = ReadBatchParts(files, &batches); !read.ok()) {
        out << "cannot repair: " << read.message() << "\n";
        return kExitCorrupt;
      }
    }
    const wal::BatchCuts cuts = wal::CutIncompleteBatches(batches);
    for (size_t i = 0; i < listed->size(); ++i) {
      if (!cuts.at[i]) continue;
      const StreamFiles& files = (*listed)[i];
      for (auto seq = files.logs.rbegin(); seq != files.logs.rend() && *seq >= cuts.at[i]->seq;
           ++seq) {
        const uint64_t cut = *seq == cuts.at[i]->seq ? cuts.at[i]->offset : 0;
        const std::string path = files.LogPath(*seq);
        auto backup = BackUpAndCut(files, path, cut, backup_dir);
        if (!backup.ok()) {
          PrintError(err, backup.status().message());
          return kExitUnreadable;
        }
        out << "repaired " << path << ": "
            << (cut == 0 ? "removed" : absl::StrCat("cut at offset ", cut))
            << " (an incomplete last batch: " << cuts.findings.front() << "); backup in " << *backup
            << "\n";
        ++repaired;
      }
    }
  }
  if (repaired == 0 && unrepairable == 0) out << "nothing to repair\n";
  if (unrepairable > 0) {
    out << unrepairable << " files could not be repaired\n";
    return kExitCorrupt;
  }
  return kExitOk;
}

int Compact(const std::string& data_dir, std::optional<int64_t> revision, std::ostream& out,
            std::ostream& err) {
  std::unique_ptr<wal::DataDir> lock;
  std::vector<StreamFiles> streams;
  if (auto code = HoldDataDir(data_dir, err, &lock, &streams)) return *code;
  auto fail = [&](const absl::Status& s) {
    PrintError(err, s.message());
    if (absl::IsDataLoss(s)) {
      PrintError(err, "nothing was changed; run `rametcd-recover repair` first");
      return kExitCorrupt;
    }
    return kExitUnreadable;
  };

  // First pass: the store's revision, and whether every WAL batch is whole. A crash while a
  // batch was written can leave some of its parts without the others; the server drops such a
  // batch on start, but a checkpoint would make its parts permanent.
  int64_t store_revision = 0;
  std::vector<wal::StreamBatches> batches;
  for (const StreamFiles& files : streams) {
    wal::StreamBatches& parts = batches.emplace_back(files.stream);
    auto read = wal::ReadStream(
        files, /*skip_damaged=*/false, [&](const wal::RecordPlace& place, Record& r) {
          parts.Add(place, r);
          if (r.has_txn()) {
            store_revision = std::max(store_revision, r.txn().revision());
          } else if (r.has_revision_mark()) {
            store_revision = std::max(store_revision, r.revision_mark().revision());
          }
          return absl::OkStatus();
        });
    if (!read.ok()) return fail(read.status());
    parts.SetRead(*read, files.checkpoint.has_value() || !files.logs.empty());
    store_revision = std::max(store_revision, read->checkpoint_covered);
  }
  if (const wal::BatchCuts cuts = wal::CutIncompleteBatches(batches); !cuts.findings.empty()) {
    PrintError(err, absl::StrCat(cuts.findings.front(),
                                 " (a crash while it was written); start and stop the server "
                                 "once so that it drops the incomplete batch, then compact; "
                                 "nothing was changed"));
    return kExitCorrupt;
  }
  if (revision && *revision > store_revision) {
    PrintError(err, absl::StrCat("--revision ", *revision, " is above the store's revision ",
                                 store_revision));
    return kExitUsage;
  }

  // The meta stream first: it holds the compaction point.
  std::stable_partition(streams.begin(), streams.end(),
                        [](const StreamFiles& f) { return f.stream == wal::kMetaStream; });
  if ((streams.empty() || streams.front().stream != wal::kMetaStream) && revision) {
    // No meta stream yet: one is needed to record the compaction.
    StreamFiles meta;
    meta.stream = std::string(wal::kMetaStream);
    meta.dir = absl::StrCat(wal::WalDir(data_dir), "/", wal::StreamDirName(meta.stream));
    if (absl::Status s = wal::MakeDirs(meta.dir); !s.ok()) return fail(s);
    streams.insert(streams.begin(), std::move(meta));
  }
  int64_t compacted = revision.value_or(-1);
  uint64_t total_before = 0, total_after = 0;
  for (const StreamFiles& files : streams) {
    uint64_t before = 0;
    std::vector<std::string> paths = files.garbage;
    if (files.checkpoint) paths.push_back(files.CheckpointPath());
    for (uint64_t log : files.logs) paths.push_back(files.LogPath(log));
    for (const std::string& path : paths) before += FileSize(path);
    const size_t file_count = paths.size();
    const bool meta = files.stream == wal::kMetaStream;
    const uint64_t seq = files.logs.empty() ? files.checkpoint.value_or(0) : files.logs.back();
    auto state = wal::ReplayStream(files, seq, /*skip_damaged=*/false);
    if (!state.ok()) return fail(state.status());
    if (meta) {
      state->revision = std::max(state->revision, store_revision);
      compacted = std::max(compacted, state->compacted);
    }
    CompactState(compacted, &*state);
    auto after = wal::WriteCheckpoint(files, seq, *state);
    if (!after.ok()) return fail(after.status());
    for (const std::string& g : files.garbage) {
      if (absl::Status s = wal::RemoveFile(g); !s.ok()) return fail(s);
    }
    out << "stream " << absl::CHexEscape(files.stream) << ": " << before << " bytes in "
        << file_count << " files -> " << *after << " bytes in " << wal::SegmentFileName(seq, true)
        << " (" << state->keys.size() << " keys";
    if (meta) out << ", " << state->leases.size() << " leases";
    out << ")\n";
    total_before += before;
    total_after += *after;
  }
  out << "compacted at revision " << compacted << " (store revision " << store_revision
      << "): " << total_before << " bytes -> " << total_after << " bytes\n";
  return kExitOk;
}

int ExportEtcdSnapshot(const std::string& data_dir, const std::string& file, bool force,
                       std::ostream& out, std::ostream& err) {
  const absl::Time start = absl::Now();
  std::error_code ec;
  if (!force && fs::exists(file, ec)) {
    PrintError(err, absl::StrCat(file, " exists; pass --force to replace it"));
    return kExitUsage;
  }
  std::unique_ptr<wal::DataDir> lock;
  std::vector<StreamFiles> streams;
  if (auto code = HoldDataDir(data_dir, err, &lock, &streams)) return *code;
  if (streams.empty()) {
    PrintError(err, absl::StrCat(data_dir, " holds no rametcd data (no streams under ",
                                 wal::WalDir(data_dir), "); nothing was exported"));
    return kExitUnreadable;
  }
  mvcc::Store store;
  lease::Lessor lessor(lease::Lessor::Options{}, &store);
  auto recovered =
      wal::Recover({wal::WalDir(data_dir), /*skip_damaged=*/false}, &store, &lessor, absl::Now());
  if (!recovered.ok()) {
    PrintError(err, absl::StrCat(recovered.status().message(),
                                 "; nothing was exported (see `rametcd-recover verify`)"));
    return absl::IsDataLoss(recovered.status()) ? kExitCorrupt : kExitUnreadable;
  }
  const snapshot::EtcdBackend backend =
      snapshot::BackendFromStore(store, lessor, absl::Now(), DefaultCluster(store.revision()));
  if (absl::Status s = WriteSnapshotFile(backend, file); !s.ok()) {
    PrintError(err, absl::StrCat(s.message(), "; nothing was exported"));
    return kExitUnreadable;
  }
  out << "exported " << data_dir << " to " << file << ": " << recovered->keys << " keys ("
      << backend.keys.size() << " versions), revision " << store.revision() << ", compact revision "
      << CompactRevisionText(store.compacted_revision()) << ", " << backend.leases.size()
      << " leases, " << FileSize(file) << " bytes, in " << absl::FormatDuration(absl::Now() - start)
      << "\n";
  return kExitOk;
}

int ImportEtcd(const std::string& data_dir, const std::string& from, std::ostream& out,
               std::ostream& err) {
  const absl::Time start = absl::Now();
  std::unique_ptr<wal::DataDir> lock;
  std::vector<StreamFiles> streams;
  if (auto code = HoldDataDir(data_dir, err, &lock, &streams, /*create=*/true)) return *code;
  if (!streams.empty()) {
    PrintError(err,
               absl::StrCat(data_dir, " already holds data (", streams.size(), " streams under ",
                            wal::WalDir(data_dir), "); import-etcd only fills an empty data dir"));
    return kExitUsage;
  }
  bool had_trailer = false;
  auto backend = ReadEtcdFile(from, &had_trailer);
  if (!backend.ok()) {
    PrintError(err, absl::StrCat(NamingFile(from, backend.status()), "; nothing was imported"));
    return InputFailureCode(backend.status());
  }
  auto written = migrate::WriteWalFromBackend(*backend, wal::WalDir(data_dir));
  if (!written.ok()) {
    // InvalidArgument: records etcd never writes; otherwise the data dir's own I/O failed.
    PrintError(err, absl::StrCat(absl::IsInvalidArgument(written.status())
                                     ? NamingFile(from, written.status())
                                     : std::string(written.status().message()),
                                 "; nothing was imported"));
    return InputFailureCode(written.status());
  }
  out << "imported " << from
      << (had_trailer ? " (etcd snapshot, sha256 verified)" : " (etcd backend, no sha256 trailer)")
      << " into " << data_dir << ": " << written->keys << " keys (" << written->versions
      << " versions), revision " << written->revision << ", compact revision "
      << CompactRevisionText(written->compacted) << ", " << written->leases << " leases, "
      << written->streams << " streams, " << written->bytes << " bytes, in "
      << absl::FormatDuration(absl::Now() - start) << "\n";
  return kExitOk;
}

}  // namespace rametcd::recover
