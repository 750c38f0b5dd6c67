#include "mvcc/resource_prefix.h"

namespace rametcd::mvcc {

std::string_view ResourcePrefixOf(std::string_view key) {
  constexpr std::string_view kRoot = "/registry/";
  if (key.substr(0, kRoot.size()) != kRoot) return {};
  size_t first_end = key.find('/', kRoot.size());
  if (first_end == std::string_view::npos || first_end == kRoot.size()) return {};
  std::string_view first = key.substr(kRoot.size(), first_end - kRoot.size());
  if (first.find('.') == std::string_view::npos) return key.substr(0, first_end + 1);
  // An API group: the resource is the next segment.
  size_t second_end = key.find('/', first_end + 1);
  if (second_end == std::string_view::npos || second_end == first_end + 1) return {};
  return key.substr(0, second_end + 1);
}

}  // namespace rametcd::mvcc
