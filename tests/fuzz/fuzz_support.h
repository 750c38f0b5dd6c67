// Helpers shared by the libFuzzer targets in tests/fuzz/: checks that abort (libFuzzer then saves
// the input as a crash reproducer) and a variant of an input with valid meta checksums, so that
// mutations of the meta fields reach the code behind the checksum check.
#ifndef RAMETCD_TESTS_FUZZ_FUZZ_SUPPORT_H_
#define RAMETCD_TESTS_FUZZ_FUZZ_SUPPORT_H_

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

}  // namespace rametcd::fuzz

#endif  // RAMETCD_TESTS_FUZZ_FUZZ_SUPPORT_H_
