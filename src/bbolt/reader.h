// Reader: reads a bbolt database file (etcd's backend, an `etcdctl snapshot save` file; see
// format.h and docs/bbolt-format.md): lists the top-level buckets and iterates a bucket's
// entries in key order, and checks the whole file the way bbolt's Tx.Check does.
//
// Open() validates both meta pages (magic, version, page size, checksum, and that the root,
// freelist and high-water mark fit the file) and uses the valid one with the higher txid; bytes
// after the high-water mark (such as the sha256 etcdctl appends to a snapshot) are ignored.
// Everything read from the file is checked before it is used: page ids against the high-water
// mark, page headers against the id that led to them, element offsets and sizes against their
// page, key order, tree depth (at most 64 levels) and that no page is reached twice in one walk.
// Damage is reported as a DataLoss status naming the file, the page and what is wrong; no input
// makes the Reader crash, read out of bounds or loop.
//
// Entries are views into the file's bytes, valid while the Reader lives.
//
// Thread safety: a Reader is immutable after Open; its methods may run concurrently.
#ifndef RAMETCD_BBOLT_READER_H_
#define RAMETCD_BBOLT_READER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/mapped_file.h"
#include "bbolt/format.h"

namespace rametcd::bbolt {

class Reader {
 public:
  // Memory-maps the file at `path` (see base/mapped_file.h about files changed meanwhile).
  static absl::StatusOr<std::unique_ptr<Reader>> Open(const std::string& path);
  // Reads a database held in memory; `name` stands for the file in error messages.
  static absl::StatusOr<std::unique_ptr<Reader>> FromBytes(std::string bytes, std::string name);

  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;

  // The meta in use and the page (0 or 1) it came from.
  const Meta& meta() const { return meta_; }
  int meta_page() const { return meta_page_; }

  struct Entry {
    std::string_view key;
    std::string_view value;  // for a nested bucket: its raw bucket value
    bool is_bucket = false;  // a nested bucket (etcd has none)
  };
  using EntryFn = absl::FunctionRef<absl::Status(const Entry&)>;

  // The names of the top-level buckets, in order.
  absl::StatusOr<std::vector<std::string>> BucketNames() const;
  absl::StatusOr<bool> HasBucket(std::string_view name) const;
  // Calls `fn` for every entry of top-level bucket `bucket`, in key order; stops at the first
  // error `fn` returns and returns it. Errors: NotFound when there is no such bucket; DataLoss.
  absl::Status ForEach(std::string_view bucket, EntryFn fn) const;

  // bbolt's consistency check: every tree (nested buckets included) is readable and ordered, no
  // page is used twice, no page is both used and free, and every page below the high-water mark
  // is either used or free. Errors: DataLoss listing the first problems found.
  absl::Status Check() const;

 private:
  // One page of a tree: a page of the file (with its overflow pages) or an inline page.
  struct PageRef {
    uint64_t pgid = 0;  // for an inline page: the page holding the bucket value
    bool is_inline = false;
    uint16_t flags = 0;
    uint16_t count = 0;
    std::string_view bytes;  // from the page header to the end of the page's last byte
  };
  // Where a bucket's tree starts.
  struct TreeRoot {
    uint64_t pgid = 0;  // 0: inline
    PageRef inline_page;
  };
  struct Walk;
  using WalkFn = absl::FunctionRef<absl::Status(const Entry&, const PageRef& page, bool* stop)>;

  Reader(std::string name, std::string owned, std::unique_ptr<MappedFile> mapped);
  absl::Status Init();
  // Why the meta page at `offset` is not usable, or OK (and fills `meta`). `page_size` 0: any.
  absl::Status ValidateMeta(uint64_t offset, uint32_t page_size, Meta* meta) const;
  absl::Status ValidateFreelist(std::vector<uint64_t>* ids) const;

  absl::StatusOr<PageRef> TreePage(uint64_t pgid, uint64_t parent) const;
  absl::StatusOr<TreeRoot> ParseBucketValue(std::string_view value, const PageRef& holder,
                                            std::string_view key) const;
  // Walks the tree from `root` in key order; marks the pages it uses in walk->reached.
  absl::Status WalkTree(const TreeRoot& root, Walk* walk, WalkFn fn) const;
  absl::Status WalkPage(const PageRef& page, int depth, Walk* walk, WalkFn fn) const;
  absl::Status Reach(uint64_t pgid, uint32_t overflow, uint64_t parent, Walk* walk) const;
  // Finds top-level bucket `name`; nullopt-like: found == false.
  absl::Status FindBucket(std::string_view name, bool* found, TreeRoot* root) const;
  absl::Status CheckBucket(const TreeRoot& root, int nesting, Walk* walk) const;

  absl::Status Corrupt(const PageRef& page, std::string_view what) const;
  absl::Status CorruptPage(uint64_t pgid, std::string_view what) const;

  const std::string name_;
  const std::string owned_;  // the bytes, when read from memory
  const std::unique_ptr<MappedFile> mapped_;
  std::string_view data_;
  Meta meta_;
  int meta_page_ = 0;
};

}  // namespace rametcd::bbolt

#endif  // RAMETCD_BBOLT_READER_H_
