// The byte layout of rametcd's stream files: a checksummed file header, then framed records.
//
//   file          := file-header record*
//   file-header   := magic:"RAMETCDW" version:u32 kind:u32 seq:u64 name-length:u32 name
//                    header-crc:u32                       (crc of every header byte before it)
//   record        := payload-length:u32 payload-crc:u32 frame-crc:u32 payload
//                    (frame-crc = crc of the 8 bytes before it; 1 <= payload-length <= 1 GiB)
//   payload       := a serialized rametcd.wal.Record (proto/rametcd/wal/record.proto)
//
// Integers are little-endian; every crc is CRC32C. kind is 1 for a log segment, 2 for a
// checkpoint. The frame-crc lets a reader trust a length before it reads the payload.
//
// Damage: a reader stops at the first frame that is not valid (short header, bad frame-crc, length
// past the end of the file, bad payload-crc). If no valid frame follows anywhere after it, the
// damage is a torn tail (what a crash in the middle of an append leaves) and everything from its
// offset on can be cut off. If a valid frame follows, the bytes in between are corrupt data in the
// middle of the file, which must never be cut off silently.
//
// Thread safety: the functions are pure; a FrameScanner is used by one thread.
#ifndef RAMETCD_WAL_FRAME_H_
#define RAMETCD_WAL_FRAME_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace rametcd::wal {

enum class FileKind : uint32_t { kLog = 1, kCheckpoint = 2 };

struct FileHeader {
  FileKind kind = FileKind::kLog;
  uint64_t seq = 0;
  std::string stream;  // the stream's name (see stream_name.h)
};

// 2: every log part of a batch ends with a BatchEnd record (format 1 had none).
inline constexpr uint32_t kFormatVersion = 2;
inline constexpr size_t kFrameHeaderBytes = 12;
inline constexpr uint32_t kMaxPayloadBytes = 1u << 30;

void AppendFileHeader(const FileHeader& header, std::string* out);
// Parses the file header at the start of `data` and returns its length in bytes.
// Errors: DataLoss (bad magic, version, kind or crc; too short).
absl::StatusOr<size_t> ParseFileHeader(std::string_view data, FileHeader* header);

// Appends one framed record holding `payload` (1 byte .. kMaxPayloadBytes).
void AppendFrame(std::string_view payload, std::string* out);
// Appends the frame header for a payload already written at `out[payload_offset..]`; used by
// encoders that serialize straight into the output buffer. `out` must have kFrameHeaderBytes
// reserved right before `payload_offset`.
void FillFrameHeader(size_t payload_offset, std::string* out);

// Where and how a scan stopped before the end of the data.
struct Damage {
  uint64_t offset = 0;  // first byte that is not part of a valid record
  uint64_t resume = 0;  // next valid frame, or the data's size when none follows
  bool torn = false;    // no valid frame follows: a torn tail
  std::string reason;
};

// Reads the records of a file held in memory, from `start` (the end of the file header).
class FrameScanner {
 public:
  FrameScanner(std::string_view data, size_t start) : data_(data), pos_(start) {}

  // The next record's payload and offset; false at the end of the data or at damage.
  bool Next(std::string_view* payload, uint64_t* offset);
  // Why the last Next() returned false: nullopt when the data ended cleanly.
  const std::optional<Damage>& damage() const { return damage_; }
  // Continues after the damage, at the next valid frame.
  void SkipDamage();
  // Steps over the next frame on the strength of its header alone (header checksum, a length
  // within the data), without reading the payload: for counting frames. False at the end of the
  // data or at a bad header (which is not recorded as damage).
  bool SkipFrame();

 private:
  // The payload length of a valid frame at `pos`, or an explanation why there is none.
  bool ValidFrameAt(size_t pos, uint32_t* length, std::string* reason) const;
  // The checks of ValidFrameAt() that do not read the payload.
  bool ValidHeaderAt(size_t pos, uint32_t* length, std::string* reason) const;

  std::string_view data_;
  size_t pos_;
  std::optional<Damage> damage_;
};

}  // namespace rametcd::wal

#endif  // RAMETCD_WAL_FRAME_H_
