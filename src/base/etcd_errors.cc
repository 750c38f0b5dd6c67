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
absl::Status MemberNotFound() { return absl::NotFoundError("etcdserver: member not found"); }
absl::Status NotCapable() { return absl::FailedPreconditionError("etcdserver: not capable"); }
absl::Status BadLeaderTransferee() {
  return absl::FailedPreconditionError("etcdserver: bad leader transferee");
}
absl::Status MemberNotLearner() {
  return absl::FailedPreconditionError("etcdserver: can only promote a learner member");
}
absl::Status AuthNotEnabled() {
  return absl::FailedPreconditionError("etcdserver: authentication is not enabled");
}
absl::Status RootUserNotExist() {
  return absl::FailedPreconditionError("etcdserver: root user does not exist");
}
absl::Status UserNotFound() {
  return absl::FailedPreconditionError("etcdserver: user name not found");
}
absl::Status RoleNotFound() {
  return absl::FailedPreconditionError("etcdserver: role name not found");
}
absl::Status UserEmpty() { return absl::InvalidArgumentError("etcdserver: user name is empty"); }
absl::Status RoleEmpty() { return absl::InvalidArgumentError("etcdserver: role name is empty"); }
absl::Status TooManyRequests() {
  return absl::ResourceExhaustedError("etcdserver: too many requests");
}

absl::Status NoSpace() {
  return absl::ResourceExhaustedError("etcdserver: mvcc: database space exceeded");
}

}  // namespace rametcd::etcd_errors
