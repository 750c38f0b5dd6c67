// The byte layout of a bbolt database file (the storage engine behind etcd's backend), shared by
// the Writer and the Reader. docs/bbolt-format.md describes it in prose.
//
//   file          := page*                      page i starts at byte i * page-size
//   page          := page-header body           one page, or 1 + overflow contiguous pages
//   page-header   := id:u64 flags:u16 count:u16 overflow:u32                   (16 bytes)
//   meta body     := magic:u32 version:u32 page-size:u32 flags:u32 root:u64 sequence:u64
//                    freelist:u64 high-water:u64 txid:u64 checksum:u64         (64 bytes)
//                    checksum = FNV-1a 64 of the 56 meta bytes before it
//   freelist body := [total:u64 if count == 0xFFFF] pgid:u64 * (count or total)
//   branch body   := branch-element{count} key-bytes...
//   branch-elem   := pos:u32 key-size:u32 child:u64                            (16 bytes)
//   leaf body     := leaf-element{count} key-and-value-bytes...
//   leaf-elem     := flags:u32 pos:u32 key-size:u32 value-size:u32             (16 bytes)
//                    pos is counted from the element's own first byte
//   bucket value  := root:u64 sequence:u64 [inline leaf page when root == 0]
//
// Integers are little-endian (bbolt writes the host's order; every platform etcd ships on is
// little-endian). Pages 0 and 1 are meta pages; a reader uses the valid one with the higher txid.
//
// Thread safety: the functions are pure.
#ifndef RAMETCD_BBOLT_FORMAT_H_
#define RAMETCD_BBOLT_FORMAT_H_

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace rametcd::bbolt {

inline constexpr uint32_t kMagic = 0xED0CDAED;
inline constexpr uint32_t kVersion = 2;
inline constexpr uint32_t kDefaultPageSize = 4096;
inline constexpr uint32_t kMinPageSize = 512;
inline constexpr uint32_t kMaxPageSize = 1u << 16;

inline constexpr size_t kPageHeaderSize = 16;
inline constexpr size_t kElementSize = 16;  // branch and leaf elements alike
inline constexpr size_t kBucketHeaderSize = 16;
inline constexpr size_t kMetaSize = 64;
inline constexpr size_t kMetaChecksumOffset = 56;  // the checksum covers meta bytes [0, 56)

// Page header flags.
inline constexpr uint16_t kBranchPage = 0x01;
inline constexpr uint16_t kLeafPage = 0x02;
inline constexpr uint16_t kMetaPage = 0x04;
inline constexpr uint16_t kFreelistPage = 0x10;

// Leaf element flags.
inline constexpr uint32_t kBucketLeafFlag = 0x01;

// meta.freelist when the freelist is not stored (bbolt's NoFreelistSync, which etcd uses): a
// reader then treats every unreachable page as free.
inline constexpr uint64_t kNoFreelist = ~uint64_t{0};
// page-header.count of a freelist page whose id count does not fit in 16 bits.
inline constexpr uint16_t kFreelistCountInBody = 0xFFFF;

// bbolt's limits on what a Put may store.
inline constexpr size_t kMaxKeySize = 32768;
inline constexpr size_t kMaxValueSize = (size_t{1} << 31) - 2;

struct PageHeader {
  uint64_t id = 0;
  uint16_t flags = 0;
  uint16_t count = 0;
  uint32_t overflow = 0;  // pages after the first one that belong to this page
};

struct Meta {
  uint32_t magic = kMagic;
  uint32_t version = kVersion;
  uint32_t page_size = kDefaultPageSize;
  uint32_t flags = 0;
  uint64_t root = 0;  // the root bucket's page
  uint64_t sequence = 0;
  uint64_t freelist = 0;
  uint64_t high_water = 0;  // number of pages in use: every page id is below it
  uint64_t txid = 0;
  uint64_t checksum = 0;
};

inline uint16_t LoadU16(const char* p) {
  const auto* b = reinterpret_cast<const unsigned char*>(p);
  return static_cast<uint16_t>(b[0] | (b[1] << 8));
}
inline uint32_t LoadU32(const char* p) {
  const auto* b = reinterpret_cast<const unsigned char*>(p);
  return uint32_t{b[0]} | (uint32_t{b[1]} << 8) | (uint32_t{b[2]} << 16) | (uint32_t{b[3]} << 24);
}
inline uint64_t LoadU64(const char* p) { return LoadU32(p) | (uint64_t{LoadU32(p + 4)} << 32); }

inline void StoreU16(char* p, uint16_t v) {
  p[0] = static_cast<char>(v);
  p[1] = static_cast<char>(v >> 8);
}
inline void StoreU32(char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
inline void StoreU64(char* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<char>(v >> (8 * i));
}

// FNV-1a, 64 bits: bbolt's meta checksum.
uint64_t Fnv64a(std::string_view data);

// REQUIRES: `p` has kPageHeaderSize bytes.
PageHeader DecodePageHeader(const char* p);
void EncodePageHeader(const PageHeader& header, char* p);

// REQUIRES: `p` has kMetaSize bytes. Decoding keeps the stored checksum; MetaChecksum() computes
// the one the bytes should have.
Meta DecodeMeta(const char* p);
uint64_t MetaChecksum(const char* p);
// Encodes `meta` with a freshly computed checksum (meta.checksum is ignored).
void EncodeMeta(const Meta& meta, char* p);

// Appends a bucket header (the value of a bucket's leaf element, before any inline page).
void AppendBucketHeader(uint64_t root, uint64_t sequence, std::string* out);

}  // namespace rametcd::bbolt

#endif  // RAMETCD_BBOLT_FORMAT_H_
