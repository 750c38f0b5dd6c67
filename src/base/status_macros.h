// RETURN_IF_ERROR / ASSIGN_OR_RETURN for absl::Status, which this Debian abseil (20220623) does
// not ship.
#ifndef RAMETCD_BASE_STATUS_MACROS_H_
#define RAMETCD_BASE_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define RAMETCD_CONCAT_INNER_(a, b) a##b
#define RAMETCD_CONCAT_(a, b) RAMETCD_CONCAT_INNER_(a, b)

// Returns from the enclosing function with `expr`'s status when it is not OK.
#define RETURN_IF_ERROR(expr)                          \
  do {                                                 \
    ::absl::Status rametcd_status_ = (expr);           \
    if (!rametcd_status_.ok()) return rametcd_status_; \
  } while (0)

// `ASSIGN_OR_RETURN(auto x, F());` assigns the value of the StatusOr or returns its status.
#define ASSIGN_OR_RETURN(lhs, expr) \
  ASSIGN_OR_RETURN_IMPL_(RAMETCD_CONCAT_(rametcd_statusor_, __LINE__), lhs, expr)
#define ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                           \
  if (!tmp.ok()) return tmp.status();          \
  lhs = std::move(tmp).value()

#endif  // RAMETCD_BASE_STATUS_MACROS_H_
