// AlarmList: the member's raised alarms (etcd's Maintenance.Alarm), e.g. NOSPACE when the disk
// is full. While NOSPACE is raised, writes that add data are refused with "etcdserver: mvcc:
// database space exceeded", as etcd does; deletes and compactions still go through so that space
// can be freed. An operator disarms it (`etcdctl alarm disarm`) once space is back.
//
// Thread safety: none; owned by the apply loop and used on its thread only.
#ifndef RAMETCD_SERVER_ALARM_LIST_H_
#define RAMETCD_SERVER_ALARM_LIST_H_

#include <cstdint>
#include <set>
#include <utility>
#include <vector>

#include "etcd/api/etcdserverpb/rpc.pb.h"

namespace rametcd::server {

class AlarmList {
 public:
  using Alarm = etcdserverpb::AlarmType;

  // Returns false if it was already raised.
  bool Activate(uint64_t member, Alarm alarm) { return alarms_.insert({alarm, member}).second; }
  // Returns false if it was not raised.
  bool Deactivate(uint64_t member, Alarm alarm) { return alarms_.erase({alarm, member}) > 0; }
  bool Has(Alarm alarm) const {
    auto it = alarms_.lower_bound({alarm, 0});
    return it != alarms_.end() && it->first == alarm;
  }
  // Every raised alarm of type `alarm`, or all of them for NONE.
  std::vector<std::pair<Alarm, uint64_t>> List(Alarm alarm) const {
    std::vector<std::pair<Alarm, uint64_t>> out;
    for (const auto& a : alarms_) {
      if (alarm == etcdserverpb::NONE || a.first == alarm) out.push_back(a);
    }
    return out;
  }

 private:
  std::set<std::pair<Alarm, uint64_t>> alarms_;  // (type, member)
};

}  // namespace rametcd::server

#endif  // RAMETCD_SERVER_ALARM_LIST_H_
