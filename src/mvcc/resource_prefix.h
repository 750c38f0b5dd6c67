// Maps a key to the Kubernetes resource prefix it belongs to, if any.
//
// kube-apiserver stores objects under /registry/<resource>/... for core and built-in resources
// and under /registry/<group>/<resource>/... for API groups (group names contain a dot, e.g.
// apiextensions.k8s.io). Each such prefix gets its own ordered index and, later, its own WAL file.
// Every key that starts with a prefix maps to it, so prefix blocks never overlap.
#ifndef RAMETCD_MVCC_RESOURCE_PREFIX_H_
#define RAMETCD_MVCC_RESOURCE_PREFIX_H_

#include <string_view>

namespace rametcd::mvcc {

// Returns the resource prefix of `key` (a prefix of `key` ending in '/'), or an empty view for
// keys outside any resource prefix.
std::string_view ResourcePrefixOf(std::string_view key);

}  // namespace rametcd::mvcc

#endif  // RAMETCD_MVCC_RESOURCE_PREFIX_H_
