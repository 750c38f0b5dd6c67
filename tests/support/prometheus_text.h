// Test support: a strict parser of the Prometheus text exposition format 0.0.4, to check whole
// scrapes (metrics unit tests, the server's /metrics). Every violation is reported as a gtest
// failure naming the offending line: names, labels, escapes, HELP/TYPE order, sorted and unique
// families, duplicate series, histogram series (cumulative buckets, +Inf, _count).
#ifndef RAMETCD_TESTS_SUPPORT_PROMETHEUS_TEXT_H_
#define RAMETCD_TESTS_SUPPORT_PROMETHEUS_TEXT_H_

#include <map>
#include <string>
#include <vector>

namespace rametcd::testing {

struct ParsedSample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

struct ParsedFamily {
  std::string name;
  std::string help;
  std::string type;
  std::vector<ParsedSample> samples;
};

// Returns the families in order, or fails the test with the offending line.
std::vector<ParsedFamily> ParseExposition(const std::string& text);

}  // namespace rametcd::testing

#endif  // RAMETCD_TESTS_SUPPORT_PROMETHEUS_TEXT_H_
