#include "wal/stream_reader.h"

#include <sys/stat.h>

#include <algorithm>
#include <initializer_list>

#include "absl/strings/str_cat.h"
#include "base/absl_view.h"
#include "base/status_macros.h"
#include "wal/file_scan.h"

namespace rametcd::wal {
namespace {

constexpr std::string_view kRecoverHint =
    "; inspect with `rametcd-recover verify`, fix with `rametcd-recover repair`, or start with "
    "--wal-skip-damaged to load what is readable";

absl::Status Corrupt(const std::string& what) {
  return absl::DataLossError(absl::StrCat(what, AbslView(kRecoverHint)));
}

// Whether a record of `r`'s kind may appear in a checkpoint (or a log) of `stream`
// (docs/wal-format.md): keys only in data streams, leases, compactions and marks only in _meta.
bool Belongs(const Record& r, bool checkpoint, std::string_view stream) {
  const bool meta = stream == kMetaStream;
  switch (r.body_case()) {
    case Record::kTxn:
      return !checkpoint && !meta;
    case Record::kKeyHistory:
      return checkpoint && !meta;
    case Record::kLeaseGrant:
    case Record::kCompaction:
    case Record::kRevisionMark:
      return meta;
    case Record::kLeaseRevoke:
      return meta && !checkpoint;
    case Record::kCheckpointEnd:
      return checkpoint;
    case Record::kBatchEnd:
      return !checkpoint;
    case Record::BODY_NOT_SET:
      break;
  }
  return false;
}

// Revisions and versions count up by one per write from 1 (-1: no compaction yet); a record
// naming one outside [-1, 2^62] cannot come from a real history, and the store would overflow
// counting up from it.
bool Countable(std::initializer_list<int64_t> values) {
  constexpr int64_t kMax = int64_t{1} << 62;
  return std::all_of(values.begin(), values.end(), [](int64_t v) { return v >= -1 && v <= kMax; });
}

bool Countable(const google::protobuf::RepeatedPtrField<mvccpb::KeyValue>& kvs) {
  return std::all_of(kvs.begin(), kvs.end(), [](const mvccpb::KeyValue& kv) {
    return Countable({kv.create_revision(), kv.mod_revision(), kv.version()});
  });
}

// Whether every key the record names is a key of `stream` (StreamOfKey), and a KeyHistory's
// versions are of one key.
bool KeysBelong(const Record& r, std::string_view stream) {
  auto of_stream = [stream](const std::string& key) {
    return !key.empty() && StreamOfKey(key) == stream;
  };
  const auto& versions = r.key_history().versions();
  return std::all_of(r.txn().changes().begin(), r.txn().changes().end(),
                     [&](const mvccpb::KeyValue& kv) { return of_stream(kv.key()); }) &&
         std::all_of(versions.begin(), versions.end(), [&](const mvccpb::KeyValue& kv) {
           return of_stream(kv.key()) && kv.key() == versions[0].key();
         });
}

// Why a valid record cannot be used where it is ("" if it can): corruption all the same.
std::string Unfit(const std::string& path, uint64_t offset, const Record& r, bool checkpoint,
                  std::string_view stream) {
  std::string_view why;
  if (!Belongs(r, checkpoint, stream)) {
    why = "does not belong in this file";
  } else if (!Countable({r.txn().revision(), r.compaction().revision(),
                         r.revision_mark().revision(), r.checkpoint_end().covered_revision(),
                         r.checkpoint_end().compacted_revision()}) ||
             !Countable(r.txn().changes()) || !Countable(r.key_history().versions())) {
    why = "names a revision or version outside [-1, 2^62]";
  } else if (!KeysBelong(r, stream)) {
    why = "names a key that is empty or not of this stream";
  } else {
    return "";
  }
  const auto* body = Record::descriptor()->FindFieldByNumber(r.body_case());
  return absl::StrCat(path, ": the ", body != nullptr ? AbslView(body->name()) : "empty",
                      " record at offset ", offset, " ", AbslView(why));
}

// Whether `path` is shorter than the file header a segment of `stream` starts with.
bool HeaderIsIncomplete(const std::string& path, const std::string& stream) {
  std::string header;
  AppendFileHeader({FileKind::kLog, 0, stream}, &header);
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && static_cast<uint64_t>(st.st_size) < header.size();
}

}  // namespace

absl::StatusOr<StreamRead> ReadStream(const StreamFiles& files, bool skip_damaged,
                                      StreamVisitor visit) {
  StreamRead read;
  if (files.checkpoint) {
    const std::string path = files.CheckpointPath();
    RecordPlace place{true, *files.checkpoint, 0};
    bool ended = false;
    ASSIGN_OR_RETURN(
        FileScan scan, ScanFile(path, /*skip_damaged=*/false, [&](uint64_t offset, Record& r) {
          if (ended) return Corrupt(absl::StrCat(path, ": record after the checkpoint's end"));
          if (std::string why = Unfit(path, offset, r, true, files.stream); !why.empty()) {
            return Corrupt(why);
          }
          if (r.has_checkpoint_end()) {
            ended = true;
            read.checkpoint_covered = r.checkpoint_end().covered_revision();
            read.checkpoint_compacted = r.checkpoint_end().compacted_revision();
            read.checkpoint_batch = r.checkpoint_end().batch();
          }
          place.offset = offset;
          return visit(place, r);
        }));
    if (!scan.damage.empty()) return Corrupt(DescribeDamage(path, scan.damage.front()));
    if (!ended) return Corrupt(absl::StrCat(path, ": checkpoint has no end record"));
    read.checkpoint_bytes = scan.size;
    read.records += scan.records;
  }
  int64_t last_revision = read.checkpoint_covered;
  uint64_t last_batch = read.checkpoint_batch;
  for (size_t i = 0; i < files.logs.size(); ++i) {
    const std::string path = files.LogPath(files.logs[i]);
    const bool newest = i + 1 == files.logs.size();
    RecordPlace place{false, files.logs[i], 0};
    if (newest && HeaderIsIncomplete(path, files.stream)) {
      read.headerless_newest = true;
      break;
    }
    ASSIGN_OR_RETURN(
        FileScan scan, ScanFile(path, skip_damaged, [&](uint64_t offset, Record& r) {
          // Recovery would apply a record in the wrong stream wherever it lies, also after a
          // point where it cuts the stream (an incomplete transaction), and overflow on
          // revisions no history reaches: corruption too.
          if (std::string why = Unfit(path, offset, r, false, files.stream); !why.empty()) {
            if (!skip_damaged) return Corrupt(why);
            read.skipped.push_back(std::move(why));
            return absl::OkStatus();
          }
          if (r.has_txn()) {
            if (r.txn().revision() <= last_revision) {
              return Corrupt(absl::StrCat(path, ": revision ", r.txn().revision(), " at offset ",
                                          offset, " does not follow revision ", last_revision));
            }
            last_revision = r.txn().revision();
          }
          if (r.has_batch_end()) {
            if (r.batch_end().batch() <= last_batch) {
              return Corrupt(absl::StrCat(path, ": batch ", r.batch_end().batch(), " at offset ",
                                          offset, " does not follow batch ", last_batch));
            }
            last_batch = r.batch_end().batch();
          }
          place.offset = offset;
          return visit(place, r);
        }));
    if (scan.header.stream != files.stream || scan.header.kind != FileKind::kLog) {
      return Corrupt(absl::StrCat(path, ": header names stream \"", scan.header.stream,
                                  "\", not \"", files.stream, "\""));
    }
    for (const Damage& d : scan.damage) {
      if (d.torn && newest) {
        read.torn_tail = d;
      } else if (skip_damaged) {
        read.skipped.push_back(DescribeDamage(path, d));
      } else {
        return Corrupt(DescribeDamage(path, d));
      }
    }
    read.records += scan.records;
    read.log_bytes += scan.valid_end;
    if (newest) read.last_log_end = scan.valid_end;
  }
  return read;
}

}  // namespace rametcd::wal
