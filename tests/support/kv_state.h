// Test support: every key a server (rametcd or etcd) holds at a revision, read over gRPC in pages,
// and a comparison of two servers' whole retained histories. Used by the migration tests, which
// move data between etcd and rametcd and must show that nothing changed on the way.
//
// Thread safety: the functions use only the stubs they are given (gRPC stubs are thread-safe).
#ifndef RAMETCD_TESTS_SUPPORT_KV_STATE_H_
#define RAMETCD_TESTS_SUPPORT_KV_STATE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "etcd/api/etcdserverpb/rpc.grpc.pb.h"

namespace rametcd::testing {

struct KvState {
  int64_t revision = 0;               // the revision the keys were read at
  std::vector<mvccpb::KeyValue> kvs;  // in key order
};

// Every key at `revision` (0: current) via paged Range (limit 1000, pinned to the first page's
// revision). Errors: the gRPC error of a failing Range (e.g. OutOfRange for a compacted
// revision), with the revision in the message.
absl::StatusOr<KvState> ReadAllKeys(etcdserverpb::KV::Stub& kv, int64_t revision = 0);

// "" when both servers hold the same current revision and, at every revision from `from_revision`
// to it, the same keys with the same value/create/mod/version/lease; otherwise a description of
// the first difference (a Range failing on either side is a difference).
std::string DiffHistories(etcdserverpb::KV::Stub& want, etcdserverpb::KV::Stub& got,
                          int64_t from_revision);

}  // namespace rametcd::testing

#endif  // RAMETCD_TESTS_SUPPORT_KV_STATE_H_
