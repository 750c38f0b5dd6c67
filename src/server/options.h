// Options: everything configurable about a rametcd process, parsed once from the command line
// (etcd's flag names) and passed to constructors; nothing reads flags afterwards.
//
// Flag syntax follows Go's flag package, as etcd's does: -flag or --flag, with the value after
// '=' or as the next argument; booleans take no value or =true/=false.
#ifndef RAMETCD_SERVER_OPTIONS_H_
#define RAMETCD_SERVER_OPTIONS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "base/logging.h"
#include "wal/io_backend.h"
#include "wal/modes.h"

namespace rametcd::server {

// One URL to listen on: "host:port", and whether it is https://.
struct ListenUrl {
  std::string address;
  bool tls = false;

  bool operator==(const ListenUrl&) const = default;
};

// The certificate etcd's client flags name; used on https:// client and metrics URLs.
struct TlsFiles {
  std::string cert_file;
  std::string key_file;
  std::string trusted_ca_file;
  // Clients must present a certificate signed by trusted_ca_file.
  bool client_cert_auth = false;
};

// The running etcd a live import copies and follows (server/live_import.h), from --import-from,
// with etcdctl's client TLS flags for it.
struct ImportSource {
  std::string url;  // empty: no live import
  ListenUrl endpoint;
  std::string cacert;  // empty with https: the system's roots
  std::string cert;
  std::string key;
};

// etcd's --auto-compaction-mode / --auto-compaction-retention.
struct AutoCompaction {
  enum class Mode { kPeriodic, kRevision };
  Mode mode = Mode::kPeriodic;
  // kPeriodic: keep this much history (zero: auto-compaction off).
  absl::Duration period = absl::ZeroDuration();
  // kRevision: keep this many revisions (zero: off).
  int64_t revisions = 0;

  bool enabled() const { return period > absl::ZeroDuration() || revisions > 0; }
};

struct Options {
  std::string name = "default";
  // Defaults to "<name>.etcd", like etcd.
  std::string data_dir;
  // gRPC listen addresses, from --listen-client-urls.
  std::vector<ListenUrl> listen_client = {{"127.0.0.1:2379", false}};
  std::vector<std::string> advertise_client_urls = {"http://127.0.0.1:2379"};
  // What MemberList shows as the member's peer URLs (rametcd has no peers).
  std::vector<std::string> initial_advertise_peer_urls = {"http://localhost:2380"};
  // HTTP endpoints (/health, /metrics, ...), from --listen-metrics-urls; none by default.
  std::vector<ListenUrl> listen_metrics;
  TlsFiles client_tls;
  // The space quota of the MVCC data (Store::retained_bytes); past it NOSPACE is raised, as
  // etcd's --quota-backend-bytes. Negative: no quota.
  int64_t quota_backend_bytes = 2ll << 30;
  AutoCompaction auto_compaction;
  // Requests that keep the apply loop longer than this are logged.
  absl::Duration warning_apply_duration = absl::Milliseconds(100);
  int64_t max_request_bytes = 1536 * 1024;
  int64_t max_txn_ops = 128;
  // Requests queued for the store before clients get "too many requests".
  int64_t max_pending_requests = 100000;
  LogLevel log_level = LogLevel::kInfo;
  // Periodic progress notifications for watches that ask for them (etcd's flag and default).
  absl::Duration watch_progress_notify_interval = absl::Minutes(10);
  // Bounds of the history ring that feeds watches.
  int64_t watch_history_max_events = 1'000'000;
  int64_t watch_history_max_bytes = 512ll << 20;
  // Responses queued per watch stream before its slow watchers are caught up later instead.
  int64_t watch_stream_max_bytes = 4ll << 20;
  // Durability (wal/modes.h): modes per stream, from --wal-default and --wal-prefix-mode.
  wal::ModeTable wal_modes;
  absl::Duration wal_flush_interval = absl::Milliseconds(2);
  wal::IoKind wal_io = wal::IoKind::kAuto;
  bool wal_skip_damaged = false;
  int64_t wal_segment_bytes = 64ll << 20;
  int64_t wal_max_backlog_bytes = 256ll << 20;
  ImportSource import_from;
};

struct CommandLine {
  Options options;
  bool help = false;
  bool version = false;
  // One line each for accepted flags and environment variables that have no effect here, for
  // main() to log.
  std::vector<std::string> warnings;
};

// Parses argv[1..argc), then the ETCD_* variables among `environment` ("NAME=value" strings,
// e.g. from `environ`) as etcd does: ETCD_FOO_BAR sets --foo-bar unless the command line set it.
// Errors name the offending flag or variable.
absl::StatusOr<CommandLine> ParseCommandLine(int argc, const char* const* argv,
                                             const std::vector<std::string>& environment = {});

// Turns "http://host:port" or "https://host:port" into a ListenUrl. Other forms are refused with
// a clear message.
absl::StatusOr<ListenUrl> ParseListenUrl(const std::string& url);

std::string UsageText();

}  // namespace rametcd::server

#endif  // RAMETCD_SERVER_OPTIONS_H_
