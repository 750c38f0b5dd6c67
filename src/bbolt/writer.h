// Writer: writes a new bbolt database file (the format of etcd's backend, see format.h and
// docs/bbolt-format.md) from top-level buckets whose entries arrive in key order.
//
// The file is written front to back in one pass: two placeholder meta pages, an empty freelist
// page, then each bucket's leaf pages as they fill and its branch pages when the bucket ends,
// then the root bucket's pages, and last the two meta pages (overwriting the placeholders) and an
// fdatasync. Memory is bounded by one page being filled plus, per bucket, the first key of each
// of its leaves (about 1/100 of the bucket's bytes for etcd's keys); entries are never held
// twice. A bucket whose entries fit in a quarter page is stored inline in the root bucket's leaf,
// as bbolt does itself. Every page below the high-water mark is reachable, so bbolt's consistency
// check (Tx.Check, run by `etcdctl snapshot status`) finds nothing to report.
//
// Usage:
//   ASSIGN_OR_RETURN(auto writer, bbolt::Writer::Create(path));
//   RETURN_IF_ERROR(writer->StartBucket("key"));
//   for (...) RETURN_IF_ERROR(writer->Put(key, value));   // ascending keys
//   RETURN_IF_ERROR(writer->Finish());
//
// Until Finish() succeeds the file has no valid meta page, so no reader accepts a half-written
// file. A rejected entry or bucket name leaves the Writer usable; an I/O error is sticky: every
// later call returns it.
//
// Thread safety: none; one thread uses a Writer.
#ifndef RAMETCD_BBOLT_WRITER_H_
#define RAMETCD_BBOLT_WRITER_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "bbolt/format.h"
#include "bbolt/writable_file.h"

namespace rametcd::bbolt {

class Writer {
 public:
  struct Options {
    // A power of two in [kMinPageSize, kMaxPageSize]; etcd uses 4096.
    uint32_t page_size = kDefaultPageSize;
    // Store small buckets inline (bbolt's own choice); false gives every bucket a root page.
    bool inline_small_buckets = true;
  };

  // Creates (or truncates) the file at `path`.
  static absl::StatusOr<std::unique_ptr<Writer>> Create(const std::string& path,
                                                        const Options& options);
  static absl::StatusOr<std::unique_ptr<Writer>> Create(const std::string& path) {
    return Create(path, Options());
  }
  // Writes to `file` (for tests that inject faults). Errors: InvalidArgument for a bad page size.
  static absl::StatusOr<std::unique_ptr<Writer>> Create(std::unique_ptr<WritableFile> file,
                                                        const Options& options);

  ~Writer();
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  // Ends the current bucket, if any, and starts a new top-level bucket. Buckets may come in any
  // order. Errors: InvalidArgument for an empty, too long (> kMaxKeySize) or repeated name.
  absl::Status StartBucket(std::string_view name);
  // Adds an entry to the current bucket. Errors: FailedPrecondition without a bucket;
  // InvalidArgument for an empty or too long key, a too long value, or a key that is not greater
  // (bytewise) than the bucket's previous key.
  absl::Status Put(std::string_view key, std::string_view value);
  // Ends the last bucket, writes the root bucket and the meta pages, syncs and closes the file.
  absl::Status Finish();

  // Pages allocated so far (after Finish: the file's size in pages).
  uint64_t page_count() const { return next_pgid_; }

 private:
  class Tree;

  Writer(std::unique_ptr<WritableFile> file, const Options& options);
  absl::Status Begin();
  absl::Status EndBucket();
  // The first id of `count` new contiguous pages.
  uint64_t Allocate(uint64_t count);
  // Pages needed for a page image of `bytes` bytes.
  uint64_t PagesFor(size_t bytes) const;
  // Pads out_ to a page boundary and writes it out once it holds enough.
  absl::Status PageDone();
  absl::Status FlushOut();
  absl::Status Fail(absl::Status status);

  const Options options_;
  std::unique_ptr<WritableFile> file_;
  absl::Status status_;  // sticky first error
  bool finished_ = false;
  uint64_t next_pgid_ = 0;
  std::string out_;                  // whole pages not yet handed to the file
  uint64_t file_written_bytes_ = 0;  // handed to the file so far

  std::unique_ptr<Tree> bucket_;  // the bucket being written
  std::string bucket_name_;
  std::string last_key_;
  bool has_last_key_ = false;
  // Finished buckets: name -> bucket value (header plus inline page, if inline).
  std::map<std::string, std::string, std::less<>> buckets_;
};

}  // namespace rametcd::bbolt

#endif  // RAMETCD_BBOLT_WRITER_H_
