// libFuzzer target: arbitrary bytes as a bbolt file for bbolt::Reader (FromBytes, Check,
// BucketNames, HasBucket, ForEach over every top-level bucket; Check walks nested buckets, which
// the Reader's API does not iterate). Every call must return OK or DataLoss, never crash, hang
// or allocate without bound, and the Reader must agree with itself: a listed bucket is found,
// entries come in key order, and a file that passes Check reads in full. Each input is read a
// second time with its meta checksums made valid, so that mutated meta fields get past them.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "bbolt/reader.h"
#include "fuzz_support.h"

namespace rametcd::bbolt {
namespace {

using fuzz::Require;
using fuzz::RequireOkOrDataLoss;

void ReadAll(std::string bytes) {
  absl::StatusOr<std::unique_ptr<Reader>> opened = Reader::FromBytes(std::move(bytes), "fuzz.db");
  if (!opened.ok()) return RequireOkOrDataLoss(opened.status(), "FromBytes");
  const Reader& reader = **opened;
  const absl::Status check = reader.Check();
  RequireOkOrDataLoss(check, "Check");

  absl::StatusOr<std::vector<std::string>> names = reader.BucketNames();
  if (!names.ok()) {
    RequireOkOrDataLoss(names.status(), "BucketNames");
    Require(!check.ok(), "Check passed but BucketNames failed", names.status());
    return;
  }
  for (const std::string& name : *names) {
    // HasBucket (and ForEach) also decode the bucket's value, which BucketNames does not.
    absl::StatusOr<bool> found = reader.HasBucket(name);
    RequireOkOrDataLoss(found.status(), "HasBucket");
    Require(!found.ok() || *found, "a bucket BucketNames lists is not found");
    Require(found.ok() || !check.ok(), "Check passed but HasBucket failed", found.status());
    std::string prev;
    bool first = true;
    const absl::Status read = reader.ForEach(name, [&](const Reader::Entry& e) {
      Require(first || e.key > prev, "ForEach: keys out of order");
      first = false;
      prev.assign(e.key);
      fuzz::Touch(e.key);
      fuzz::Touch(e.value);
      return absl::OkStatus();
    });
    RequireOkOrDataLoss(read, "ForEach");
    Require(read.ok() || !check.ok(), "Check passed but ForEach failed", read);
  }
  // HasBucket agrees with BucketNames about a name that sorts after most (a whole walk).
  const std::string probe = "\xff\xff";
  const bool listed = std::find(names->begin(), names->end(), probe) != names->end();
  absl::StatusOr<bool> found = reader.HasBucket(probe);
  RequireOkOrDataLoss(found.status(), "HasBucket");
  Require(found.ok() ? *found == listed : listed, "HasBucket disagrees with BucketNames");
}

}  // namespace
}  // namespace rametcd::bbolt

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string bytes(reinterpret_cast<const char*>(data), size);
  rametcd::bbolt::ReadAll(bytes);
  if (rametcd::fuzz::FixMetaChecksums(&bytes)) rametcd::bbolt::ReadAll(std::move(bytes));
  return 0;
}
