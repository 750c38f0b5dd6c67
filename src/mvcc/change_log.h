// ChangeLog: what the Store tells the durability layer. The Store calls it on its own (apply)
// thread, in commit order, right after each change took effect in memory; the implementation
// (wal/wal.h) queues the change and writes it from its own thread.
#ifndef RAMETCD_MVCC_CHANGE_LOG_H_
#define RAMETCD_MVCC_CHANGE_LOG_H_

#include <cstdint>
#include <memory>

#include "mvcc/history_ring.h"

namespace rametcd::mvcc {

class ChangeLog {
 public:
  virtual ~ChangeLog() = default;
  // A write transaction made `entry->revision`; its events carry every change in full.
  virtual void Committed(const std::shared_ptr<const RevisionEvents>& entry) = 0;
  virtual void Compacted(int64_t revision) = 0;
  virtual void LeaseGranted(int64_t id, int64_t ttl) = 0;
  // Called after the revision that deleted the lease's keys (if any) was committed.
  virtual void LeaseRevoked(int64_t id) = 0;
};

}  // namespace rametcd::mvcc

#endif  // RAMETCD_MVCC_CHANGE_LOG_H_
