// MemberIdentity: the IDs every response header carries (cluster_id, member_id, raft_term), and
// the member as MemberList describes it.
//
// etcdctl prints them and clients use member_id to tell members apart, so they must be non-zero
// and stable across restarts of the same member: both are derived from the member name and its
// advertised client URLs with a fixed hash (FNV-1a), never from process state.
//
// Thread safety: immutable after construction.
#ifndef RAMETCD_SERVER_MEMBER_IDENTITY_H_
#define RAMETCD_SERVER_MEMBER_IDENTITY_H_

#include <cstdint>
#include <string>
#include <vector>

#include "etcd/api/etcdserverpb/rpc.pb.h"

namespace rametcd::server {

struct MemberIdentity {
  uint64_t cluster_id = 0;
  uint64_t member_id = 0;
  // A single member that is always the leader: one term for the process's whole life.
  uint64_t raft_term = 1;
  std::string name;
  std::vector<std::string> peer_urls;
  std::vector<std::string> client_urls;

  // The IDs depend on `name` and `client_urls` only.
  static MemberIdentity Derive(const std::string& name, const std::vector<std::string>& client_urls,
                               const std::vector<std::string>& peer_urls);

  void FillMember(etcdserverpb::Member* member) const {
    member->set_id(member_id);
    member->set_name(name);
    for (const std::string& url : peer_urls) member->add_peerurls(url);
    for (const std::string& url : client_urls) member->add_clienturls(url);
  }

  // Sets cluster_id, member_id and raft_term; leaves revision as the store set it.
  void Fill(etcdserverpb::ResponseHeader* header) const {
    header->set_cluster_id(cluster_id);
    header->set_member_id(member_id);
    header->set_raft_term(raft_term);
  }
};

}  // namespace rametcd::server

#endif  // RAMETCD_SERVER_MEMBER_IDENTITY_H_
