// This Debian abseil's absl::string_view is its own type, not std::string_view; AbslView() lets
// std::string_view values reach absl::StrCat and friends without a temporary std::string.
#ifndef RAMETCD_BASE_ABSL_VIEW_H_
#define RAMETCD_BASE_ABSL_VIEW_H_

#include <string_view>

#include "absl/strings/string_view.h"

namespace rametcd {

inline absl::string_view AbslView(std::string_view s) { return {s.data(), s.size()}; }

}  // namespace rametcd

#endif  // RAMETCD_BASE_ABSL_VIEW_H_
