#include "server/member_identity.h"

#include <string_view>

namespace rametcd::server {
namespace {

uint64_t Fnv1a(std::string_view data, uint64_t hash = 14695981039346656037ull) {
  for (unsigned char c : data) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  return hash;
}

uint64_t NonZero(uint64_t v) { return v == 0 ? 1 : v; }

}  // namespace

MemberIdentity MemberIdentity::Derive(const std::string& name,
                                      const std::vector<std::string>& client_urls,
                                      const std::vector<std::string>& peer_urls) {
  uint64_t member = Fnv1a("rametcd-member:");
  member = Fnv1a(name, member);
  for (const std::string& url : client_urls) member = Fnv1a("|" + url, member);
  MemberIdentity id;
  id.name = name;
  id.client_urls = client_urls;
  id.peer_urls = peer_urls;
  id.member_id = NonZero(member);
  id.cluster_id = NonZero(Fnv1a("rametcd-cluster:" + std::to_string(id.member_id)));
  return id;
}

}  // namespace rametcd::server
