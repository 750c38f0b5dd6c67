// The JSON form in which etcd 3.4 stores a cluster member in its backend's "members" bucket
// (keyed by the member ID in lowercase hex without leading zeros):
//
//   {"id":<decimal uint64>,"peerURLs":[<string>,...],"isLearner":true,"name":<string>,
//    "clientURLs":[<string>,...]}
//
// Field order is fixed; "isLearner" appears only when true, "name" and "clientURLs" only when not
// empty, and "peerURLs" is null when empty. Strings are escaped as Go's encoding/json does
// (\" \\ \n \r \t, other control characters and < > & U+2028 U+2029 as \u00XX/\uXXXX, invalid
// UTF-8 as U+FFFD), so a member encodes to the bytes etcd writes.
//
// Thread safety: the functions are pure.
#ifndef RAMETCD_SNAPSHOT_MEMBER_JSON_H_
#define RAMETCD_SNAPSHOT_MEMBER_JSON_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace rametcd::snapshot {

struct MemberRecord {
  uint64_t id = 0;
  std::string name;
  std::vector<std::string> peer_urls;
  std::vector<std::string> client_urls;
  bool is_learner = false;

  bool operator==(const MemberRecord&) const = default;
};

// The bucket key for a member: strconv.FormatUint(id, 16).
std::string MemberKey(uint64_t id);
std::string EncodeMemberJson(const MemberRecord& member);
// Accepts any valid JSON object; unknown fields are skipped. Errors: InvalidArgument saying what
// is wrong (not JSON, wrong field type, id missing or not an unsigned 64-bit integer).
absl::StatusOr<MemberRecord> DecodeMemberJson(std::string_view json);

}  // namespace rametcd::snapshot

#endif  // RAMETCD_SNAPSHOT_MEMBER_JSON_H_
