// The subcommands of `rametcd-recover`, the offline tool for a rametcd data dir's WAL (see
// docs/wal-format.md): verify, dump, repair and compact; and the offline migration between etcd
// and rametcd: export-etcd-snapshot and import-etcd. Each returns the process exit code and
// writes its report to `out` and its errors to `err` (one line each).
//
// Exit codes: 0 success (verify: clean), 1 verify found only torn tails at the end of streams'
// newest logs, 2 usage errors (main.cc) and refusals to overwrite (export: FILE exists without
// --force; import: the data dir already holds data), 3 damage that needs attention (corruption;
// a damaged checkpoint; a damaged or truncated etcd file to import), 4 a file or the data dir
// cannot be read or written, or is locked by a running server (or, for import, a running etcd).
//
// Thread safety: single-threaded; repair, compact, export-etcd-snapshot and import-etcd take the
// data dir's lock, so they never run alongside a server on the same dir.
#ifndef RAMETCD_TOOLS_RECOVER_COMMANDS_H_
#define RAMETCD_TOOLS_RECOVER_COMMANDS_H_

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>

namespace rametcd::recover {

inline constexpr int kExitOk = 0;
inline constexpr int kExitTorn = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitCorrupt = 3;
inline constexpr int kExitUnreadable = 4;

// Checks every record of every stream file.
int Verify(const std::string& data_dir, std::ostream& out, std::ostream& err);

struct DumpOptions {
  std::string prefix;  // only records (and changes) of keys with this prefix, when not empty
  bool json = false;   // one JSON object per line
};
// Prints every record in stream order.
int Dump(const std::string& data_dir, const DumpOptions& options, std::ostream& out,
         std::ostream& err);

// Backs up and truncates every log segment at its first damage.
int Repair(const std::string& data_dir, const std::string& backup_dir, std::ostream& out,
           std::ostream& err);

// Rewrites every stream as one checkpoint, compacted at max(the store's compaction point,
// `revision`).
int Compact(const std::string& data_dir, std::optional<int64_t> revision, std::ostream& out,
            std::ostream& err);

// Recovers the data dir as the server would on start (cutting torn tails off) and writes its
// state as an etcd 3.4 snapshot `file` (bbolt, etcd's backend layout, sha256 trailer) that
// `etcdctl snapshot status|restore` accept: every version etcd would retain, the compaction
// point, the revision and the leases (granted TTLs). Its membership is one member, etcd's default
// ("default", http://localhost:2380); `etcdctl snapshot restore` rewrites it anyway. Written as
// `file`.tmp, then renamed; an existing `file` is replaced only with `force`.
int ExportEtcdSnapshot(const std::string& data_dir, const std::string& file, bool force,
                       std::ostream& out, std::ostream& err);

// Fills an empty (or missing) data dir from `from`: an etcd snapshot (`etcdctl snapshot save`;
// its sha256 trailer is checked when present) or a stopped etcd's member/snap/db. See
// migrate/data_dir_from_backend.h for what is written. A damaged input leaves the data dir
// without data.
int ImportEtcd(const std::string& data_dir, const std::string& from, std::ostream& out,
               std::ostream& err);

}  // namespace rametcd::recover

#endif  // RAMETCD_TOOLS_RECOVER_COMMANDS_H_
