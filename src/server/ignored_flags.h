// The etcd flags rametcd accepts without acting on them: clustering, peer TLS, raft tuning, v2,
// proxy and discovery flags, and every --experimental-* flag it does not implement. Deployments
// written for etcd (a kubeadm static pod, a systemd unit, k3s' datastore flags) pass them; a
// single in-memory member has nothing to do with them, so each is logged once as ignored instead
// of refusing to start.
#ifndef RAMETCD_SERVER_IGNORED_FLAGS_H_
#define RAMETCD_SERVER_IGNORED_FLAGS_H_

#include <optional>
#include <string_view>

namespace rametcd::server {

struct IgnoredFlag {
  bool takes_value;
  // For --experimental-* flags rametcd does not list: they may be booleans, so a following
  // argument is taken as the value only if it is not a flag.
  bool value_optional = false;
};

// The flag `name` (without dashes) if etcd has it and rametcd ignores it.
std::optional<IgnoredFlag> FindIgnoredFlag(std::string_view name);

}  // namespace rametcd::server

#endif  // RAMETCD_SERVER_IGNORED_FLAGS_H_
