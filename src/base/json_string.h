// JSON string literals as Go's encoding/json writes them (HTML-safe escaping on, invalid UTF-8
// replaced by U+FFFD, U+2028/2029 escaped): etcd's log lines and the member records in snapshots
// are written by Go, and ours match them byte for byte.
#ifndef RAMETCD_BASE_JSON_STRING_H_
#define RAMETCD_BASE_JSON_STRING_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace rametcd {

// Appends `s` as a quoted JSON string.
void AppendJsonString(std::string_view s, std::string* out);

// Decodes one UTF-8 sequence at `s[i]`; returns its length, or 0 when it is not valid UTF-8
// (bad lead or continuation byte, overlong form, surrogate, above U+10FFFF).
size_t DecodeUtf8(std::string_view s, size_t i, uint32_t* cp);

}  // namespace rametcd

#endif  // RAMETCD_BASE_JSON_STRING_H_
