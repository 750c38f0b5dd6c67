// Transparent hash and equality for containers keyed by std::string, so that lookups by
// std::string_view need no temporary std::string. (This Debian abseil's own transparent string
// hashing takes absl::string_view, which is not std::string_view here.)
#ifndef RAMETCD_BASE_STRING_HASH_H_
#define RAMETCD_BASE_STRING_HASH_H_

#include <cstddef>
#include <string_view>

#include "absl/hash/hash.h"

namespace rametcd {

struct StringViewHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return absl::Hash<std::string_view>{}(s); }
};

struct StringViewEq {
  using is_transparent = void;
  bool operator()(std::string_view a, std::string_view b) const { return a == b; }
};

}  // namespace rametcd

#endif  // RAMETCD_BASE_STRING_HASH_H_
