// The errors etcd returns to clients, as absl::Status values whose codes are the gRPC codes etcd
// uses and whose messages are etcd's exact strings (the Go client matches on them).
#ifndef RAMETCD_BASE_ETCD_ERRORS_H_
#define RAMETCD_BASE_ETCD_ERRORS_H_

#include "absl/status/status.h"

namespace rametcd::etcd_errors {

// InvalidArgument
absl::Status EmptyKey();           // "etcdserver: key is not provided"
absl::Status KeyNotFound();        // "etcdserver: key not found"
absl::Status ValueProvided();      // "etcdserver: value is provided"
absl::Status LeaseProvided();      // "etcdserver: lease is provided"
absl::Status TooManyOps();         // "etcdserver: too many operations in txn request"
absl::Status DuplicateKey();       // "etcdserver: duplicate key given in txn request"
absl::Status RequestTooLarge();    // "etcdserver: request is too large"
absl::Status InvalidSortOption();  // "etcdserver: invalid sort option" (etcd 3.5+)
// OutOfRange
absl::Status Compacted();  // "etcdserver: mvcc: required revision has been compacted"
absl::Status FutureRev();  // "etcdserver: mvcc: required revision is a future revision"
// NotFound
absl::Status LeaseNotFound();   // "etcdserver: requested lease not found"
absl::Status MemberNotFound();  // "etcdserver: member not found"
// FailedPrecondition
absl::Status NotCapable();           // "etcdserver: not capable"
absl::Status BadLeaderTransferee();  // "etcdserver: bad leader transferee"
absl::Status MemberNotLearner();     // "etcdserver: can only promote a learner member"
absl::Status AuthNotEnabled();       // "etcdserver: authentication is not enabled"
absl::Status RootUserNotExist();     // "etcdserver: root user does not exist"
absl::Status UserNotFound();         // "etcdserver: user name not found"
absl::Status RoleNotFound();         // "etcdserver: role name not found"
// InvalidArgument, auth
absl::Status UserEmpty();  // "etcdserver: user name is empty"
absl::Status RoleEmpty();  // "etcdserver: role name is empty"
// ResourceExhausted
absl::Status TooManyRequests();  // "etcdserver: too many requests"
absl::Status NoSpace();          // "etcdserver: mvcc: database space exceeded"

}  // namespace rametcd::etcd_errors

#endif  // RAMETCD_BASE_ETCD_ERRORS_H_
