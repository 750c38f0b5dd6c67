// The input formats of the multi-part fuzz targets, shared with store_seed_writer.cc, which
// writes their seeds. Both are a first byte, then chunks (fuzz_support.h: tag, u16 length,
// bytes).
//
// request_fuzz: a config byte (request_fuzz.cc decodes it), then one chunk per request; the tag
// (bit 7 cleared, modulo kRequestOpCount) is a RequestOp, the bytes that request's protobuf.
// Tag bit 7 (kSameBatch) keeps the next request in the same apply-loop batch.
//
// wal_recovery_fuzz: a flags byte (kImage*), then one chunk per file of a data dir's wal/
// directory. A chunk's tag names the file:
//   bits 0-1  the stream: kImageStreams[bits]
//   bits 2-4  the segment sequence number, 0..7
//   bit  5    a checkpoint (<seq>.ckpt) instead of a log segment (<seq>.log)
//   bit  6    a temporary file (its name + ".tmp"), which recovery deletes unread
// Chunks naming the same file are concatenated.
#ifndef RAMETCD_TESTS_FUZZ_FUZZ_INPUTS_H_
#define RAMETCD_TESTS_FUZZ_FUZZ_INPUTS_H_

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "wal/layout.h"

namespace rametcd::fuzz {

enum RequestOp : uint8_t {
  kRange,  // etcdserverpb::RangeRequest
  kPut,    // PutRequest
  kDeleteRange,
  kTxn,
  kCompaction,
  kLeaseGrant,
  kLeaseRevoke,
  kLeaseKeepAlive,
  kTick,  // not a protobuf: u16 seconds the clock advances by; then due leases expire
  kRequestOpCount
};
inline constexpr uint8_t kSameBatch = 0x80;

inline constexpr std::array<std::string_view, 4> kImageStreams = {
    "_meta", "_other", "/registry/pods/", "/registry/coordination.k8s.io/leases/"};

// The flags byte of a WAL image.
inline constexpr uint8_t kImageSkipDamaged = 1;  // recover with --wal-skip-damaged
// Before recovery, give each file's header and every frame its length names valid checksums
// (the bytes after the last whole frame stay as they are), so that mutated records get past the
// checksums to the decoder and to recovery.
inline constexpr uint8_t kImageFixChecksums = 2;

struct ImageFile {
  std::string_view stream;
  uint64_t seq = 0;
  bool checkpoint = false;
  bool tmp = false;

  // The file's path under the wal/ directory.
  std::string RelativePath() const {
    return absl::StrCat(wal::StreamDirName(stream), "/", wal::SegmentFileName(seq, checkpoint),
                        tmp ? ".tmp" : "");
  }
};

inline ImageFile ImageFileOfTag(uint8_t tag) {
  return {kImageStreams[tag & 3], static_cast<uint64_t>((tag >> 2) & 7), (tag & 0x20) != 0,
          (tag & 0x40) != 0};
}

// The tag of a file, if the format can name it.
inline std::optional<uint8_t> ImageTag(const ImageFile& f) {
  for (size_t i = 0; i < kImageStreams.size(); ++i) {
    if (kImageStreams[i] != f.stream || f.seq > 7) continue;
    return static_cast<uint8_t>(i | f.seq << 2 | (f.checkpoint ? 0x20 : 0) | (f.tmp ? 0x40 : 0));
  }
  return std::nullopt;
}

}  // namespace rametcd::fuzz

#endif  // RAMETCD_TESTS_FUZZ_FUZZ_INPUTS_H_
