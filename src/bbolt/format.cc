#include "bbolt/format.h"

namespace rametcd::bbolt {

uint64_t Fnv64a(std::string_view data) {
  constexpr uint64_t kOffsetBasis = 14695981039346656037ull;
  constexpr uint64_t kPrime = 1099511628211ull;
  uint64_t h = kOffsetBasis;
  for (unsigned char c : data) {
    h ^= c;
    h *= kPrime;
  }
  return h;
}

PageHeader DecodePageHeader(const char* p) {
  PageHeader h;
  h.id = LoadU64(p);
  h.flags = LoadU16(p + 8);
  h.count = LoadU16(p + 10);
  h.overflow = LoadU32(p + 12);
  return h;
}

void EncodePageHeader(const PageHeader& header, char* p) {
  StoreU64(p, header.id);
  StoreU16(p + 8, header.flags);
  StoreU16(p + 10, header.count);
  StoreU32(p + 12, header.overflow);
}

Meta DecodeMeta(const char* p) {
  Meta m;
  m.magic = LoadU32(p);
  m.version = LoadU32(p + 4);
  m.page_size = LoadU32(p + 8);
  m.flags = LoadU32(p + 12);
  m.root = LoadU64(p + 16);
  m.sequence = LoadU64(p + 24);
  m.freelist = LoadU64(p + 32);
  m.high_water = LoadU64(p + 40);
  m.txid = LoadU64(p + 48);
  m.checksum = LoadU64(p + 56);
  return m;
}

uint64_t MetaChecksum(const char* p) { return Fnv64a(std::string_view(p, kMetaChecksumOffset)); }

void EncodeMeta(const Meta& meta, char* p) {
  StoreU32(p, meta.magic);
  StoreU32(p + 4, meta.version);
  StoreU32(p + 8, meta.page_size);
  StoreU32(p + 12, meta.flags);
  StoreU64(p + 16, meta.root);
  StoreU64(p + 24, meta.sequence);
  StoreU64(p + 32, meta.freelist);
  StoreU64(p + 40, meta.high_water);
  StoreU64(p + 48, meta.txid);
  StoreU64(p + 56, MetaChecksum(p));
}

void AppendBucketHeader(uint64_t root, uint64_t sequence, std::string* out) {
  char b[kBucketHeaderSize];
  StoreU64(b, root);
  StoreU64(b + 8, sequence);
  out->append(b, sizeof(b));
}

}  // namespace rametcd::bbolt
