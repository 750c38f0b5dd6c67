// fuzz_seed_writer <corpus dir>: writes the seeds of tests/fuzz/corpus/ that our Writer makes
// (etcd34.db comes from real etcd: make_etcd_seed.sh). Small files with every page type: empty
// and inline buckets, 512-byte pages with branch levels and overflow, a nested bucket (made by
// flagging an entry whose value is an inline bucket), and etcd backends at both page sizes. Each
// seed must pass Reader::Check; the program fails otherwise. Then the seeds of the targets that
// build a store, and of history_ring_fuzz (store_seeds.h).
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/absl_view.h"
#include "base/status_macros.h"
#include "bbolt/format.h"
#include "bbolt/reader.h"
#include "bbolt/writer.h"
#include "snapshot/etcd_backend.h"
#include "store_seeds.h"

namespace rametcd::fuzz {
namespace {

using Bucket = std::vector<std::pair<std::string, std::string>>;
using Buckets = std::vector<std::pair<std::string, Bucket>>;  // in any order

absl::Status WriteBuckets(const std::string& path, const Buckets& buckets,
                          const bbolt::Writer::Options& options) {
  ASSIGN_OR_RETURN(std::unique_ptr<bbolt::Writer> w, bbolt::Writer::Create(path, options));
  for (const auto& [name, entries] : buckets) {
    RETURN_IF_ERROR(w->StartBucket(name));
    for (const auto& [k, v] : entries) RETURN_IF_ERROR(w->Put(k, v));
  }
  return w->Finish();
}

// Copies every bucket of the file at `from` into a new file at `to` written with `options`.
absl::Status Copy(const std::string& from, const std::string& to,
                  const bbolt::Writer::Options& options) {
  ASSIGN_OR_RETURN(std::unique_ptr<bbolt::Reader> r, bbolt::Reader::Open(from));
  ASSIGN_OR_RETURN(std::vector<std::string> names, r->BucketNames());
  ASSIGN_OR_RETURN(std::unique_ptr<bbolt::Writer> w, bbolt::Writer::Create(to, options));
  for (const std::string& name : names) {
    RETURN_IF_ERROR(w->StartBucket(name));
    RETURN_IF_ERROR(
        r->ForEach(name, [&](const bbolt::Reader::Entry& e) { return w->Put(e.key, e.value); }));
  }
  return w->Finish();
}

// A bucket value holding an inline bucket with one entry.
std::string InlineBucketValue(std::string_view key, std::string_view value) {
  std::string out;
  bbolt::AppendBucketHeader(0, 0, &out);
  char header[bbolt::kPageHeaderSize], element[bbolt::kElementSize];
  bbolt::EncodePageHeader({.id = 0, .flags = bbolt::kLeafPage, .count = 1}, header);
  bbolt::StoreU32(element, 0);
  bbolt::StoreU32(element + 4, bbolt::kElementSize);  // counted from the element
  bbolt::StoreU32(element + 8, static_cast<uint32_t>(key.size()));
  bbolt::StoreU32(element + 12, static_cast<uint32_t>(value.size()));
  absl::StrAppend(&out, absl::string_view(header, sizeof(header)),
                  absl::string_view(element, sizeof(element)), AbslView(key), AbslView(value));
  return out;
}

// Flags the leaf element whose key is `key` (found once in the file, in a leaf page of its own,
// not inline) as a nested bucket.
absl::Status MarkNested(const std::string& path, std::string_view key, uint32_t page_size) {
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t at = bytes.find(key);
  if (at == std::string::npos || bytes.find(key, at + 1) != std::string::npos) {
    return absl::InternalError(absl::StrCat(path, ": key ", AbslView(key), " is not there once"));
  }
  char* page = bytes.data() + at / page_size * page_size;
  const bbolt::PageHeader h = bbolt::DecodePageHeader(page);
  for (uint32_t i = 0; i < h.count; ++i) {
    char* e = page + bbolt::kPageHeaderSize + bbolt::kElementSize * i;
    if (e + bbolt::LoadU32(e + 4) != bytes.data() + at) continue;
    bbolt::StoreU32(e, bbolt::kBucketLeafFlag);
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
    return absl::OkStatus();
  }
  return absl::InternalError(absl::StrCat(path, ": no leaf element has key ", AbslView(key)));
}

snapshot::EtcdBackend SmallBackend() {
  snapshot::EtcdBackend b;
  int64_t rev = 1;
  for (int i = 0; i < 6; ++i) {
    snapshot::EtcdBackend::KeyRecord r{.main = ++rev};
    r.kv.set_key(absl::StrCat("/registry/k", i));
    r.kv.set_value(absl::StrCat("value ", i));
    r.kv.set_create_revision(rev);
    r.kv.set_mod_revision(rev);
    r.kv.set_version(1);
    if (i == 5) r.kv.set_lease(0x1234);
    b.keys.push_back(r);
  }
  snapshot::EtcdBackend::KeyRecord tombstone{.main = ++rev, .tombstone = true};
  tombstone.kv.set_key("/registry/k1");
  b.keys.push_back(tombstone);
  b.compacted_revision = 3;
  b.consistent_index = 42;
  b.leases = {{0x1234, 60}, {0x99, 3600}};
  b.members = {{.id = 0x8e9e05c52164694d,
                .name = "default",
                .peer_urls = {"http://localhost:2380"},
                .client_urls = {"http://localhost:2379"}},
               {.id = 0x2a, .peer_urls = {"http://10.0.0.2:2380"}, .is_learner = true}};
  return b;
}

absl::Status WriteSeeds(const std::string& corpus) {
  const std::string bolt = corpus + "/bbolt_reader_fuzz/";
  const std::string etcd = corpus + "/etcd_backend_fuzz/";
  const bbolt::Writer::Options small_pages{.page_size = 512};
  std::error_code error;
  for (const std::string& dir : {bolt, etcd}) std::filesystem::create_directories(dir, error);
  RETURN_IF_ERROR(WriteBuckets(bolt + "empty.db", {}, {}));
  RETURN_IF_ERROR(
      WriteBuckets(bolt + "inline.db",
                   {{"b", {}}, {"a", {{"k1", "v1"}, {"k2", "v2"}}}, {"c", {{"x", "y"}}}}, {}));
  Bucket many;
  for (int i = 0; i < 150; ++i) {
    many.emplace_back(absl::StrFormat("key%03d", i),
                      std::string(i % 24, static_cast<char>('a' + i % 26)));
  }
  RETURN_IF_ERROR(WriteBuckets(bolt + "pages512.db",
                               {{"many", many},
                                {"big", {{"overflow", std::string(1500, 'o')}}},
                                {"empty", {}},
                                {"small", {{"x", "y"}}}},
                               small_pages));
  RETURN_IF_ERROR(
      WriteBuckets(bolt + "no_inline512.db",
                   {{"a", {{"k1", "v1"}, {"k2", "v2"}, {"k3", "v3"}}}, {"b", {{"x", "y"}}}},
                   {.page_size = 512, .inline_small_buckets = false}));
  RETURN_IF_ERROR(WriteBuckets(
      bolt + "nested.db",
      {{"outer", {{"leaf", "v"}, {"nested-child", InlineBucketValue("inner", "value")}}},
       {"z", {{"k", "v"}}}},
      {.inline_small_buckets = false}));
  RETURN_IF_ERROR(MarkNested(bolt + "nested.db", "nested-child", bbolt::kDefaultPageSize));

  RETURN_IF_ERROR(snapshot::WriteEtcdBackend(snapshot::EtcdBackend(), etcd + "empty.db"));
  RETURN_IF_ERROR(snapshot::WriteEtcdBackend(SmallBackend(), etcd + "small.db"));
  RETURN_IF_ERROR(Copy(etcd + "small.db", etcd + "small512.db", small_pages));

  for (const std::string& seed :
       {bolt + "empty.db", bolt + "inline.db", bolt + "pages512.db", bolt + "no_inline512.db",
        bolt + "nested.db", etcd + "empty.db", etcd + "small.db", etcd + "small512.db"}) {
    ASSIGN_OR_RETURN(std::unique_ptr<bbolt::Reader> r, bbolt::Reader::Open(seed));
    RETURN_IF_ERROR(r->Check());
    std::printf("%s: %llu pages of %u bytes\n", seed.c_str(),
                static_cast<unsigned long long>(r->meta().high_water), r->meta().page_size);
  }
  return WriteStoreSeeds(corpus);
}

}  // namespace
}  // namespace rametcd::fuzz

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <corpus dir>  (e.g. tests/fuzz/corpus)\n", argv[0]);
    return 2;
  }
  if (absl::Status s = rametcd::fuzz::WriteSeeds(argv[1]); !s.ok()) {
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
    return 1;
  }
  return 0;
}
