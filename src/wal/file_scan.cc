#include "wal/file_scan.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string_view>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace rametcd::wal {

namespace {

// A whole file mapped read-only for one sequential pass; unmapped when destroyed.
class FileMapping {
 public:
  static absl::StatusOr<FileMapping> Open(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return absl::InternalError(absl::StrCat("open ", path, ": ", std::strerror(errno)));
    absl::Cleanup close_fd = [fd] { ::close(fd); };
    struct stat st;
    if (::fstat(fd, &st) != 0) {
      return absl::InternalError(absl::StrCat("stat ", path, ": ", std::strerror(errno)));
    }
    const size_t size = static_cast<size_t>(st.st_size);
    if (size == 0) return FileMapping(nullptr, 0);
    void* map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) {
      return absl::InternalError(absl::StrCat("mmap ", path, ": ", std::strerror(errno)));
    }
    ::madvise(map, size, MADV_SEQUENTIAL);
    return FileMapping(map, size);
  }
  FileMapping(FileMapping&& other) noexcept
      : map_(std::exchange(other.map_, nullptr)), size_(other.size_) {}
  FileMapping& operator=(FileMapping&&) = delete;
  ~FileMapping() {
    if (map_ != nullptr) ::munmap(map_, size_);
  }

  std::string_view data() const { return {static_cast<const char*>(map_), size_}; }

 private:
  FileMapping(void* map, size_t size) : map_(map), size_(size) {}

  void* map_;
  size_t size_;
};

}  // namespace

uint64_t CountFrames(const std::string& path) {
  auto mapping = FileMapping::Open(path);
  if (!mapping.ok()) return 0;
  FileHeader header;
  auto header_size = ParseFileHeader(mapping->data(), &header);
  if (!header_size.ok()) return 0;
  FrameScanner scanner(mapping->data(), *header_size);
  uint64_t frames = 0;
  while (scanner.SkipFrame()) ++frames;
  return frames;
}

absl::StatusOr<FileScan> ScanFile(const std::string& path, bool skip_damaged, RecordVisitor visit) {
  ASSIGN_OR_RETURN(const FileMapping mapping, FileMapping::Open(path));
  const std::string_view data = mapping.data();
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
