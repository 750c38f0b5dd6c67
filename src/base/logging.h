// Process-wide logging and invariant checks.
//
// Log lines are single JSON objects on stderr in the shape etcd's zap logger prints
// ({"level":..,"ts":..,"msg":..} plus fields), so the same log tooling reads both.
// CHECK(cond) aborts the process with the failed condition: it is for impossible states only;
// bad input and I/O failures return an absl::Status instead.
//
// Thread safety: all functions may be called from any thread; each line is written with one
// write(2) so lines never interleave.
#ifndef RAMETCD_BASE_LOGGING_H_
#define RAMETCD_BASE_LOGGING_H_

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace rametcd {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

// Lines below `level` are dropped. Set once at startup, before threads start.
void SetLogLevel(LogLevel level);
bool ParseLogLevel(std::string_view name, LogLevel* level);

using LogField = std::pair<std::string_view, std::string>;

// Writes one line: {"level":"info","ts":"<RFC3339>","msg":"<msg>","<k>":"<v>",...}.
void Log(LogLevel level, std::string_view msg, std::initializer_list<LogField> fields = {});

[[noreturn]] void CheckFailed(const char* file, int line, const char* condition);

}  // namespace rametcd

#define CHECK(cond) \
  ((cond) ? static_cast<void>(0) : ::rametcd::CheckFailed(__FILE__, __LINE__, #cond))

#endif  // RAMETCD_BASE_LOGGING_H_
