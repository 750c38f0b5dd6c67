#include "mvcc/key_range.h"

namespace rametcd::mvcc {

KeyRange KeyRange::FromRequest(std::string_view key, std::string_view range_end) {
  KeyRange r;
  r.begin = key;
  if (range_end.empty()) {
    r.single = true;
  } else if (range_end == std::string_view("\0", 1)) {
    r.unbounded = true;
  } else {
    r.end = range_end;
  }
  return r;
}

bool KeyRange::CoversPrefix(std::string_view prefix) const {
  if (single || begin > prefix) return false;
  if (unbounded) return true;
  std::string prefix_end = PrefixEnd(prefix);
  if (prefix_end == std::string_view("\0", 1)) return false;  // prefix reaches the key space end
  return end >= prefix_end;
}

std::string PrefixEnd(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    unsigned char last = static_cast<unsigned char>(end.back());
    if (last < 0xff) {
      end.back() = static_cast<char>(last + 1);
      return end;
    }
    end.pop_back();
  }
  return std::string("\0", 1);
}

}  // namespace rametcd::mvcc
