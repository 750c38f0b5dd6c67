// rametcd: an in-memory etcd v3 server. Parses flags, starts the server, and stops it cleanly on
// SIGINT or SIGTERM. SIGUSR1 promotes a live import (--import-from).
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "base/logging.h"
#include "server/options.h"
#include "server/server.h"
#include "server/version.h"

namespace {

// The signals are caught by a process-wide handler that writes the signal number to a pipe
// main() reads: whichever thread the kernel picks, the process never dies of the default action.
int g_signal_pipe[2] = {-1, -1};

void OnSignal(int signal_number) {
  const unsigned char byte = static_cast<unsigned char>(signal_number);
  [[maybe_unused]] ssize_t n = ::write(g_signal_pipe[1], &byte, 1);
}

// Returns the next signal received.
int WaitForSignal() {
  unsigned char byte = 0;
  while (::read(g_signal_pipe[0], &byte, 1) != 1) {
  }
  return byte;
}

}  // namespace

int main(int argc, char** argv) {
  using rametcd::LogLevel;
  std::vector<std::string> environment;
  for (char** var = environ; *var != nullptr; ++var) environment.emplace_back(*var);
  auto cl = rametcd::server::ParseCommandLine(argc, argv, environment);
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
    std::printf("rametcd Version: %s\netcd API version: %s\n", RAMETCD_VERSION,
                rametcd::server::kEtcdServerVersion);
    return 0;
  }
  rametcd::SetLogLevel(cl->options.log_level);
  for (const std::string& warning : cl->warnings) {
    rametcd::Log(LogLevel::kWarn, "ignored", {{"what", warning}});
  }
#ifdef NDEBUG
  // Debian's abseil is built with deadlock detection on, which makes every absl::Mutex lock
  // (gRPC's too) walk a lock graph. Debug builds keep it.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
#endif

  CHECK(::pipe2(g_signal_pipe, O_CLOEXEC) == 0);
  struct sigaction action {};
  action.sa_handler = OnSignal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGUSR1, &action, nullptr);
  // A client that disconnects mid-write must not kill the process.
  signal(SIGPIPE, SIG_IGN);

  rametcd::server::Server server(cl->options);
  if (absl::Status status = server.Start(); !status.ok()) {
    rametcd::Log(LogLevel::kError, "cannot start", {{"error", std::string(status.message())}});
    std::fprintf(stderr, "rametcd: %s\n", std::string(status.message()).c_str());
    return 1;
  }
  int signal_number = WaitForSignal();
  for (; signal_number == SIGUSR1; signal_number = WaitForSignal()) {
    rametcd::Log(LogLevel::kInfo, "received SIGUSR1: promoting the live import");
    if (absl::Status status = server.Promote(); !status.ok()) {
      rametcd::Log(LogLevel::kError, "cannot promote", {{"error", std::string(status.message())}});
    }
  }
  rametcd::Log(LogLevel::kInfo, "received signal; shutting down",
               {{"signal", signal_number == SIGINT ? "SIGINT" : "SIGTERM"}});
  server.Stop();
  rametcd::Log(LogLevel::kInfo, "stopped");
  return 0;
}
