#include "bbolt/reader.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "base/absl_view.h"
#include "base/status_macros.h"

namespace rametcd::bbolt {
namespace {

// Deeper trees than this are damage: bbolt's trees of a few billion keys are under 10 levels.
constexpr int kMaxDepth = 64;
// Nested buckets deeper than this are damage (etcd has none).
constexpr int kMaxNesting = 64;
constexpr uint64_t kNoParent = ~uint64_t{0};
// Check() reports at most this many problems in its message.
constexpr size_t kMaxReported = 10;

bool ValidPageSize(uint32_t ps) {
  return ps >= kMinPageSize && ps <= kMaxPageSize && (ps & (ps - 1)) == 0;
}

std::string PageType(uint16_t flags) {
  switch (flags) {
    case kBranchPage:
      return "branch";
    case kLeafPage:
      return "leaf";
    case kMetaPage:
      return "meta";
    case kFreelistPage:
      return "freelist";
  }
  return absl::StrFormat("flags 0x%x", flags);
}

}  // namespace

// The state of one walk: which pages it has reached (shared by all trees in Check), and the
// previous key of the tree being walked, to check their order.
struct Reader::Walk {
  std::vector<bool> reached;
  std::string_view prev_key;
  bool has_prev = false;
  bool stop = false;
};

absl::StatusOr<std::unique_ptr<Reader>> Reader::Open(const std::string& path) {
  ASSIGN_OR_RETURN(std::unique_ptr<MappedFile> mapped, MappedFile::Open(path));
  std::unique_ptr<Reader> reader(new Reader(path, std::string(), std::move(mapped)));
  RETURN_IF_ERROR(reader->Init());
  return reader;
}

absl::StatusOr<std::unique_ptr<Reader>> Reader::FromBytes(std::string bytes, std::string name) {
  std::unique_ptr<Reader> reader(new Reader(std::move(name), std::move(bytes), nullptr));
  RETURN_IF_ERROR(reader->Init());
  return reader;
}

Reader::Reader(std::string name, std::string owned, std::unique_ptr<MappedFile> mapped)
    : name_(std::move(name)), owned_(std::move(owned)), mapped_(std::move(mapped)) {
  data_ = mapped_ != nullptr ? mapped_->data() : std::string_view(owned_);
}

absl::Status Reader::CorruptPage(uint64_t pgid, std::string_view what) const {
  return absl::DataLossError(absl::StrCat(name_, ": page ", pgid, ": ", AbslView(what)));
}

absl::Status Reader::Corrupt(const PageRef& page, std::string_view what) const {
  if (page.is_inline) {
    return absl::DataLossError(
        absl::StrCat(name_, ": inline bucket page inside page ", page.pgid, ": ", AbslView(what)));
  }
  return absl::DataLossError(
      absl::StrCat(name_, ": page ", page.pgid, " (", PageType(page.flags), "): ", AbslView(what)));
}

absl::Status Reader::ValidateMeta(uint64_t offset, uint32_t page_size, Meta* meta) const {
  if (data_.size() < offset + kPageHeaderSize + kMetaSize) {
    return absl::DataLossError(
        absl::StrCat("the file's ", data_.size(), " bytes end before the meta at offset ", offset));
  }
  const char* p = data_.data() + offset;
  const PageHeader header = DecodePageHeader(p);
  if ((header.flags & kMetaPage) == 0) {
    return absl::DataLossError(absl::StrCat("not a meta page (", PageType(header.flags), ")"));
  }
  const Meta m = DecodeMeta(p + kPageHeaderSize);
  if (m.magic != kMagic) {
    return absl::DataLossError(absl::StrFormat("bad magic 0x%08x (want 0x%08x)", m.magic, kMagic));
  }
  if (m.version != kVersion) {
    return absl::DataLossError(absl::StrCat("unsupported version ", m.version));
  }
  const uint64_t sum = MetaChecksum(p + kPageHeaderSize);
  if (m.checksum != sum) {
    return absl::DataLossError(
        absl::StrFormat("checksum mismatch (stored %016x, computed %016x)", m.checksum, sum));
  }
  if (!ValidPageSize(m.page_size) || (page_size != 0 && m.page_size != page_size)) {
    return absl::DataLossError(absl::StrCat("page size ", m.page_size, " is not valid here"));
  }
  const uint64_t pages_in_file = data_.size() / m.page_size;
  if (m.high_water > pages_in_file) {
    return absl::DataLossError(absl::StrCat("truncated: the high-water mark is ", m.high_water,
                                            " pages of ", m.page_size, " bytes, the file has ",
                                            data_.size(), " bytes"));
  }
  if (m.root < 2 || m.root >= m.high_water) {
    return absl::DataLossError(
        absl::StrCat("root page ", m.root, " is outside [2, ", m.high_water, ")"));
  }
  if (m.freelist != kNoFreelist && (m.freelist < 2 || m.freelist >= m.high_water)) {
    return absl::DataLossError(
        absl::StrCat("freelist page ", m.freelist, " is outside [2, ", m.high_water, ")"));
  }
  *meta = m;
  return absl::OkStatus();
}

absl::Status Reader::Init() {
  Meta m0, m1;
  absl::Status s0 = ValidateMeta(0, 0, &m0);
  absl::Status s1;
  if (s0.ok()) {
    s1 = ValidateMeta(m0.page_size, m0.page_size, &m1);
  } else {
    // Without meta 0 the page size is unknown: look for meta 1 at each possible page size,
    // the usual one first.
    s1 = ValidateMeta(kDefaultPageSize, kDefaultPageSize, &m1);
    for (uint32_t ps = kMinPageSize; !s1.ok() && ps <= kMaxPageSize; ps *= 2) {
      if (ps == kDefaultPageSize) continue;
      if (ValidateMeta(ps, ps, &m1).ok()) s1 = absl::OkStatus();
    }
  }
  if (!s0.ok() && !s1.ok()) {
    return absl::DataLossError(absl::StrCat(name_, ": not a usable bbolt file (", data_.size(),
                                            " bytes): meta page 0: ", s0.message(),
                                            "; meta page 1: ", s1.message()));
  }
  if (s0.ok() && (!s1.ok() || m0.txid >= m1.txid)) {
    meta_ = m0;
    meta_page_ = 0;
  } else {
    meta_ = m1;
    meta_page_ = 1;
  }
  std::vector<uint64_t> ignored;
  return ValidateFreelist(&ignored);
}

absl::Status Reader::ValidateFreelist(std::vector<uint64_t>* ids) const {
  ids->clear();
  if (meta_.freelist == kNoFreelist) return absl::OkStatus();
  const uint64_t pgid = meta_.freelist;
  const uint32_t ps = meta_.page_size;
  const PageHeader h = DecodePageHeader(data_.data() + pgid * ps);
  if (h.id != pgid) return CorruptPage(pgid, absl::StrCat("freelist page header says id ", h.id));
  if (h.flags != kFreelistPage) {
    return CorruptPage(pgid, absl::StrCat("the freelist page is a ", PageType(h.flags), " page"));
  }
  if (uint64_t{h.overflow} >= meta_.high_water - pgid) {
    return CorruptPage(pgid,
                       absl::StrCat("freelist overflow of ", h.overflow,
                                    " pages runs past the high-water mark ", meta_.high_water));
  }
  const std::string_view bytes =
      data_.substr(pgid * ps, (uint64_t{h.overflow} + 1) * ps).substr(kPageHeaderSize);
  uint64_t count = h.count;
  size_t first = 0;
  if (h.count == kFreelistCountInBody) {
    if (bytes.size() < 8) return CorruptPage(pgid, "freelist count missing");
    count = LoadU64(bytes.data());
    first = 1;
  }
  if (count > bytes.size() / 8 - first) {
    return CorruptPage(pgid, absl::StrCat("freelist of ", count, " ids does not fit its ",
                                          uint64_t{h.overflow} + 1, " page(s)"));
  }
  ids->reserve(count);
  for (uint64_t i = 0; i < count; ++i) {
    const uint64_t id = LoadU64(bytes.data() + 8 * (first + i));
    if (id < 2 || id >= meta_.high_water) {
      return CorruptPage(
          pgid, absl::StrCat("free page id ", id, " is outside [2, ", meta_.high_water, ")"));
    }
    ids->push_back(id);
  }
  return absl::OkStatus();
}

absl::StatusOr<Reader::PageRef> Reader::TreePage(uint64_t pgid, uint64_t parent) const {
  // Only errors need the words.
  auto from = [parent] {
    return parent == kNoParent ? std::string(" (a bucket root)")
                               : absl::StrCat(" (from page ", parent, ")");
  };
  if (pgid < 2 || pgid >= meta_.high_water) {
    return absl::DataLossError(
        absl::StrCat(name_, ": page id ", pgid, from(), " is outside [2, ", meta_.high_water, ")"));
  }
  const uint32_t ps = meta_.page_size;
  const PageHeader h = DecodePageHeader(data_.data() + pgid * ps);
  if (h.id != pgid) return CorruptPage(pgid, absl::StrCat("header says id ", h.id, from()));
  if (h.flags != kBranchPage && h.flags != kLeafPage) {
    return CorruptPage(pgid, absl::StrCat("expected a branch or leaf page", from(), ", found ",
                                          PageType(h.flags)));
  }
  if (uint64_t{h.overflow} >= meta_.high_water - pgid) {
    return CorruptPage(
        pgid, absl::StrCat("overflow of ", h.overflow, " pages runs past the high-water mark ",
                           meta_.high_water));
  }
  PageRef page;
  page.pgid = pgid;
  page.flags = h.flags;
  page.count = h.count;
  page.bytes = data_.substr(pgid * ps, (uint64_t{h.overflow} + 1) * ps);
  return page;
}

absl::StatusOr<Reader::TreeRoot> Reader::ParseBucketValue(std::string_view value,
                                                          const PageRef& holder,
                                                          std::string_view key) const {
  if (value.size() < kBucketHeaderSize) {
    return Corrupt(holder, absl::StrCat("bucket \"", AbslView(key), "\" has a ", value.size(),
                                        "-byte value, shorter than a bucket header"));
  }
  TreeRoot root;
  root.pgid = LoadU64(value.data());
  if (root.pgid != 0) return root;
  const std::string_view page = value.substr(kBucketHeaderSize);
  if (page.size() < kPageHeaderSize) {
    return Corrupt(holder, absl::StrCat("inline bucket \"", AbslView(key),
                                        "\" is too short for a page header"));
  }
  const PageHeader h = DecodePageHeader(page.data());
  if (h.flags != kLeafPage) {
    return Corrupt(holder, absl::StrCat("inline bucket \"", AbslView(key), "\" holds a ",
                                        PageType(h.flags), " page, not a leaf"));
  }
  root.inline_page.pgid = holder.pgid;
  root.inline_page.is_inline = true;
  root.inline_page.flags = h.flags;
  root.inline_page.count = h.count;
  root.inline_page.bytes = page;
  return root;
}

absl::Status Reader::Reach(uint64_t pgid, uint32_t overflow, uint64_t parent, Walk* walk) const {
  for (uint64_t id = pgid; id <= pgid + overflow; ++id) {
    if (walk->reached[id]) {
      return CorruptPage(id, absl::StrCat("reached twice (again from ",
                                          parent == kNoParent ? std::string("a bucket or the meta")
                                                              : absl::StrCat("page ", parent),
                                          "): a cycle or a page with two owners"));
    }
    walk->reached[id] = true;
  }
  return absl::OkStatus();
}

absl::Status Reader::WalkTree(const TreeRoot& root, Walk* walk, WalkFn fn) const {
  walk->has_prev = false;
  walk->stop = false;
  if (root.pgid == 0) return WalkPage(root.inline_page, 0, walk, fn);
  ASSIGN_OR_RETURN(PageRef page, TreePage(root.pgid, kNoParent));
  RETURN_IF_ERROR(Reach(page.pgid, static_cast<uint32_t>(page.bytes.size() / meta_.page_size - 1),
                        kNoParent, walk));
  return WalkPage(page, 0, walk, fn);
}

absl::Status Reader::WalkPage(const PageRef& page, int depth, Walk* walk, WalkFn fn) const {
  if (depth >= kMaxDepth) {
    return Corrupt(page, absl::StrCat("the tree is deeper than ", kMaxDepth, " levels"));
  }
  const uint64_t elements_end = kPageHeaderSize + kElementSize * uint64_t{page.count};
  if (elements_end > page.bytes.size()) {
    return Corrupt(
        page, absl::StrCat(page.count, " elements do not fit in ", page.bytes.size(), " bytes"));
  }
  const char* base = page.bytes.data();
  if (page.flags == kLeafPage) {
    // bbolt writes each entry's key and value after the previous entry's. Requiring that bounds
    // the work: overlapping entries could hand out one large value thousands of times, and nested
    // inline buckets sharing bytes would make Check() walk 2^depth inline pages.
    uint64_t data_end = elements_end;
    for (uint32_t i = 0; i < page.count && !walk->stop; ++i) {
      const uint64_t at = kPageHeaderSize + kElementSize * i;
      const uint32_t flags = LoadU32(base + at);
      const uint64_t start = at + LoadU32(base + at + 4);
      const uint32_t key_size = LoadU32(base + at + 8);
      const uint32_t value_size = LoadU32(base + at + 12);
      if (start + key_size + value_size > page.bytes.size()) {
        return Corrupt(page,
                       absl::StrCat("leaf element ", i, " (", key_size, "-byte key, ", value_size,
                                    "-byte value at offset ", start, ") extends past the page's ",
                                    page.bytes.size(), " bytes"));
      }
      if (start < data_end) {
        return Corrupt(page, absl::StrCat("leaf element ", i, " at offset ", start,
                                          " overlaps the bytes before ", data_end,
                                          " (elements, previous entries)"));
      }
      data_end = start + key_size + value_size;
      if ((flags & ~kBucketLeafFlag) != 0) {
        return Corrupt(page, absl::StrFormat("leaf element %d has unknown flags 0x%x", i, flags));
      }
      if (key_size == 0) return Corrupt(page, absl::StrCat("leaf element ", i, " has no key"));
      Entry e;
      e.key = page.bytes.substr(start, key_size);
      e.value = page.bytes.substr(start + key_size, value_size);
      e.is_bucket = (flags & kBucketLeafFlag) != 0;
      if (walk->has_prev && e.key <= walk->prev_key) {
        return Corrupt(page, absl::StrCat("leaf element ", i, ": keys out of order"));
      }
      walk->prev_key = e.key;
      walk->has_prev = true;
      RETURN_IF_ERROR(fn(e, page, &walk->stop));
    }
    return absl::OkStatus();
  }
  // A branch page (TreePage admits nothing else; inline pages are leaves).
  if (page.is_inline || page.flags != kBranchPage) {
    return Corrupt(page, "expected a leaf or branch page");
  }
  if (page.count == 0) return Corrupt(page, "branch page without elements");
  std::string_view prev;
  for (uint32_t i = 0; i < page.count && !walk->stop; ++i) {
    const uint64_t at = kPageHeaderSize + kElementSize * i;
    const uint64_t start = at + LoadU32(base + at);
    const uint32_t key_size = LoadU32(base + at + 4);
    const uint64_t child = LoadU64(base + at + 8);
    if (start + key_size > page.bytes.size()) {
      return Corrupt(
          page, absl::StrCat("branch element ", i, " (", key_size, "-byte key at offset ", start,
                             ") extends past the page's ", page.bytes.size(), " bytes"));
    }
    const std::string_view key = page.bytes.substr(start, key_size);
    if (i > 0 && key <= prev) {
      return Corrupt(page, absl::StrCat("branch element ", i, ": keys out of order"));
    }
    prev = key;
    ASSIGN_OR_RETURN(PageRef child_page, TreePage(child, page.pgid));
    RETURN_IF_ERROR(Reach(child,
                          static_cast<uint32_t>(child_page.bytes.size() / meta_.page_size - 1),
                          page.pgid, walk));
    RETURN_IF_ERROR(WalkPage(child_page, depth + 1, walk, fn));
  }
  return absl::OkStatus();
}

absl::Status Reader::FindBucket(std::string_view name, bool* found, TreeRoot* root) const {
  *found = false;
  Walk walk;
  walk.reached.assign(meta_.high_water, false);
  TreeRoot top;
  top.pgid = meta_.root;
  RETURN_IF_ERROR(WalkTree(top, &walk, [&](const Entry& e, const PageRef& page, bool* stop) {
    if (!e.is_bucket) {
      return Corrupt(page,
                     absl::StrCat("root bucket entry \"", AbslView(e.key), "\" is not a bucket"));
    }
    if (e.key < name) return absl::OkStatus();
    *stop = true;
    if (e.key != name) return absl::OkStatus();
    ASSIGN_OR_RETURN(*root, ParseBucketValue(e.value, page, e.key));
    *found = true;
    return absl::OkStatus();
  }));
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> Reader::BucketNames() const {
  std::vector<std::string> names;
  Walk walk;
  walk.reached.assign(meta_.high_water, false);
  TreeRoot top;
  top.pgid = meta_.root;
  RETURN_IF_ERROR(WalkTree(top, &walk, [&](const Entry& e, const PageRef& page, bool*) {
    if (!e.is_bucket) {
      return Corrupt(page,
                     absl::StrCat("root bucket entry \"", AbslView(e.key), "\" is not a bucket"));
    }
    names.emplace_back(e.key);
    return absl::OkStatus();
  }));
  return names;
}

absl::StatusOr<bool> Reader::HasBucket(std::string_view name) const {
  bool found = false;
  TreeRoot root;
  RETURN_IF_ERROR(FindBucket(name, &found, &root));
  return found;
}

absl::Status Reader::ForEach(std::string_view bucket, EntryFn fn) const {
  bool found = false;
  TreeRoot root;
  RETURN_IF_ERROR(FindBucket(bucket, &found, &root));
  if (!found) {
    return absl::NotFoundError(absl::StrCat(name_, ": no bucket \"", AbslView(bucket), "\""));
  }
  Walk walk;
  walk.reached.assign(meta_.high_water, false);
  return WalkTree(root, &walk, [&](const Entry& e, const PageRef&, bool*) { return fn(e); });
}

absl::Status Reader::CheckBucket(const TreeRoot& root, int nesting, Walk* walk) const {
  if (nesting > kMaxNesting) {
    return absl::DataLossError(
        absl::StrCat(name_, ": buckets nested deeper than ", kMaxNesting, " levels"));
  }
  // Children are checked after the parent's walk: a walk keeps one previous key.
  std::vector<TreeRoot> children;
  RETURN_IF_ERROR(WalkTree(root, walk, [&](const Entry& e, const PageRef& page, bool*) {
    if (!e.is_bucket) {
      if (nesting == 0) {
        return Corrupt(page,
                       absl::StrCat("root bucket entry \"", AbslView(e.key), "\" is not a bucket"));
      }
      return absl::OkStatus();
    }
    ASSIGN_OR_RETURN(TreeRoot child, ParseBucketValue(e.value, page, e.key));
    children.push_back(child);
    return absl::OkStatus();
  }));
  for (const TreeRoot& child : children) RETURN_IF_ERROR(CheckBucket(child, nesting + 1, walk));
  return absl::OkStatus();
}

absl::Status Reader::Check() const {
  const uint64_t hw = meta_.high_water;
  Walk walk;
  walk.reached.assign(hw, false);
  walk.reached[0] = walk.reached[1] = true;
  std::vector<uint64_t> free_ids;
  RETURN_IF_ERROR(ValidateFreelist(&free_ids));
  if (meta_.freelist != kNoFreelist) {
    const uint32_t overflow =
        DecodePageHeader(data_.data() + meta_.freelist * meta_.page_size).overflow;
    RETURN_IF_ERROR(Reach(meta_.freelist, overflow, kNoParent, &walk));
  }
  TreeRoot top;
  top.pgid = meta_.root;
  RETURN_IF_ERROR(CheckBucket(top, 0, &walk));

  std::vector<std::string> problems;
  size_t total = 0;
  auto report = [&](std::string problem) {
    if (problems.size() < kMaxReported) problems.push_back(std::move(problem));
    ++total;
  };
  std::vector<bool> freed(hw, false);
  if (meta_.freelist == kNoFreelist) {
    // Not stored: bbolt takes every unreachable page to be free.
    for (uint64_t id = 0; id < hw; ++id) freed[id] = !walk.reached[id];
  } else {
    for (uint64_t id : free_ids) {
      if (freed[id]) report(absl::StrCat("page ", id, ": already freed"));
      freed[id] = true;
    }
  }
  for (uint64_t id = 0; id < hw; ++id) {
    if (walk.reached[id] && freed[id]) report(absl::StrCat("page ", id, ": reachable freed"));
    if (!walk.reached[id] && !freed[id]) report(absl::StrCat("page ", id, ": unreachable unfreed"));
  }
  if (total == 0) return absl::OkStatus();
  return absl::DataLossError(
      absl::StrCat(name_, ": ", total, " consistency problem(s): ", absl::StrJoin(problems, "; ")));
}

}  // namespace rametcd::bbolt
