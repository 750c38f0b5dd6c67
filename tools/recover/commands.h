// The subcommands of `rametcd-recover`, the offline tool for a rametcd data dir's WAL (see
// docs/wal-format.md): verify, dump, repair and compact. Each returns the process exit code and
// writes its report to `out` and its errors to `err`.
//
// Exit codes: 0 success (verify: clean), 1 verify found only torn tails at the end of streams'
// newest logs, 2 usage errors (main.cc), 3 damage that needs attention (corruption; a damaged
// checkpoint), 4 the data dir cannot be read or is locked by a running server.
//
// Thread safety: single-threaded; repair and compact take the data dir's lock, so they never run
// alongside a server on the same dir.
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

}  // namespace rametcd::recover

#endif  // RAMETCD_TOOLS_RECOVER_COMMANDS_H_
