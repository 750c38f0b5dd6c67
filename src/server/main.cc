// rametcd: an in-memory etcd v3 server. Parses flags, starts the server, and stops it cleanly on
// SIGINT or SIGTERM.
#include <signal.h>

#include <cstdio>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "base/logging.h"
#include "server/options.h"
#include "server/server.h"

namespace {

constexpr char kVersionText[] = "rametcd Version: " RAMETCD_VERSION
                                "\n"
                                "API version: 3.4\n";

}  // namespace

int main(int argc, char** argv) {
  using rametcd::LogLevel;
  auto cl = rametcd::server::ParseCommandLine(argc, argv);
  if (!cl.ok()) {
    std::fprintf(stderr, "rametcd: %s\nRun 'rametcd --help' for the list of flags.\n",
                 std::string(cl.status().message()).c_str());
    return 2;
  }
  if (cl->help) {
    std::fputs(rametcd::server::UsageText().c_str(), stdout);
    return 0;
  }
  if (cl->version) {
    std::fputs(kVersionText, stdout);
    return 0;
  }
  rametcd::SetLogLevel(cl->options.log_level);
#ifdef NDEBUG
  // Debian's abseil is built with deadlock detection on, which makes every absl::Mutex lock
  // (gRPC's too) walk a lock graph. Debug builds keep it.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
#endif

  // Block the stop signals in every thread (threads inherit the mask); main waits for them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  // A client that disconnects mid-write must not kill the process.
  signal(SIGPIPE, SIG_IGN);

  rametcd::server::Server server(cl->options);
  if (absl::Status status = server.Start(); !status.ok()) {
    rametcd::Log(LogLevel::kError, "cannot start", {{"error", std::string(status.message())}});
    std::fprintf(stderr, "rametcd: %s\n", std::string(status.message()).c_str());
    return 1;
  }
  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  rametcd::Log(LogLevel::kInfo, "received signal; shutting down",
               {{"signal", signal_number == SIGINT ? "SIGINT" : "SIGTERM"}});
  server.Stop();
  rametcd::Log(LogLevel::kInfo, "stopped");
  return 0;
}
