// KeyRange: etcd's (key, range_end) pair turned into an explicit interval.
//
// etcd encodes ranges in two byte strings: an empty range_end means the single key, "\0" means
// every key >= key, and anything else is the half-open interval [key, range_end) (empty when
// range_end <= key). KeyRange names those cases so that no caller re-derives them.
//
// A KeyRange holds views into the request's strings: it must not outlive them.
#ifndef RAMETCD_MVCC_KEY_RANGE_H_
#define RAMETCD_MVCC_KEY_RANGE_H_

#include <string>
#include <string_view>

namespace rametcd::mvcc {

struct KeyRange {
  std::string_view begin;
  // Exclusive upper bound; meaningful only when !single && !unbounded.
  std::string_view end;
  bool single = false;     // exactly `begin`
  bool unbounded = false;  // every key >= begin

  static KeyRange FromRequest(std::string_view key, std::string_view range_end);

  // True when the interval can hold no key at all (range_end <= key).
  bool Empty() const { return !single && !unbounded && end <= begin; }
  bool Contains(std::string_view k) const {
    if (single) return k == begin;
    return k >= begin && (unbounded || k < end);
  }
  // True when every key starting with `prefix` lies inside this range.
  bool CoversPrefix(std::string_view prefix) const;
};

// The smallest key greater than every key starting with `prefix` (etcd's GetPrefixRangeEnd):
// increments the last byte below 0xff after dropping trailing 0xff bytes; "\0" (all keys) when no
// such byte exists.
std::string PrefixEnd(std::string_view prefix);

}  // namespace rametcd::mvcc

#endif  // RAMETCD_MVCC_KEY_RANGE_H_
