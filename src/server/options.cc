#include "server/options.h"

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string_view>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "base/status_macros.h"
#include "server/ignored_flags.h"

namespace rametcd::server {
namespace {

// What parsing builds: the command line, and the auto-compaction flags' raw text, which is
// interpreted once all flags are known (the mode may come after the retention).
struct ParseState {
  CommandLine cl;
  std::string auto_compaction_mode = "periodic";
  std::string auto_compaction_retention = "0";
};

struct FlagSpec {
  bool is_bool;
  std::string help;
  std::function<absl::Status(ParseState&, const std::string&)> set;
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

absl::Status ParseListenUrls(const std::string& flag, const std::string& value, bool allow_empty,
                             std::vector<ListenUrl>* out) {
  out->clear();
  for (const std::string& url : SplitUrls(value)) {
    ASSIGN_OR_RETURN(ListenUrl parsed, ParseListenUrl(url));
    out->push_back(std::move(parsed));
  }
  if (out->empty() && !allow_empty) {
    return absl::InvalidArgumentError(absl::StrCat("--", flag, ": no URL given"));
  }
  return absl::OkStatus();
}

// etcd's --auto-compaction-retention: a duration ("30m") or a plain number, which means hours in
// periodic mode and revisions in revision mode.
absl::Status ResolveAutoCompaction(const std::string& mode, const std::string& retention,
                                   AutoCompaction* out) {
  if (mode == "periodic") {
    out->mode = AutoCompaction::Mode::kPeriodic;
  } else if (mode == "revision") {
    out->mode = AutoCompaction::Mode::kRevision;
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid value \"", mode, "\" for flag --auto-compaction-mode: want periodic or revision"));
  }
  int64_t number = 0;
  const bool is_number = absl::SimpleAtoi(retention, &number);
  if (is_number && number >= 0) {
    if (out->mode == AutoCompaction::Mode::kPeriodic) {
      out->period = absl::Hours(number);
    } else {
      out->revisions = number;
    }
    return absl::OkStatus();
  }
  absl::Duration period;
  if (out->mode == AutoCompaction::Mode::kPeriodic && !is_number &&
      absl::ParseDuration(retention, &period) && period >= absl::ZeroDuration()) {
    out->period = period;
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "invalid value \"", retention, "\" for flag --auto-compaction-retention: want ",
      out->mode == AutoCompaction::Mode::kPeriodic ? "hours (a number) or a duration like 30m"
                                                   : "a number of revisions"));
}

// A flag that sets a string member.
FlagSpec StringFlag(std::string help, std::string Options::*member) {
  return {false, std::move(help), [member](ParseState& p, const std::string& v) {
            p.cl.options.*member = v;
            return absl::OkStatus();
          }};
}
// A flag that sets a string in one of the Options' groups.
template <typename Group>
FlagSpec GroupStringFlag(std::string help, Group Options::*group, std::string Group::*member) {
  return {false, std::move(help), [group, member](ParseState& p, const std::string& v) {
            p.cl.options.*group.*member = v;
            return absl::OkStatus();
          }};
}

// A flag that sets an int64 member to a positive value.
FlagSpec PositiveFlag(std::string name, std::string help, int64_t Options::*member) {
  return {false, std::move(help), [name, member](ParseState& p, const std::string& v) {
            return ParsePositive(name, v, &(p.cl.options.*member));
          }};
}

FlagSpec DurationFlag(std::string name, std::string help, absl::Duration Options::*member) {
  return {false, std::move(help), [name, member](ParseState& p, const std::string& v) {
            return ParsePositiveDuration(name, v, &(p.cl.options.*member));
          }};
}

FlagSpec TlsFileFlag(std::string help, std::string TlsFiles::*member) {
  return GroupStringFlag(std::move(help), &Options::client_tls, member);
}

FlagSpec ImportFlag(std::string help, std::string ImportSource::*member) {
  return GroupStringFlag(std::move(help), &Options::import_from, member);
}

const std::map<std::string, FlagSpec>& Flags() {
  static const auto* flags = new std::map<std::string, FlagSpec>{
      {"name",
       StringFlag("Human-readable name for this member (default \"default\").", &Options::name)},
      {"data-dir",
       StringFlag("Path to the data directory (default \"<name>.etcd\").", &Options::data_dir)},
      {"listen-client-urls",
       {false,
        "Comma-separated http:// or https:// URLs to serve clients on (default "
        "http://127.0.0.1:2379).",
        [](ParseState& p, const std::string& v) {
          return ParseListenUrls("listen-client-urls", v, false, &p.cl.options.listen_client);
        }}},
      {"advertise-client-urls",
       {false, "Comma-separated client URLs to advertise (default http://127.0.0.1:2379).",
        [](ParseState& p, const std::string& v) {
          p.cl.options.advertise_client_urls = SplitUrls(v);
          return absl::OkStatus();
        }}},
      {"initial-advertise-peer-urls",
       {false,
        "Peer URLs MemberList shows for this member (default http://localhost:2380); rametcd "
        "has no peers.",
        [](ParseState& p, const std::string& v) {
          p.cl.options.initial_advertise_peer_urls = SplitUrls(v);
          return absl::OkStatus();
        }}},
      {"listen-metrics-urls",
       {false,
        "Comma-separated http:// or https:// URLs serving /health, /livez, /readyz, /version "
        "and /metrics (default none).",
        [](ParseState& p, const std::string& v) {
          return ParseListenUrls("listen-metrics-urls", v, true, &p.cl.options.listen_metrics);
        }}},
      {"cert-file",
       TlsFileFlag("Path to the client server TLS certificate file.", &TlsFiles::cert_file)},
      {"key-file", TlsFileFlag("Path to the client server TLS key file.", &TlsFiles::key_file)},
      {"trusted-ca-file", TlsFileFlag("Path to the client server TLS trusted CA certificate file.",
                                      &TlsFiles::trusted_ca_file)},
      {"client-cert-auth",
       {true, "Require client certificates signed by --trusted-ca-file (default false).",
        [](ParseState& p, const std::string& v) {
          p.cl.options.client_tls.client_cert_auth = v == "true";
          return absl::OkStatus();
        }}},
      {"import-from",
       {false,
        "Live import: copy the etcd at this http:// or https:// client URL (into an empty "
        "--data-dir) and follow its changes at their original revisions, serving reads and "
        "refusing writes until promoted with SIGUSR1 (see the README's cut-over runbook).",
        [](ParseState& p, const std::string& v) -> absl::Status {
          ASSIGN_OR_RETURN(ListenUrl url, ParseListenUrl(v));
          p.cl.options.import_from.url = v;
          p.cl.options.import_from.endpoint = std::move(url);
          return absl::OkStatus();
        }}},
      {"import-cacert", ImportFlag("CA bundle that verifies the --import-from etcd's certificate "
                                   "(default: the system's roots).",
                                   &ImportSource::cacert)},
      {"import-cert",
       ImportFlag("Client certificate for the --import-from etcd.", &ImportSource::cert)},
      {"import-key", ImportFlag("Client key for the --import-from etcd.", &ImportSource::key)},
      {"quota-backend-bytes",
       {false,
        "Space quota of the data in memory, in bytes: past it the NOSPACE alarm is raised (0: "
        "the default, 2 GiB; negative: no quota).",
        [](ParseState& p, const std::string& v) -> absl::Status {
          int64_t bytes = 0;
          if (!absl::SimpleAtoi(v, &bytes)) {
            return absl::InvalidArgumentError(
                absl::StrCat("invalid value \"", v, "\" for flag --quota-backend-bytes"));
          }
          p.cl.options.quota_backend_bytes = bytes == 0 ? Options().quota_backend_bytes : bytes;
          return absl::OkStatus();
        }}},
      {"auto-compaction-mode",
       {false, "periodic or revision: how --auto-compaction-retention counts (default periodic).",
        [](ParseState& p, const std::string& v) {
          p.auto_compaction_mode = v;
          return absl::OkStatus();
        }}},
      {"auto-compaction-retention",
       {false,
        "History to keep when compacting automatically: hours or a duration like 30m "
        "(periodic), or revisions (revision); 0 turns it off (default 0).",
        [](ParseState& p, const std::string& v) {
          p.auto_compaction_retention = v;
          return absl::OkStatus();
        }}},
      {"max-request-bytes",
       PositiveFlag("max-request-bytes", "Maximum client request size in bytes (default 1572864).",
                    &Options::max_request_bytes)},
      {"max-txn-ops",
       PositiveFlag("max-txn-ops",
                    "Maximum number of operations permitted in a transaction (default 128).",
                    &Options::max_txn_ops)},
      {"max-pending-requests",
       PositiveFlag("max-pending-requests",
                    "Requests queued for the store before clients get \"too many requests\" "
                    "(default 100000).",
                    &Options::max_pending_requests)},
      {"experimental-watch-progress-notify-interval",
       DurationFlag("experimental-watch-progress-notify-interval",
                    "Interval of progress notifications for watches that request them (default "
                    "10m).",
                    &Options::watch_progress_notify_interval)},
      {"experimental-warning-apply-duration",
       DurationFlag("experimental-warning-apply-duration",
                    "Requests that take the store longer than this are logged (default 100ms).",
                    &Options::warning_apply_duration)},
      {"watch-history-max-events",
       PositiveFlag("watch-history-max-events",
                    "Most events kept for watches to catch up from (default 1000000).",
                    &Options::watch_history_max_events)},
      {"watch-history-max-bytes",
       PositiveFlag("watch-history-max-bytes",
                    "Most bytes of events kept for watches to catch up from (default 536870912).",
                    &Options::watch_history_max_bytes)},
      {"watch-stream-max-bytes",
       PositiveFlag("watch-stream-max-bytes",
                    "Bytes of responses queued per watch stream before its slow watchers are "
                    "caught up later from the history (default 4194304).",
                    &Options::watch_stream_max_bytes)},
      {"wal-default",
       {false,
        "Durability of keys whose prefix has no --wal-prefix-mode: none, buffered or fsync "
        "(default buffered).",
        [](ParseState& p, const std::string& v) -> absl::Status {
          auto mode = wal::ParseMode(v);
          if (!mode.ok()) return ForFlag("wal-default", mode.status());
          p.cl.options.wal_modes.set_default_mode(*mode);
          return absl::OkStatus();
        }}},
      {"wal-prefix-mode",
       {false,
        "PREFIX=MODE: durability of one Kubernetes resource prefix, e.g. "
        "/registry/events/=none (repeatable).",
        [](ParseState& p, const std::string& v) {
          return ForFlag("wal-prefix-mode", p.cl.options.wal_modes.AddPrefix(v));
        }}},
      {"wal-flush-interval",
       DurationFlag(
           "wal-flush-interval",
           "Longest time a buffered write waits before it is written to its file (default 2ms).",
           &Options::wal_flush_interval)},
      {"wal-io-backend",
       {false, "auto (io_uring, else pwrite), io_uring or posix (default auto).",
        [](ParseState& p, const std::string& v) -> absl::Status {
          auto kind = wal::ParseIoKind(v);
          if (!kind.ok()) return ForFlag("wal-io-backend", kind.status());
          p.cl.options.wal_io = *kind;
          return absl::OkStatus();
        }}},
      {"wal-skip-damaged",
       {true,
        "Start even if the data dir holds corrupt records, loading what is readable (default "
        "false: refuse to start).",
        [](ParseState& p, const std::string& v) {
          p.cl.options.wal_skip_damaged = v == "true";
          return absl::OkStatus();
        }}},
      {"wal-segment-bytes",
       PositiveFlag(
           "wal-segment-bytes",
           "Size at which a stream's log segment is closed and a new one begun (default 67108864).",
           &Options::wal_segment_bytes)},
      {"wal-max-backlog-bytes",
       PositiveFlag("wal-max-backlog-bytes",
                    "Bytes of changes waiting to be written before writes get \"too many "
                    "requests\" (default 268435456).",
                    &Options::wal_max_backlog_bytes)},
      {"log-level",
       {false, "debug, info, warn or error (default info).",
        [](ParseState& p, const std::string& v) -> absl::Status {
          if (!ParseLogLevel(v, &p.cl.options.log_level)) {
            return absl::InvalidArgumentError(
                absl::StrCat("invalid value \"", v, "\" for flag --log-level"));
          }
          return absl::OkStatus();
        }}},
      {"debug",
       {true, "Same as --log-level=debug (etcd's older flag).",
        [](ParseState& p, const std::string& v) {
          if (v == "true") p.cl.options.log_level = LogLevel::kDebug;
          return absl::OkStatus();
        }}},
      {"help",
       {true, "Print this help and exit.",
        [](ParseState& p, const std::string& v) {
          p.cl.help = v == "true";
          return absl::OkStatus();
        }}},
      {"version",
       {true, "Print the version and exit.",
        [](ParseState& p, const std::string& v) {
          p.cl.version = v == "true";
          return absl::OkStatus();
        }}},
  };
  return *flags;
}

// Applies one flag, known or ignored; `value` is empty for a bool flag given without one.
absl::Status ApplyFlag(const std::string& name, std::optional<std::string> value,
                       ParseState* state) {
  auto it = Flags().find(name);
  if (it == Flags().end()) {
    state->cl.warnings.push_back(
        absl::StrCat("--", name, " has no effect on a single in-memory member",
                     value ? absl::StrCat(" (value \"", *value, "\")") : ""));
    return absl::OkStatus();
  }
  const FlagSpec& spec = it->second;
  if (spec.is_bool) {
    if (!value) value = "true";
    if (*value != "true" && *value != "false") {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid boolean value \"", *value, "\" for flag --", name));
    }
  }
  return spec.set(*state, *value);
}

}  // namespace

absl::StatusOr<ListenUrl> ParseListenUrl(const std::string& url) {
  ListenUrl out;
  std::string_view rest = url;
  if (rest.starts_with("http://")) {
    rest.remove_prefix(7);
  } else if (rest.starts_with("https://")) {
    rest.remove_prefix(8);
    out.tls = true;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("unsupported URL \"", url, "\": want http://host:port or https://host:port"));
  }
  std::string host_port(rest);
  if (!host_port.empty() && host_port.back() == '/') host_port.pop_back();
  size_t colon = host_port.rfind(':');
  int port = 0;
  if (colon == std::string::npos || colon == 0 ||
      !absl::SimpleAtoi(host_port.substr(colon + 1), &port) || port < 0 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid URL \"", url, "\": want http(s)://host:port"));
  }
  out.address = std::move(host_port);
  return out;
}

absl::StatusOr<CommandLine> ParseCommandLine(int argc, const char* const* argv,
                                             const std::vector<std::string>& environment) {
  ParseState state;
  CommandLine& cl = state.cl;
  std::set<std::string> given;
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
    auto known = Flags().find(name);
    std::optional<IgnoredFlag> ignored = FindIgnoredFlag(name);
    if (known == Flags().end() && !ignored) {
      return absl::InvalidArgumentError(absl::StrCat("flag provided but not defined: -", name));
    }
    const bool takes_value = known != Flags().end() ? !known->second.is_bool : ignored->takes_value;
    if (takes_value && !value) {
      // An experimental flag rametcd does not know may be a bool; it takes the next argument
      // only if that is not a flag.
      const bool optional = ignored && ignored->value_optional;
      if (i + 1 < argc && !(optional && argv[i + 1][0] == '-')) {
        value = argv[++i];
      } else if (!optional) {
        return absl::InvalidArgumentError(absl::StrCat("flag needs an argument: --", name));
      }
    }
    given.insert(name);
    RETURN_IF_ERROR(ApplyFlag(name, value, &state));
  }
  for (const std::string& var : environment) {
    if (!var.starts_with("ETCD_")) continue;
    const size_t eq = var.find('=');
    if (eq == std::string::npos) continue;
    const std::string env_name = var.substr(0, eq);
    std::string name = absl::AsciiStrToLower(env_name.substr(5));
    absl::StrReplaceAll({{"_", "-"}}, &name);
    if (Flags().find(name) == Flags().end() && !FindIgnoredFlag(name)) {
      cl.warnings.push_back(absl::StrCat("unrecognized environment variable ", env_name));
      continue;
    }
    if (given.contains(name)) {
      cl.warnings.push_back(
          absl::StrCat("ignored environment variable ", env_name, ": --", name, " is set"));
      continue;
    }
    absl::Status status = ApplyFlag(name, var.substr(eq + 1), &state);
    if (!status.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("environment variable ", env_name, ": ", status.message()));
    }
  }
  RETURN_IF_ERROR(ResolveAutoCompaction(state.auto_compaction_mode, state.auto_compaction_retention,
                                        &cl.options.auto_compaction));
  if (cl.options.data_dir.empty()) cl.options.data_dir = cl.options.name + ".etcd";
  const TlsFiles& tls = cl.options.client_tls;
  bool any_tls = false;
  for (const auto* urls : {&cl.options.listen_client, &cl.options.listen_metrics}) {
    for (const ListenUrl& url : *urls) any_tls |= url.tls;
  }
  if (any_tls && (tls.cert_file.empty() || tls.key_file.empty())) {
    return absl::InvalidArgumentError(
        "https:// URLs need a certificate: set --cert-file and --key-file");
  }
  if (tls.client_cert_auth && tls.trusted_ca_file.empty()) {
    return absl::InvalidArgumentError("--client-cert-auth needs --trusted-ca-file");
  }
  const ImportSource& source = cl.options.import_from;
  if (source.cert.empty() != source.key.empty()) {
    return absl::InvalidArgumentError("--import-cert and --import-key go together");
  }
  if (source.url.empty() && !(source.cacert.empty() && source.cert.empty())) {
    return absl::InvalidArgumentError(
        "--import-cacert, --import-cert and --import-key need --import-from");
  }
  return cl;
}

std::string UsageText() {
  std::string text =
      "Usage: rametcd [flags]\n\n"
      "rametcd is an in-memory etcd v3 server. It speaks etcd's gRPC API on the client URLs.\n"
      "Every flag may also be set as an ETCD_* environment variable, as with etcd\n"
      "(--quota-backend-bytes: ETCD_QUOTA_BACKEND_BYTES).\n\n"
      "Flags:\n";
  for (const auto& [name, spec] : Flags()) {
    absl::StrAppend(&text, "  --", name, spec.is_bool ? "" : " <value>", "\n      ", spec.help,
                    "\n");
  }
  absl::StrAppend(&text,
                  "\netcd's clustering, peer, v2, proxy, discovery and --experimental-* flags are "
                  "accepted\nand ignored with a warning: rametcd is a single member.\n");
  return text;
}

}  // namespace rametcd::server
