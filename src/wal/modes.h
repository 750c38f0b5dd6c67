// Durability modes, chosen per stream (Kubernetes resource prefix):
//   none      kept in memory only; lost on any restart (the revision counter is still kept
//             unless every stream is none)
//   buffered  acknowledged at once, written to the file within the flush interval; a process
//             crash loses at most what was not yet handed to the kernel, a power loss what the
//             kernel had not yet written back
//   fsync     acknowledged only after its data is on disk (fdatasync); nothing acknowledged is
//             lost, by a crash or a power loss; concurrent writers share one fsync
//
// Thread safety: ModeTable is immutable once built and may be read from any thread.
#ifndef RAMETCD_WAL_MODES_H_
#define RAMETCD_WAL_MODES_H_

#include <string>
#include <string_view>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "base/string_hash.h"

namespace rametcd::wal {

enum class Mode { kNone = 0, kBuffered = 1, kFsync = 2 };

// Errors: InvalidArgument for anything but none, buffered or fsync.
absl::StatusOr<Mode> ParseMode(std::string_view text);
std::string_view ModeName(Mode mode);

class ModeTable {
 public:
  using PrefixModes = absl::flat_hash_map<std::string, Mode, StringViewHash, StringViewEq>;

  explicit ModeTable(Mode default_mode = Mode::kBuffered) : default_(default_mode) {}

  // `spec` is PREFIX=MODE, PREFIX a Kubernetes resource prefix such as /registry/events/ or
  // /registry/coordination.k8s.io/leases/. Errors: InvalidArgument naming what is wrong.
  absl::Status AddPrefix(std::string_view spec);

  // The mode of a stream (a resource prefix or _other); the meta stream's is meta_mode().
  Mode ForStream(std::string_view stream) const;
  // Leases, compactions and revision marks follow the strongest mode in use, so that no key
  // outlives the lease it was written with and no acknowledged revision is forgotten.
  Mode meta_mode() const;
  Mode default_mode() const { return default_; }
  void set_default_mode(Mode mode) { default_ = mode; }
  const PrefixModes& prefixes() const { return prefixes_; }

 private:
  Mode default_;
  PrefixModes prefixes_;
};

}  // namespace rametcd::wal

#endif  // RAMETCD_WAL_MODES_H_
