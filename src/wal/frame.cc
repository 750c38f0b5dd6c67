#include "wal/frame.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "base/crc32c.h"

namespace rametcd::wal {
namespace {

constexpr std::string_view kMagic = "RAMETCDW";

void PutU32(uint32_t v, std::string* out) {
  char b[4];
  for (int i = 0; i < 4; ++i) b[i] = static_cast<char>(v >> (8 * i));
  out->append(b, 4);
}

void PutU64(uint64_t v, std::string* out) {
  PutU32(static_cast<uint32_t>(v), out);
  PutU32(static_cast<uint32_t>(v >> 32), out);
}

uint32_t GetU32(std::string_view data, size_t pos) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(data[pos + i]);
  return v;
}

uint64_t GetU64(std::string_view data, size_t pos) {
  return GetU32(data, pos) | (static_cast<uint64_t>(GetU32(data, pos + 4)) << 32);
}

void SetU32(uint32_t v, char* at) {
  for (int i = 0; i < 4; ++i) at[i] = static_cast<char>(v >> (8 * i));
}

}  // namespace

void AppendFileHeader(const FileHeader& header, std::string* out) {
  const size_t start = out->size();
  out->append(kMagic);
  PutU32(kFormatVersion, out);
  PutU32(static_cast<uint32_t>(header.kind), out);
  PutU64(header.seq, out);
  PutU32(static_cast<uint32_t>(header.stream.size()), out);
  out->append(header.stream);
  PutU32(Crc32c(std::string_view(*out).substr(start)), out);
}

absl::StatusOr<size_t> ParseFileHeader(std::string_view data, FileHeader* header) {
  constexpr size_t kFixed = 8 + 4 + 4 + 8 + 4;
  if (data.size() < kFixed + 4) return absl::DataLossError("file header is truncated");
  if (data.substr(0, 8) != kMagic) return absl::DataLossError("not a rametcd stream file (magic)");
  const uint32_t name_length = GetU32(data, 24);
  if (name_length > 4096 || data.size() < kFixed + name_length + 4) {
    return absl::DataLossError("file header is truncated or has a bad name length");
  }
  const size_t crc_at = kFixed + name_length;
  if (Crc32c(data.substr(0, crc_at)) != GetU32(data, crc_at)) {
    return absl::DataLossError("file header checksum mismatch");
  }
  if (const uint32_t version = GetU32(data, 8); version != kFormatVersion) {
    return absl::DataLossError(absl::StrCat(
        "unsupported format version ", version, " (this rametcd reads version ", kFormatVersion,
        "; move a data dir of an older rametcd with its `rametcd-recover export-etcd-snapshot` "
        "and this one's `import-etcd`)"));
  }
  const uint32_t kind = GetU32(data, 12);
  if (kind != static_cast<uint32_t>(FileKind::kLog) &&
      kind != static_cast<uint32_t>(FileKind::kCheckpoint)) {
    return absl::DataLossError(absl::StrCat("unknown file kind ", kind));
  }
  header->kind = static_cast<FileKind>(kind);
  header->seq = GetU64(data, 16);
  header->stream.assign(data.substr(kFixed, name_length));
  return crc_at + 4;
}

void AppendFrame(std::string_view payload, std::string* out) {
  const size_t payload_offset = out->size() + kFrameHeaderBytes;
  out->resize(payload_offset);
  out->append(payload);
  FillFrameHeader(payload_offset, out);
}

void FillFrameHeader(size_t payload_offset, std::string* out) {
  char* header = out->data() + payload_offset - kFrameHeaderBytes;
  std::string_view payload = std::string_view(*out).substr(payload_offset);
  SetU32(static_cast<uint32_t>(payload.size()), header);
  SetU32(Crc32c(payload), header + 4);
  SetU32(Crc32c(std::string_view(header, 8)), header + 8);
}

bool FrameScanner::ValidFrameAt(size_t pos, uint32_t* length, std::string* reason) const {
  if (!ValidHeaderAt(pos, length, reason)) return false;
  if (Crc32c(data_.substr(pos + kFrameHeaderBytes, *length)) != GetU32(data_, pos + 4)) {
    *reason = "record checksum mismatch";
    return false;
  }
  return true;
}

bool FrameScanner::ValidHeaderAt(size_t pos, uint32_t* length, std::string* reason) const {
  if (data_.size() - pos < kFrameHeaderBytes) {
    *reason = "incomplete record header";
    return false;
  }
  if (Crc32c(data_.substr(pos, 8)) != GetU32(data_, pos + 8)) {
    *reason = "record header checksum mismatch";
    return false;
  }
  *length = GetU32(data_, pos);
  if (*length == 0 || *length > kMaxPayloadBytes) {
    *reason = absl::StrCat("invalid record length ", *length);
    return false;
  }
  if (*length > data_.size() - pos - kFrameHeaderBytes) {
    *reason = absl::StrCat("record of ", *length, " bytes runs past the end of the file");
    return false;
  }
  return true;
}

bool FrameScanner::Next(std::string_view* payload, uint64_t* offset) {
  if (damage_ || pos_ == data_.size()) return false;
  uint32_t length = 0;
  std::string reason;
  if (ValidFrameAt(pos_, &length, &reason)) {
    *payload = data_.substr(pos_ + kFrameHeaderBytes, length);
    *offset = pos_;
    pos_ += kFrameHeaderBytes + length;
    return true;
  }
  Damage damage{pos_, data_.size(), true, std::move(reason)};
  std::string ignored;
  for (size_t p = pos_ + 1; p + kFrameHeaderBytes <= data_.size(); ++p) {
    if (ValidFrameAt(p, &length, &ignored)) {
      damage.resume = p;
      damage.torn = false;
      break;
    }
  }
  damage_ = std::move(damage);
  return false;
}

bool FrameScanner::SkipFrame() {
  if (damage_ || pos_ == data_.size()) return false;
  uint32_t length = 0;
  std::string reason;
  if (!ValidHeaderAt(pos_, &length, &reason)) return false;
  pos_ += kFrameHeaderBytes + length;
  return true;
}

void FrameScanner::SkipDamage() {
  if (!damage_) return;
  pos_ = damage_->resume;
  damage_.reset();
}

}  // namespace rametcd::wal
