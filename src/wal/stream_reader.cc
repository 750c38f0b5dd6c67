#include "wal/stream_reader.h"

#include <sys/stat.h>

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
    ASSIGN_OR_RETURN(FileScan scan,
                     ScanFile(path, /*skip_damaged=*/false, [&](uint64_t offset, Record& r) {
                       if (ended)
                         return Corrupt(absl::StrCat(path, ": record after the checkpoint's end"));
                       if (r.has_checkpoint_end()) {
                         ended = true;
                         read.checkpoint_covered = r.checkpoint_end().covered_revision();
                         read.checkpoint_compacted = r.checkpoint_end().compacted_revision();
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
          if (r.has_txn()) {
            if (r.txn().revision() <= last_revision) {
              return Corrupt(absl::StrCat(path, ": revision ", r.txn().revision(), " at offset ",
                                          offset, " does not follow revision ", last_revision));
            }
            last_revision = r.txn().revision();
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
