#include "wal/file_scan.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string_view>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace rametcd::wal {

absl::StatusOr<FileScan> ScanFile(const std::string& path, bool skip_damaged, RecordVisitor visit) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::InternalError(absl::StrCat("open ", path, ": ", std::strerror(errno)));
  absl::Cleanup close_fd = [fd] { ::close(fd); };
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    return absl::InternalError(absl::StrCat("stat ", path, ": ", std::strerror(errno)));
  }
  FileScan scan;
  scan.size = static_cast<uint64_t>(st.st_size);
  std::string_view data;
  void* map = nullptr;
  if (scan.size > 0) {
    map = ::mmap(nullptr, scan.size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) {
      return absl::InternalError(absl::StrCat("mmap ", path, ": ", std::strerror(errno)));
    }
    ::madvise(map, scan.size, MADV_SEQUENTIAL);
    data = std::string_view(static_cast<const char*>(map), scan.size);
  }
  absl::Cleanup unmap = [map, &scan] {
    if (map != nullptr) ::munmap(map, scan.size);
  };

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
