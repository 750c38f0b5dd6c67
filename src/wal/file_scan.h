// Reading stream files: maps a file into memory, checks its header and walks its records.
//
// ScanFile() decodes every valid record and hands it to a visitor, and reports the damage it met
// (see frame.h for torn tails versus corruption). A frame whose checksum holds but whose payload
// does not decode as a Record counts as corruption too.
//
// Thread safety: none needed; each call works on its own mapping.
#ifndef RAMETCD_WAL_FILE_SCAN_H_
#define RAMETCD_WAL_FILE_SCAN_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "rametcd/wal/record.pb.h"
#include "wal/frame.h"

namespace rametcd::wal {

struct FileScan {
  FileHeader header;
  uint64_t size = 0;           // bytes in the file
  uint64_t valid_end = 0;      // end of the last valid record (or of the header)
  uint64_t records = 0;        // valid records visited
  std::vector<Damage> damage;  // in file order
};

using RecordVisitor = absl::FunctionRef<absl::Status(uint64_t offset, Record& record)>;

// Scans `path`. Without `skip_damaged` the scan stops at the first damage; with it, the scan
// continues after each corrupt region (a torn tail always ends it). Errors: the file cannot be
// read, its header is damaged (DataLoss), or the visitor failed.
absl::StatusOr<FileScan> ScanFile(const std::string& path, bool skip_damaged, RecordVisitor visit);

// The number of frames in `path` up to the first bad frame header, without reading the payloads
// (FrameScanner::SkipFrame): for sizing what a scan will fill, never for trusting data. 0 when the
// file or its header is unreadable.
uint64_t CountFrames(const std::string& path);

// A one-line description of `damage` in `path`, for logs and tools.
std::string DescribeDamage(const std::string& path, const Damage& damage);

}  // namespace rametcd::wal

#endif  // RAMETCD_WAL_FILE_SCAN_H_
