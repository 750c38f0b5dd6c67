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

struct Options {
  std::string name = "default";
  // Defaults to "<name>.etcd", like etcd.
  std::string data_dir;
  // gRPC listen addresses ("host:port"), from --listen-client-urls.
  std::vector<std::string> listen_addresses = {"127.0.0.1:2379"};
  std::vector<std::string> advertise_client_urls = {"http://127.0.0.1:2379"};
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
};

struct CommandLine {
  Options options;
  bool help = false;
  bool version = false;
};

// Parses argv[1..argc). Errors name the offending flag.
absl::StatusOr<CommandLine> ParseCommandLine(int argc, const char* const* argv);

// Turns "http://host:port" into "host:port". Other schemes are refused with a clear message.
absl::StatusOr<std::string> ListenAddressFromUrl(const std::string& url);

std::string UsageText();

}  // namespace rametcd::server

#endif  // RAMETCD_SERVER_OPTIONS_H_
