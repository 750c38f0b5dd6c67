// Test support for the bbolt and snapshot tests: runs the reference etcdctl (3.4) on bbolt files
// and computes, with our Reader, what `etcdctl snapshot status` reports, so the two can be
// compared. Header-only: used by tests/bbolt and tests/snapshot.
#ifndef RAMETCD_TESTS_SNAPSHOT_ETCD_TOOLS_H_
#define RAMETCD_TESTS_SNAPSHOT_ETCD_TOOLS_H_

#include <cstdint>
#include <cstdlib>
#include <regex>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "base/crc32c.h"
#include "bbolt/reader.h"
#include "grpcpp/security/credentials.h"  // before server_process.h, which uses it
#include "support/server_process.h"

namespace rametcd::testing {

// What `etcdctl snapshot status -w json` prints.
struct SnapshotStatus {
  uint32_t hash = 0;
  int64_t revision = 0;
  int64_t total_key = 0;
  int64_t total_size = 0;

  bool operator==(const SnapshotStatus&) const = default;
};

inline std::ostream& operator<<(std::ostream& os, const SnapshotStatus& s) {
  return os << "{hash " << s.hash << ", revision " << s.revision << ", totalKey " << s.total_key
            << ", totalSize " << s.total_size << "}";
}

inline bool HaveEtcdctl() {
  ::setenv("ETCDCTL_API", "3", 1);
  return RunCommand({"etcdctl", "version"}).exit_code == 0;
}

inline absl::StatusOr<SnapshotStatus> EtcdctlSnapshotStatus(const std::string& path) {
  ::setenv("ETCDCTL_API", "3", 1);
  CommandResult r = RunCommand({"etcdctl", "snapshot", "status", path, "-w", "json"});
  if (r.exit_code != 0) {
    return absl::InternalError(
        absl::StrCat("etcdctl snapshot status ", path, " failed: ", r.output));
  }
  SnapshotStatus s;
  auto field = [&](const char* name, auto* out) -> bool {
    std::smatch m;
    const std::regex re(std::string("\"") + name + "\":(-?[0-9]+)");
    if (!std::regex_search(r.output, m, re)) return false;
    *out = static_cast<std::remove_pointer_t<decltype(out)>>(std::stoll(m[1].str()));
    return true;
  };
  if (!field("hash", &s.hash) || !field("revision", &s.revision) ||
      !field("totalKey", &s.total_key) || !field("totalSize", &s.total_size)) {
    return absl::InternalError("unexpected etcdctl output: " + r.output);
  }
  return s;
}

// What etcdctl computes: CRC32C over every bucket name followed by its keys and values, the main
// revision of the last entry of bucket "key", the number of entries and the used size.
inline absl::StatusOr<SnapshotStatus> ComputeSnapshotStatus(const bbolt::Reader& reader) {
  SnapshotStatus s;
  auto names = reader.BucketNames();
  if (!names.ok()) return names.status();
  uint32_t crc = 0;
  for (const std::string& name : *names) {
    crc = Crc32cExtend(crc, name);
    absl::Status st = reader.ForEach(name, [&](const bbolt::Reader::Entry& e) {
      crc = Crc32cExtend(crc, e.key);
      if (!e.is_bucket) crc = Crc32cExtend(crc, e.value);  // bbolt gives a nil value for buckets
      if (name == "key" && e.key.size() >= 8) {
        uint64_t main = 0;
        for (int i = 0; i < 8; ++i) main = (main << 8) | static_cast<unsigned char>(e.key[i]);
        s.revision = static_cast<int64_t>(main);
      }
      ++s.total_key;
      return absl::OkStatus();
    });
    if (!st.ok()) return st;
  }
  s.hash = crc;
  s.total_size = static_cast<int64_t>(reader.meta().high_water * reader.meta().page_size);
  return s;
}

}  // namespace rametcd::testing

#endif  // RAMETCD_TESTS_SNAPSHOT_ETCD_TOOLS_H_
