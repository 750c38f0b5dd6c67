#include "wal/file_scan.h"

#include <memory>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "base/mapped_file.h"
#include "base/status_macros.h"

namespace rametcd::wal {

uint64_t CountFrames(const std::string& path) {
  auto mapping = MappedFile::Open(path, MappedFile::Access::kSequential);
  if (!mapping.ok()) return 0;
  FileHeader header;
  auto header_size = ParseFileHeader((*mapping)->data(), &header);
  if (!header_size.ok()) return 0;
  FrameScanner scanner((*mapping)->data(), *header_size);
  uint64_t frames = 0;
  while (scanner.SkipFrame()) ++frames;
  return frames;
}

absl::StatusOr<FileScan> ScanFile(const std::string& path, bool skip_damaged, RecordVisitor visit) {
  ASSIGN_OR_RETURN(const std::unique_ptr<MappedFile> mapping,
                   MappedFile::Open(path, MappedFile::Access::kSequential));
  const std::string_view data = mapping->data();
  FileScan scan;
  scan.size = data.size();
  auto header_size = ParseFileHeader(data, &scan.header);
  if (!header_size.ok()) {
    return absl::DataLossError(absl::StrCat(path, ": ", header_size.status().message()));
  }
  scan.valid_end = *header_size;
  FrameScanner scanner(data, *header_size);
  Record record;
  while (true) {
    std::string_view payload;
    uint64_t offset = 0;
    if (scanner.Next(&payload, &offset)) {
      if (!record.ParseFromArray(payload.data(), static_cast<int>(payload.size())) ||
          record.body_case() == Record::BODY_NOT_SET) {
        const uint64_t next = offset + kFrameHeaderBytes + payload.size();
        scan.damage.push_back({offset, next, false, "record does not decode"});
        if (!skip_damaged) break;
        continue;
      }
      RETURN_IF_ERROR(visit(offset, record));
      ++scan.records;
      scan.valid_end = offset + kFrameHeaderBytes + payload.size();
      continue;
    }
    if (!scanner.damage()) break;
    scan.damage.push_back(*scanner.damage());
    if (!skip_damaged || scanner.damage()->torn) break;
    scanner.SkipDamage();
  }
  return scan;
}

std::string DescribeDamage(const std::string& path, const Damage& damage) {
  if (damage.torn) {
    return absl::StrCat(path, ": torn tail at offset ", damage.offset, " (", damage.reason, "; ",
                        damage.resume - damage.offset, " bytes after it)");
  }
  return absl::StrCat(path, ": corrupt data at offset ", damage.offset, " (", damage.reason, "; ",
                      damage.resume - damage.offset, " bytes up to the next valid record)");
}

}  // namespace rametcd::wal
