#include "server/ignored_flags.h"

#include <string_view>

#include "absl/container/flat_hash_map.h"

namespace rametcd::server {

std::optional<IgnoredFlag> FindIgnoredFlag(std::string_view name) {
  // etcd 3.4 and 3.5 flags, from `etcd --help`; true: the flag takes a value.
  static const auto* flags = new absl::flat_hash_map<std::string_view, bool>{
      // Clustering and peers.
      {"initial-cluster", true},
      {"initial-cluster-state", true},
      {"initial-cluster-token", true},
      {"listen-peer-urls", true},
      {"peer-cert-file", true},
      {"peer-key-file", true},
      {"peer-trusted-ca-file", true},
      {"peer-client-cert-auth", false},
      {"peer-auto-tls", false},
      {"peer-crl-file", true},
      {"peer-cert-allowed-cn", true},
      {"peer-cert-allowed-hostname", true},
      {"peer-client-cert-file", true},
      {"peer-client-key-file", true},
      {"self-signed-cert-validity", true},
      {"strict-reconfig-check", false},
      {"pre-vote", false},
      {"force-new-cluster", false},
      {"max-learners", true},
      // Raft, snapshots and the bbolt backend.
      {"snapshot-count", true},
      {"heartbeat-interval", true},
      {"election-timeout", true},
      {"max-snapshots", true},
      {"max-wals", true},
      {"wal-dir", true},
      {"backend-batch-interval", true},
      {"backend-batch-limit", true},
      {"backend-bbolt-freelist-type", true},
      {"unsafe-no-fsync", false},
      // Discovery and proxy.
      {"discovery", true},
      {"discovery-srv", true},
      {"discovery-srv-name", true},
      {"discovery-fallback", true},
      {"discovery-proxy", true},
      {"proxy", true},
      {"proxy-failure-wait", true},
      {"proxy-refresh-interval", true},
      {"proxy-dial-timeout", true},
      {"proxy-write-timeout", true},
      {"proxy-read-timeout", true},
      // Client-side extras that rametcd serves its own way.
      {"enable-v2", false},
      {"enable-grpc-gateway", false},
      {"enable-pprof", false},
      {"auto-tls", false},
      {"client-crl-file", true},
      {"client-cert-file", true},
      {"client-key-file", true},
      {"cipher-suites", true},
      {"tls-min-version", true},
      {"tls-max-version", true},
      {"cors", true},
      {"host-whitelist", true},
      {"listen-client-http-urls", true},
      {"max-concurrent-streams", true},
      {"grpc-keepalive-min-time", true},
      {"grpc-keepalive-interval", true},
      {"grpc-keepalive-timeout", true},
      {"socket-reuse-port", false},
      {"socket-reuse-address", false},
      {"metrics", true},
      // Auth (rametcd serves auth disabled) and logging plumbing.
      {"auth-token", true},
      {"auth-token-ttl", true},
      {"bcrypt-cost", true},
      {"logger", true},
      {"log-outputs", true},
      {"log-package-levels", true},
      {"enable-log-rotation", false},
      {"log-rotation-config-json", true},
  };
  auto it = flags->find(name);
  if (it != flags->end()) return IgnoredFlag{it->second};
  if (name.starts_with("experimental-")) return IgnoredFlag{true, /*value_optional=*/true};
  return std::nullopt;
}

}  // namespace rametcd::server
