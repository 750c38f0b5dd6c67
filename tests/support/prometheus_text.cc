#include "support/prometheus_text.h"

#include <cmath>
#include <cstdlib>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"

namespace rametcd::testing {

namespace {

bool MatchesMetricName(const std::string& s) {
  if (s.empty()) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
              (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

bool MatchesLabelName(const std::string& s) {
  return MatchesMetricName(s) && s.find(':') == std::string::npos;
}

// Parses a value as Prometheus does (Go's ParseFloat plus the special spellings).
bool ParseValue(const std::string& s, double* v) {
  if (s == "+Inf" || s == "-Inf" || s == "NaN") {
    *v = s == "NaN" ? NAN : (s[0] == '+' ? INFINITY : -INFINITY);
    return true;
  }
  if (s.empty()) return false;
  char* end = nullptr;
  *v = std::strtod(s.c_str(), &end);
  return end == s.c_str() + s.size() && std::isfinite(*v);
}

}  // namespace

std::vector<ParsedFamily> ParseExposition(const std::string& text) {
  std::vector<ParsedFamily> families;
  std::set<std::string> declared;
  std::set<std::string> series_seen;
  EXPECT_TRUE(text.empty() || text.back() == '\n') << "output must end with a newline";
  std::vector<std::string> lines = absl::StrSplit(text, '\n');
  if (!lines.empty() && lines.back().empty()) lines.pop_back();
  for (const std::string& line : lines) {
    SCOPED_TRACE(line);
    EXPECT_FALSE(line.empty()) << "blank line";
    if (line.rfind("# HELP ", 0) == 0) {
      std::string rest = line.substr(7);
      size_t space = rest.find(' ');
      EXPECT_NE(space, std::string::npos);
      std::string name = rest.substr(0, space);
      EXPECT_TRUE(MatchesMetricName(name));
      EXPECT_TRUE(declared.insert(name).second) << "family declared twice: " << name;
      // Help text: only \\ and \n escapes are allowed.
      std::string help;
      std::string raw = rest.substr(space + 1);
      for (size_t i = 0; i < raw.size(); ++i) {
        if (raw[i] == '\\') {
          EXPECT_LT(i + 1, raw.size());
          EXPECT_TRUE(raw[i + 1] == '\\' || raw[i + 1] == 'n') << "bad escape in help";
          help.push_back(raw[i + 1] == 'n' ? '\n' : '\\');
          ++i;
        } else {
          help.push_back(raw[i]);
        }
      }
      if (!families.empty()) {
        EXPECT_LT(families.back().name, name) << "families not sorted";
      }
      families.push_back({name, help, "", {}});
      continue;
    }
    if (line.rfind("# TYPE ", 0) == 0) {
      std::vector<std::string> parts = absl::StrSplit(line.substr(7), ' ');
      EXPECT_EQ(parts.size(), 2u);
      EXPECT_FALSE(families.empty());
      if (families.empty() || parts.size() != 2) continue;
      EXPECT_EQ(parts[0], families.back().name) << "TYPE must follow its HELP";
      EXPECT_TRUE(families.back().samples.empty()) << "TYPE after samples";
      EXPECT_TRUE(parts[1] == "counter" || parts[1] == "gauge" || parts[1] == "histogram")
          << parts[1];
      families.back().type = parts[1];
      continue;
    }
    EXPECT_NE(line[0], '#') << "unknown comment";
    // A sample: name [ { labels } ] value
    ParsedSample sample;
    size_t i = 0;
    while (i < line.size() && line[i] != '{' && line[i] != ' ') ++i;
    sample.name = line.substr(0, i);
    EXPECT_TRUE(MatchesMetricName(sample.name)) << sample.name;
    std::string series_key = sample.name;
    if (i < line.size() && line[i] == '{') {
      ++i;
      while (i < line.size() && line[i] != '}') {
        size_t eq = line.find('=', i);
        EXPECT_NE(eq, std::string::npos);
        if (eq == std::string::npos) return families;
        std::string label = line.substr(i, eq - i);
        EXPECT_TRUE(MatchesLabelName(label)) << label;
        EXPECT_EQ(line[eq + 1], '"');
        std::string value;
        size_t j = eq + 2;
        for (; j < line.size() && line[j] != '"'; ++j) {
          if (line[j] == '\\') {
            if (++j == line.size()) break;
            EXPECT_TRUE(line[j] == '\\' || line[j] == '"' || line[j] == 'n') << "bad escape";
            value.push_back(line[j] == 'n' ? '\n' : line[j]);
          } else {
            EXPECT_NE(line[j], '\n');
            value.push_back(line[j]);
          }
        }
        EXPECT_LT(j, line.size()) << "unterminated label value";
        EXPECT_TRUE(sample.labels.emplace(label, value).second) << "label twice: " << label;
        i = j + 1;
        if (i < line.size() && line[i] == ',') ++i;
      }
      EXPECT_LT(i, line.size());
      ++i;  // '}'
    }
    for (const auto& [k, v] : sample.labels) absl::StrAppend(&series_key, "|", k, "=", v);
    EXPECT_TRUE(series_seen.insert(series_key).second) << "duplicate series " << series_key;
    EXPECT_EQ(line[i], ' ');
    EXPECT_TRUE(ParseValue(line.substr(i + 1), &sample.value)) << "bad value";
    EXPECT_FALSE(families.empty()) << "sample before any family";
    if (families.empty()) continue;
    ParsedFamily& f = families.back();
    EXPECT_FALSE(f.type.empty()) << "sample before TYPE";
    if (f.type == "histogram") {
      EXPECT_TRUE(sample.name == f.name + "_bucket" || sample.name == f.name + "_sum" ||
                  sample.name == f.name + "_count")
          << sample.name << " is not part of " << f.name;
      EXPECT_EQ(sample.name == f.name + "_bucket", sample.labels.count("le") == 1);
    } else {
      EXPECT_EQ(sample.name, f.name) << "sample outside its family";
    }
    if (f.type == "counter") {
      EXPECT_GE(sample.value, 0);
    }
    f.samples.push_back(std::move(sample));
  }
  // Histograms: cumulative buckets ending in +Inf, and _count equal to the +Inf bucket.
  for (const ParsedFamily& f : families) {
    EXPECT_FALSE(f.samples.empty()) << f.name << " has no samples";
    if (f.type != "histogram") continue;
    std::map<std::map<std::string, std::string>, std::vector<std::pair<double, double>>> buckets;
    std::map<std::map<std::string, std::string>, double> counts;
    for (const ParsedSample& s : f.samples) {
      auto labels = s.labels;
      if (s.name == f.name + "_bucket") {
        double le = 0;
        EXPECT_TRUE(ParseValue(labels["le"], &le)) << labels["le"];
        labels.erase("le");
        buckets[labels].push_back({le, s.value});
      } else if (s.name == f.name + "_count") {
        counts[labels] = s.value;
      }
    }
    for (const auto& [labels, b] : buckets) {
      if (b.empty()) continue;
      EXPECT_TRUE(std::isinf(b.back().first)) << f.name << " lacks a +Inf bucket";
      for (size_t k = 1; k < b.size(); ++k) {
        EXPECT_LT(b[k - 1].first, b[k].first) << f.name << " buckets out of order";
        EXPECT_LE(b[k - 1].second, b[k].second) << f.name << " buckets not cumulative";
      }
      EXPECT_EQ(counts.count(labels), 1u);
      EXPECT_EQ(counts[labels], b.back().second) << f.name << " _count != +Inf bucket";
    }
  }
  return families;
}

}  // namespace rametcd::testing
