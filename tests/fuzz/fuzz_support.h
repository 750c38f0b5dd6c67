// Helpers shared by the libFuzzer targets in tests/fuzz/: checks that abort (libFuzzer then saves
// the input as a crash reproducer), a variant of an input with valid meta checksums, so that
// mutations of the meta fields reach the code behind the checksum check, and a reader that splits
// an input into numbers and tagged chunks (the targets that take several requests or files).
#ifndef RAMETCD_TESTS_FUZZ_FUZZ_SUPPORT_H_
#define RAMETCD_TESTS_FUZZ_FUZZ_SUPPORT_H_

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "bbolt/format.h"

namespace rametcd::fuzz {

// Aborts with `what` (and `status`) unless `ok`.
inline void Require(bool ok, std::string_view what, const absl::Status& status = {}) {
  if (ok) return;
  std::fprintf(stderr, "FUZZ CHECK FAILED: %.*s: %s\n", static_cast<int>(what.size()), what.data(),
               status.ToString().c_str());
  std::abort();
}

// Damage in the input must be reported as DataLoss, never as another code.
inline void RequireOkOrDataLoss(const absl::Status& status, std::string_view what) {
  Require(status.ok() || status.code() == absl::StatusCode::kDataLoss, what, status);
}

// Reads every byte of `bytes`, so that ASan sees a view that reaches past its buffer.
inline volatile unsigned touch_sink = 0;
inline void Touch(std::string_view bytes) {
  unsigned sum = 0;
  for (unsigned char c : bytes) sum += c;
  touch_sink = sum;
}

// Rewrites the checksums of meta pages 0 and 1 (at meta 0's page size when it is plausible,
// otherwise 4096) that carry bbolt's magic. Returns whether any byte changed.
inline bool FixMetaChecksums(std::string* bytes) {
  uint32_t page_size = bbolt::kDefaultPageSize;
  if (bytes->size() >= bbolt::kPageHeaderSize + bbolt::kMetaSize) {
    const uint32_t ps = bbolt::DecodeMeta(bytes->data() + bbolt::kPageHeaderSize).page_size;
    if (ps >= bbolt::kMinPageSize && ps <= bbolt::kMaxPageSize && (ps & (ps - 1)) == 0)
      page_size = ps;
  }
  bool changed = false;
  for (uint64_t offset : {uint64_t{0}, uint64_t{page_size}}) {
    if (bytes->size() < offset + bbolt::kPageHeaderSize + bbolt::kMetaSize) break;
    char* meta = bytes->data() + offset + bbolt::kPageHeaderSize;
    const bbolt::Meta m = bbolt::DecodeMeta(meta);
    if (m.magic != bbolt::kMagic || m.checksum == bbolt::MetaChecksum(meta)) continue;
    bbolt::EncodeMeta(m, meta);
    changed = true;
  }
  return changed;
}

// Reads an input front to back. Reads past the end give zeros and empty views, so every input,
// however short, is a valid program for the target.
//
// A chunk is tag:u8, length:u16 (little-endian), then that many bytes (fewer if the input ends):
// the unit the multi-part targets split an input into (one request, one file). The seed writers
// build inputs with AppendChunk().
class InputReader {
 public:
  explicit InputReader(std::string_view data) : data_(data) {}

  bool empty() const { return data_.empty(); }
  uint8_t U8() {
    if (data_.empty()) return 0;
    const uint8_t b = static_cast<uint8_t>(data_.front());
    data_.remove_prefix(1);
    return b;
  }
  uint16_t U16() {
    const uint16_t low = U8();
    return static_cast<uint16_t>(low | (U8() << 8));
  }
  uint32_t U32() {
    const uint32_t low = U16();
    return low | (static_cast<uint32_t>(U16()) << 16);
  }
  // Up to `n` bytes.
  std::string_view Bytes(size_t n) {
    const std::string_view out = data_.substr(0, std::min(n, data_.size()));
    data_.remove_prefix(out.size());
    return out;
  }
  std::string_view Chunk(uint8_t* tag) {
    *tag = U8();
    return Bytes(U16());
  }

 private:
  std::string_view data_;
};

// REQUIRES: bytes.size() <= 65535.
inline void AppendChunk(uint8_t tag, std::string_view bytes, std::string* out) {
  Require(bytes.size() <= 0xffff, "AppendChunk: a chunk holds at most 65535 bytes");
  out->push_back(static_cast<char>(tag));
  out->push_back(static_cast<char>(bytes.size() & 0xff));
  out->push_back(static_cast<char>(bytes.size() >> 8));
  out->append(bytes);
}

}  // namespace rametcd::fuzz

#endif  // RAMETCD_TESTS_FUZZ_FUZZ_SUPPORT_H_
