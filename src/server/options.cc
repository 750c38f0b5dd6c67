#include "server/options.h"

#include <functional>
#include <map>
#include <optional>
#include <string_view>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/status_macros.h"

namespace rametcd::server {
namespace {

struct FlagSpec {
  bool is_bool;
  std::string help;
  std::function<absl::Status(CommandLine&, const std::string&)> set;
};

absl::Status ParsePositive(const std::string& flag, const std::string& value, int64_t* out) {
  if (!absl::SimpleAtoi(value, out) || *out <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("invalid value \"", value, "\" for flag --",
                                                   flag, ": want a positive integer"));
  }
  return absl::OkStatus();
}

absl::Status ParsePositiveDuration(const std::string& flag, const std::string& value,
                                   absl::Duration* out) {
  if (!absl::ParseDuration(value, out) || *out <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat("invalid value \"", value, "\" for flag --",
                                                   flag, ": want a duration like 10m or 500ms"));
  }
  return absl::OkStatus();
}

// Prefixes a flag's name to a value error.
absl::Status ForFlag(const std::string& flag, absl::Status status) {
  if (status.ok()) return status;
  return absl::InvalidArgumentError(absl::StrCat("flag --", flag, ": ", status.message()));
}

std::vector<std::string> SplitUrls(const std::string& value) {
  return absl::StrSplit(value, ',', absl::SkipWhitespace());
}

const std::map<std::string, FlagSpec>& Flags() {
  static const auto* flags = new std::map<std::string, FlagSpec>{
      {"name",
       {false, "Human-readable name for this member (default \"default\").",
        [](CommandLine& c, const std::string& v) {
          c.options.name = v;
          return absl::OkStatus();
        }}},
      {"data-dir",
       {false, "Path to the data directory (default \"<name>.etcd\").",
        [](CommandLine& c, const std::string& v) {
          c.options.data_dir = v;
          return absl::OkStatus();
        }}},
      {"listen-client-urls",
       {false, "Comma-separated http:// URLs to serve clients on (default http://127.0.0.1:2379).",
        [](CommandLine& c, const std::string& v) -> absl::Status {
          c.options.listen_addresses.clear();
          for (const std::string& url : SplitUrls(v)) {
            ASSIGN_OR_RETURN(std::string address, ListenAddressFromUrl(url));
            c.options.listen_addresses.push_back(address);
          }
          if (c.options.listen_addresses.empty()) {
            return absl::InvalidArgumentError("--listen-client-urls: no URL given");
          }
          return absl::OkStatus();
        }}},
      {"advertise-client-urls",
       {false, "Comma-separated client URLs to advertise (default http://127.0.0.1:2379).",
        [](CommandLine& c, const std::string& v) {
          c.options.advertise_client_urls = SplitUrls(v);
          return absl::OkStatus();
        }}},
      {"max-request-bytes",
       {false, "Maximum client request size in bytes (default 1572864).",
        [](CommandLine& c, const std::string& v) {
          return ParsePositive("max-request-bytes", v, &c.options.max_request_bytes);
        }}},
      {"max-txn-ops",
       {false, "Maximum number of operations permitted in a transaction (default 128).",
        [](CommandLine& c, const std::string& v) {
          return ParsePositive("max-txn-ops", v, &c.options.max_txn_ops);
        }}},
      {"max-pending-requests",
       {false,
        "Requests queued for the store before clients get \"too many requests\" (default "
        "100000).",
        [](CommandLine& c, const std::string& v) {
          return ParsePositive("max-pending-requests", v, &c.options.max_pending_requests);
        }}},
      {"experimental-watch-progress-notify-interval",
       {false, "Interval of progress notifications for watches that request them (default 10m).",
        [](CommandLine& c, const std::string& v) {
          return ParsePositiveDuration("experimental-watch-progress-notify-interval", v,
                                       &c.options.watch_progress_notify_interval);
        }}},
      {"watch-history-max-events",
       {false, "Most events kept for watches to catch up from (default 1000000).",
        [](CommandLine& c, const std::string& v) {
          return ParsePositive("watch-history-max-events", v, &c.options.watch_history_max_events);
        }}},
      {"watch-history-max-bytes",
       {false, "Most bytes of events kept for watches to catch up from (default 536870912).",
        [](CommandLine& c, const std::string& v) {
          return ParsePositive("watch-history-max-bytes", v, &c.options.watch_history_max_bytes);
        }}},
      {"watch-stream-max-bytes",
       {false,
        "Bytes of responses queued per watch stream before its slow watchers are caught up "
        "later from the history (default 4194304).",
        [](CommandLine& c, const std::string& v) {
          return ParsePositive("watch-stream-max-bytes", v, &c.options.watch_stream_max_bytes);
        }}},
      {"wal-default",
       {false,
        "Durability of keys whose prefix has no --wal-prefix-mode: none, buffered or fsync "
        "(default buffered).",
        [](CommandLine& c, const std::string& v) -> absl::Status {
          auto mode = wal::ParseMode(v);
          if (!mode.ok()) return ForFlag("wal-default", mode.status());
          c.options.wal_modes.set_default_mode(*mode);
          return absl::OkStatus();
        }}},
      {"wal-prefix-mode",
       {false,
        "PREFIX=MODE: durability of one Kubernetes resource prefix, e.g. "
        "/registry/events/=none (repeatable).",
        [](CommandLine& c, const std::string& v) {
          return ForFlag("wal-prefix-mode", c.options.wal_modes.AddPrefix(v));
        }}},
      {"wal-flush-interval",
       {false,
        "Longest time a buffered write waits before it is written to its file (default 2ms).",
        [](CommandLine& c, const std::string& v) {
          return ParsePositiveDuration("wal-flush-interval", v, &c.options.wal_flush_interval);
        }}},
      {"wal-io-backend",
       {false, "auto (io_uring, else pwrite), io_uring or posix (default auto).",
        [](CommandLine& c, const std::string& v) -> absl::Status {
          auto kind = wal::ParseIoKind(v);
          if (!kind.ok()) return ForFlag("wal-io-backend", kind.status());
          c.options.wal_io = *kind;
          return absl::OkStatus();
        }}},
      {"wal-skip-damaged",
       {true,
        "Start even if the data dir holds corrupt records, loading what is readable (default "
        "false: refuse to start).",
        [](CommandLine& c, const std::string& v) {
          c.options.wal_skip_damaged = v == "true";
          return absl::OkStatus();
        }}},
      {"wal-segment-bytes",
       {false,
        "Size at which a stream's log segment is closed and a new one begun (default 67108864).",
        [](CommandLine& c, const std::string& v) {
          return ParsePositive("wal-segment-bytes", v, &c.options.wal_segment_bytes);
        }}},
      {"wal-max-backlog-bytes",
       {false,
        "Bytes of changes waiting to be written before writes get \"too many requests\" "
        "(default 268435456).",
        [](CommandLine& c, const std::string& v) {
          return ParsePositive("wal-max-backlog-bytes", v, &c.options.wal_max_backlog_bytes);
        }}},
      {"log-level",
       {false, "debug, info, warn or error (default info).",
        [](CommandLine& c, const std::string& v) -> absl::Status {
          if (!ParseLogLevel(v, &c.options.log_level)) {
            return absl::InvalidArgumentError(
                absl::StrCat("invalid value \"", v, "\" for flag --log-level"));
          }
          return absl::OkStatus();
        }}},
      {"help",
       {true, "Print this help and exit.",
        [](CommandLine& c, const std::string& v) {
          c.help = v == "true";
          return absl::OkStatus();
        }}},
      {"version",
       {true, "Print the version and exit.",
        [](CommandLine& c, const std::string& v) {
          c.version = v == "true";
          return absl::OkStatus();
        }}},
  };
  return *flags;
}

}  // namespace

absl::StatusOr<std::string> ListenAddressFromUrl(const std::string& url) {
  constexpr std::string_view kHttp = "http://";
  if (url.rfind(kHttp, 0) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "unsupported client URL \"", url, "\": only http://host:port is supported (no TLS yet)"));
  }
  std::string host_port = url.substr(kHttp.size());
  if (!host_port.empty() && host_port.back() == '/') host_port.pop_back();
  size_t colon = host_port.rfind(':');
  int port = 0;
  if (colon == std::string::npos || colon == 0 ||
      !absl::SimpleAtoi(host_port.substr(colon + 1), &port) || port < 0 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid client URL \"", url, "\": want http://host:port"));
  }
  return host_port;
}

absl::StatusOr<CommandLine> ParseCommandLine(int argc, const char* const* argv) {
  CommandLine cl;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg.size() < 2 || arg[0] != '-') {
      return absl::InvalidArgumentError(
          absl::StrCat("unexpected argument \"", std::string(arg), "\""));
    }
    arg.remove_prefix(arg[1] == '-' ? 2 : 1);
    std::string name(arg.substr(0, arg.find('=')));
    std::optional<std::string> value;
    if (size_t eq = arg.find('='); eq != std::string_view::npos) {
      value = std::string(arg.substr(eq + 1));
    }
    auto it = Flags().find(name);
    if (it == Flags().end()) {
      return absl::InvalidArgumentError(absl::StrCat("flag provided but not defined: -", name));
    }
    const FlagSpec& spec = it->second;
    if (spec.is_bool) {
      if (!value) value = "true";
      if (*value != "true" && *value != "false") {
        return absl::InvalidArgumentError(
            absl::StrCat("invalid boolean value \"", *value, "\" for flag --", name));
      }
    } else if (!value) {
      if (i + 1 >= argc) {
        return absl::InvalidArgumentError(absl::StrCat("flag needs an argument: --", name));
      }
      value = argv[++i];
    }
    RETURN_IF_ERROR(spec.set(cl, *value));
  }
  if (cl.options.data_dir.empty()) cl.options.data_dir = cl.options.name + ".etcd";
  return cl;
}

std::string UsageText() {
  std::string text =
      "Usage: rametcd [flags]\n\n"
      "rametcd is an in-memory etcd v3 server. It speaks etcd's gRPC API on the client URLs.\n\n"
      "Flags:\n";
  for (const auto& [name, spec] : Flags()) {
    absl::StrAppend(&text, "  --", name, spec.is_bool ? "" : " <value>", "\n      ", spec.help,
                    "\n");
  }
  return text;
}

}  // namespace rametcd::server
