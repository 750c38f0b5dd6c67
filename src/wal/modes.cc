#include "wal/modes.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "base/absl_view.h"
#include "mvcc/resource_prefix.h"
#include "wal/layout.h"

namespace rametcd::wal {

absl::StatusOr<Mode> ParseMode(std::string_view text) {
  if (text == "none") return Mode::kNone;
  if (text == "buffered") return Mode::kBuffered;
  if (text == "fsync") return Mode::kFsync;
  return absl::InvalidArgumentError(
      absl::StrCat("invalid WAL mode \"", AbslView(text), "\" (want none, buffered or fsync)"));
}

std::string_view ModeName(Mode mode) {
  switch (mode) {
    case Mode::kNone:
      return "none";
    case Mode::kBuffered:
      return "buffered";
    case Mode::kFsync:
      return "fsync";
  }
  return "?";
}

absl::Status ModeTable::AddPrefix(std::string_view spec) {
  const size_t eq = spec.rfind('=');
  if (eq == std::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("want PREFIX=MODE, got \"", AbslView(spec), "\""));
  }
  std::string_view prefix = spec.substr(0, eq);
  auto mode = ParseMode(spec.substr(eq + 1));
  if (!mode.ok()) return mode.status();
  // A resource prefix is exactly what ResourcePrefixOf() returns for the keys under it.
  if (prefix.empty() || mvcc::ResourcePrefixOf(absl::StrCat(AbslView(prefix), "x")) != prefix) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", AbslView(prefix),
                     "\" is not a Kubernetes resource prefix (like /registry/events/ or "
                     "/registry/coordination.k8s.io/leases/)"));
  }
  prefixes_[std::string(prefix)] = *mode;
  return absl::OkStatus();
}

Mode ModeTable::ForStream(std::string_view stream) const {
  if (stream == kMetaStream) return meta_mode();
  auto it = prefixes_.find(stream);
  return it == prefixes_.end() ? default_ : it->second;
}

Mode ModeTable::meta_mode() const {
  Mode strongest = default_;
  for (const auto& [prefix, mode] : prefixes_) strongest = std::max(strongest, mode);
  return strongest;
}

}  // namespace rametcd::wal
