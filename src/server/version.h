// The etcd versions rametcd reports: in Status.version, /version and the
// etcd_server_version metric.
//
// rametcd implements the etcd v3 API as etcd 3.5 serves it, including the 3.5.13 behaviour of
// WatchProgressRequest that kube-apiserver relies on for consistent lists from its watch cache:
// kube-apiserver only sends progress requests when Status.version is at least 3.4.31 or 3.5.13.
#ifndef RAMETCD_SERVER_VERSION_H_
#define RAMETCD_SERVER_VERSION_H_

namespace rametcd::server {

inline constexpr char kEtcdServerVersion[] = "3.5.13";
inline constexpr char kEtcdClusterVersion[] = "3.5.0";

}  // namespace rametcd::server

#endif  // RAMETCD_SERVER_VERSION_H_
