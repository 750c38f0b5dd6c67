#include "bbolt/writer.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/absl_view.h"
#include "base/logging.h"
#include "base/status_macros.h"

namespace rametcd::bbolt {
namespace {

constexpr size_t kFlushBytes = 1 << 20;
// Pages 0 and 1 hold the metas, page 2 the (empty) freelist.
constexpr uint64_t kFreelistPgid = 2;
constexpr uint64_t kFirstDataPgid = 3;
// Written into meta page 0 and 1: both describe the same tree, page 0 is the newer one. (bbolt
// puts the meta of transaction t on page t % 2.)
constexpr uint64_t kMeta0Txid = 2;
constexpr uint64_t kMeta1Txid = 1;

}  // namespace

// One B+tree being written: a leaf that is filling up, the leaves already written (their first
// keys and page ids), and, when the tree ends, the branch levels above them.
class Writer::Tree {
 public:
  Tree(Writer* writer, bool allow_inline) : w_(writer), allow_inline_(allow_inline) {}

  // REQUIRES: keys ascending; key and value within bbolt's limits.
  absl::Status Add(uint32_t flags, std::string_view key, std::string_view value) {
    const size_t bytes = kElementSize + key.size() + value.size();
    if (!elements_.empty() && LeafBytes() + bytes > w_->options_.page_size) {
      RETURN_IF_ERROR(FlushLeaf());
    }
    elements_.push_back({flags, static_cast<uint32_t>(key.size()),
                         static_cast<uint32_t>(value.size()), data_.size()});
    data_.append(key.data(), key.size());
    data_.append(value.data(), value.size());
    return absl::OkStatus();
  }

  // Writes what is left and sets `bucket_value` to the tree's bucket header (root page id), or to
  // a zero header plus the whole tree as an inline page.
  absl::Status Finish(std::string* bucket_value) {
    bucket_value->clear();
    if (allow_inline_ && children_.empty() && LeafBytes() <= w_->options_.page_size / 4) {
      AppendBucketHeader(0, 0, bucket_value);
      EncodeLeaf(/*id=*/0, /*overflow=*/0, bucket_value);
      return absl::OkStatus();
    }
    // An empty tree still gets its (empty) root leaf.
    if (!elements_.empty() || children_.empty()) RETURN_IF_ERROR(FlushLeaf());
    std::vector<Child> level = std::move(children_);
    while (level.size() > 1) {
      ASSIGN_OR_RETURN(level, WriteBranchLevel(std::move(level)));
    }
    AppendBucketHeader(level[0].pgid, 0, bucket_value);
    return absl::OkStatus();
  }

 private:
  struct Element {
    uint32_t flags;
    uint32_t key_size;
    uint32_t value_size;
    size_t offset;  // in data_
  };
  struct Child {
    std::string first_key;
    uint64_t pgid;
  };

  size_t LeafBytes() const {
    return kPageHeaderSize + kElementSize * elements_.size() + data_.size();
  }

  // Appends the pending leaf as a page image (header, elements, keys and values; no padding).
  void EncodeLeaf(uint64_t id, uint32_t overflow, std::string* out) const {
    CHECK(elements_.size() <= 0xFFFF);
    const size_t start = out->size();
    out->resize(start + kPageHeaderSize + kElementSize * elements_.size());
    char* p = out->data() + start;
    EncodePageHeader({id, kLeafPage, static_cast<uint16_t>(elements_.size()), overflow}, p);
    const size_t elements_end = kElementSize * elements_.size();
    for (size_t i = 0; i < elements_.size(); ++i) {
      const Element& e = elements_[i];
      char* ep = p + kPageHeaderSize + kElementSize * i;
      // The element's key starts `pos` bytes after the element itself.
      const size_t pos = elements_end - kElementSize * i + e.offset;
      StoreU32(ep, e.flags);
      StoreU32(ep + 4, static_cast<uint32_t>(pos));
      StoreU32(ep + 8, e.key_size);
      StoreU32(ep + 12, e.value_size);
    }
    out->append(data_);
  }

  absl::Status FlushLeaf() {
    const uint64_t pages = w_->PagesFor(LeafBytes());
    const uint64_t id = w_->Allocate(pages);
    EncodeLeaf(id, static_cast<uint32_t>(pages - 1), &w_->out_);
    std::string first_key =
        elements_.empty() ? std::string() : data_.substr(0, elements_[0].key_size);
    children_.push_back({std::move(first_key), id});
    elements_.clear();
    data_.clear();
    return w_->PageDone();
  }

  // Writes branch pages over `level` (>= 2 children); returns the level above.
  absl::StatusOr<std::vector<Child>> WriteBranchLevel(std::vector<Child> level) {
    const size_t page_size = w_->options_.page_size;
    // Greedy grouping: as many children as fit in one page, but at least two (a branch over
    // long keys then takes overflow pages), so that every level is at most half as wide as the
    // one below and the loop in Finish() ends.
    std::vector<size_t> group_ends;
    size_t bytes = kPageHeaderSize;
    for (size_t i = 0; i < level.size(); ++i) {
      const size_t add = kElementSize + level[i].first_key.size();
      const size_t group_start = group_ends.empty() ? 0 : group_ends.back();
      if (i >= group_start + 2 && bytes + add > page_size) {
        group_ends.push_back(i);
        bytes = kPageHeaderSize;
      }
      bytes += add;
    }
    group_ends.push_back(level.size());
    // The last group may have a single child: borrow one from its neighbour, or join it.
    const size_t n = group_ends.size();
    if (n >= 2 && group_ends[n - 1] - group_ends[n - 2] == 1) {
      const size_t prev_start = n >= 3 ? group_ends[n - 3] : 0;
      if (group_ends[n - 2] - prev_start >= 3) {
        --group_ends[n - 2];
      } else {
        group_ends.erase(group_ends.end() - 2);
      }
    }
    std::vector<Child> up;
    size_t begin = 0;
    for (size_t end : group_ends) {
      size_t page_bytes = kPageHeaderSize;
      for (size_t i = begin; i < end; ++i) page_bytes += kElementSize + level[i].first_key.size();
      const uint64_t pages = w_->PagesFor(page_bytes);
      const uint64_t id = w_->Allocate(pages);
      const size_t count = end - begin;
      CHECK(count <= 0xFFFF);
      std::string& out = w_->out_;
      const size_t start = out.size();
      out.resize(start + kPageHeaderSize + kElementSize * count);
      EncodePageHeader(
          {id, kBranchPage, static_cast<uint16_t>(count), static_cast<uint32_t>(pages - 1)},
          out.data() + start);
      size_t key_offset = kElementSize * count;  // from the first element to the first key
      for (size_t i = 0; i < count; ++i) {
        const Child& c = level[begin + i];
        char* ep = out.data() + start + kPageHeaderSize + kElementSize * i;
        StoreU32(ep, static_cast<uint32_t>(key_offset - kElementSize * i));
        StoreU32(ep + 4, static_cast<uint32_t>(c.first_key.size()));
        StoreU64(ep + 8, c.pgid);
        key_offset += c.first_key.size();
      }
      for (size_t i = begin; i < end; ++i) out.append(level[i].first_key);
      RETURN_IF_ERROR(w_->PageDone());
      up.push_back({std::move(level[begin].first_key), id});
      begin = end;
    }
    return up;
  }

  Writer* const w_;
  const bool allow_inline_;
  std::vector<Element> elements_;  // of the leaf being filled
  std::string data_;               // its keys and values
  std::vector<Child> children_;    // leaves written so far
};

absl::StatusOr<std::unique_ptr<Writer>> Writer::Create(const std::string& path,
                                                       const Options& options) {
  ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> file, NewPosixWritableFile(path));
  return Create(std::move(file), options);
}

absl::StatusOr<std::unique_ptr<Writer>> Writer::Create(std::unique_ptr<WritableFile> file,
                                                       const Options& options) {
  const uint32_t ps = options.page_size;
  if (ps < kMinPageSize || ps > kMaxPageSize || (ps & (ps - 1)) != 0) {
    return absl::InvalidArgumentError(absl::StrCat("bbolt page size ", ps,
                                                   " is not a power of two in [", kMinPageSize,
                                                   ", ", kMaxPageSize, "]"));
  }
  std::unique_ptr<Writer> writer(new Writer(std::move(file), options));
  RETURN_IF_ERROR(writer->Begin());
  return writer;
}

Writer::Writer(std::unique_ptr<WritableFile> file, const Options& options)
    : options_(options), file_(std::move(file)) {}

Writer::~Writer() {
  // An unfinished file keeps its zeroed meta pages: no reader will take it for a database.
  if (file_ != nullptr) file_->Close().IgnoreError();
}

absl::Status Writer::Begin() {
  // Placeholders for the meta pages, then the freelist: every page is in use, none is free.
  CHECK(Allocate(2) == 0);
  out_.assign(2 * options_.page_size, '\0');
  CHECK(Allocate(1) == kFreelistPgid);
  const size_t start = out_.size();
  out_.resize(start + kPageHeaderSize);
  EncodePageHeader({kFreelistPgid, kFreelistPage, 0, 0}, out_.data() + start);
  RETURN_IF_ERROR(PageDone());
  CHECK(next_pgid_ == kFirstDataPgid);
  return absl::OkStatus();
}

uint64_t Writer::Allocate(uint64_t count) {
  const uint64_t id = next_pgid_;
  next_pgid_ += count;
  return id;
}

uint64_t Writer::PagesFor(size_t bytes) const {
  return std::max<uint64_t>(1, (bytes + options_.page_size - 1) / options_.page_size);
}

absl::Status Writer::PageDone() {
  const size_t rem = out_.size() % options_.page_size;
  if (rem != 0) out_.append(options_.page_size - rem, '\0');
  CHECK(static_cast<uint64_t>(file_written_bytes_ + out_.size()) ==
        next_pgid_ * options_.page_size);
  if (out_.size() >= kFlushBytes) return FlushOut();
  return absl::OkStatus();
}

absl::Status Writer::FlushOut() {
  if (out_.empty()) return absl::OkStatus();
  absl::Status s = file_->Append(out_);
  if (!s.ok()) return Fail(std::move(s));
  file_written_bytes_ += out_.size();
  out_.clear();
  return absl::OkStatus();
}

absl::Status Writer::Fail(absl::Status status) {
  if (status_.ok()) status_ = std::move(status);
  return status_;
}

absl::Status Writer::StartBucket(std::string_view name) {
  RETURN_IF_ERROR(status_);
  if (finished_) return absl::FailedPreconditionError("bbolt writer already finished");
  RETURN_IF_ERROR(EndBucket());
  if (name.empty() || name.size() > kMaxKeySize) {
    return absl::InvalidArgumentError(
        absl::StrCat("bbolt bucket name must have 1..", kMaxKeySize, " bytes, not ", name.size()));
  }
  if (buckets_.find(name) != buckets_.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat("bbolt bucket \"", AbslView(name), "\" written twice"));
  }
  bucket_ = std::make_unique<Tree>(this, options_.inline_small_buckets);
  bucket_name_ = std::string(name);
  has_last_key_ = false;
  last_key_.clear();
  return absl::OkStatus();
}

absl::Status Writer::Put(std::string_view key, std::string_view value) {
  RETURN_IF_ERROR(status_);
  if (bucket_ == nullptr) {
    return absl::FailedPreconditionError("bbolt Put outside a bucket (call StartBucket first)");
  }
  if (key.empty() || key.size() > kMaxKeySize) {
    return absl::InvalidArgumentError(
        absl::StrCat("bbolt key must have 1..", kMaxKeySize, " bytes, not ", key.size()));
  }
  if (value.size() > kMaxValueSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("bbolt value of ", value.size(), " bytes is over ", kMaxValueSize));
  }
  if (has_last_key_ && key <= std::string_view(last_key_)) {
    return absl::InvalidArgumentError(absl::StrCat("bucket \"", bucket_name_,
                                                   "\": keys must be strictly ascending, got ",
                                                   key.size(), "-byte key after a greater one"));
  }
  last_key_.assign(key.data(), key.size());
  has_last_key_ = true;
  absl::Status s = bucket_->Add(0, key, value);
  if (!s.ok()) return Fail(std::move(s));
  return absl::OkStatus();
}

absl::Status Writer::EndBucket() {
  if (bucket_ == nullptr) return absl::OkStatus();
  std::string value;
  absl::Status s = bucket_->Finish(&value);
  bucket_.reset();
  if (!s.ok()) return Fail(std::move(s));
  buckets_.emplace(std::move(bucket_name_), std::move(value));
  return absl::OkStatus();
}

absl::Status Writer::Finish() {
  RETURN_IF_ERROR(status_);
  if (finished_) return absl::FailedPreconditionError("bbolt writer already finished");
  RETURN_IF_ERROR(EndBucket());
  // The root bucket: one entry per bucket, in name order; it always has its own pages.
  Tree root(this, /*allow_inline=*/false);
  for (const auto& [name, value] : buckets_) {
    if (absl::Status s = root.Add(kBucketLeafFlag, name, value); !s.ok()) return Fail(s);
  }
  std::string root_value;
  if (absl::Status s = root.Finish(&root_value); !s.ok()) return Fail(s);
  if (absl::Status s = FlushOut(); !s.ok()) return Fail(s);

  Meta meta;
  meta.page_size = options_.page_size;
  meta.root = LoadU64(root_value.data());
  meta.freelist = kFreelistPgid;
  meta.high_water = next_pgid_;
  std::string metas(2 * options_.page_size, '\0');
  for (uint64_t pgid : {0, 1}) {
    char* p = metas.data() + pgid * options_.page_size;
    EncodePageHeader({pgid, kMetaPage, 0, 0}, p);
    meta.txid = pgid == 0 ? kMeta0Txid : kMeta1Txid;
    EncodeMeta(meta, p + kPageHeaderSize);
  }
  // The data must be durable before the metas that point at it.
  if (absl::Status s = file_->Sync(); !s.ok()) return Fail(std::move(s));
  if (absl::Status s = file_->WriteAt(0, metas); !s.ok()) return Fail(std::move(s));
  if (absl::Status s = file_->Sync(); !s.ok()) return Fail(std::move(s));
  if (absl::Status s = file_->Close(); !s.ok()) return Fail(std::move(s));
  finished_ = true;
  return absl::OkStatus();
}

}  // namespace rametcd::bbolt
