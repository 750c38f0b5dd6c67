#include "base/etcd_errors.h"

namespace rametcd::etcd_errors {

absl::Status EmptyKey() { return absl::InvalidArgumentError("etcdserver: key is not provided"); }
absl::Status KeyNotFound() { return absl::InvalidArgumentError("etcdserver: key not found"); }
absl::Status ValueProvided() { return absl::InvalidArgumentError("etcdserver: value is provided"); }
absl::Status LeaseProvided() { return absl::InvalidArgumentError("etcdserver: lease is provided"); }
absl::Status TooManyOps() {
  return absl::InvalidArgumentError("etcdserver: too many operations in txn request");
}
absl::Status DuplicateKey() {
  return absl::InvalidArgumentError("etcdserver: duplicate key given in txn request");
}
absl::Status RequestTooLarge() {
  return absl::InvalidArgumentError("etcdserver: request is too large");
}
absl::Status InvalidSortOption() {
  return absl::InvalidArgumentError("etcdserver: invalid sort option");
}
absl::Status Compacted() {
  return absl::OutOfRangeError("etcdserver: mvcc: required revision has been compacted");
}
absl::Status FutureRev() {
  return absl::OutOfRangeError("etcdserver: mvcc: required revision is a future revision");
}
absl::Status LeaseNotFound() {
  return absl::NotFoundError("etcdserver: requested lease not found");
}
absl::Status TooManyRequests() {
  return absl::ResourceExhaustedError("etcdserver: too many requests");
}

absl::Status NoSpace() {
  return absl::ResourceExhaustedError("etcdserver: mvcc: database space exceeded");
}

}  // namespace rametcd::etcd_errors
