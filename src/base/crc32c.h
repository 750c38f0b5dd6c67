// CRC32C (Castagnoli), the checksum of every record rametcd writes to disk.
//
// Computed by ISA-L (libisal), which uses the SSE4.2 crc32 instruction or wider vector code where
// the CPU has it. Crc32c("123456789") == 0xE3069283, the standard check value.
#ifndef RAMETCD_BASE_CRC32C_H_
#define RAMETCD_BASE_CRC32C_H_

#include <cstdint>
#include <string_view>

#include "isa-l/crc.h"

namespace rametcd {

// Extends `crc` (the CRC32C of earlier bytes, 0 for none) with `data`.
inline uint32_t Crc32cExtend(uint32_t crc, std::string_view data) {
  // ISA-L's crc32_iscsi works on the inverted register and does not invert the result.
  return ~crc32_iscsi(reinterpret_cast<unsigned char*>(const_cast<char*>(data.data())),
                      static_cast<int>(data.size()), ~crc);
}

inline uint32_t Crc32c(std::string_view data) { return Crc32cExtend(0, data); }

}  // namespace rametcd

#endif  // RAMETCD_BASE_CRC32C_H_
