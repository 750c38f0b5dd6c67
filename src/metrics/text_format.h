// Pieces of the Prometheus text exposition format 0.0.4 that Registry writes with: name checks,
// escaping and number formatting.
//
//   exposition = { family } ;
//   family     = "# HELP " name " " escaped-help "\n" "# TYPE " name " " type "\n" { sample } ;
//   sample     = series-name [ "{" label { "," label } "}" ] " " value "\n" ;
//   label      = label-name "=\"" escaped-value "\"" ;
// In help text `\` and newline are escaped as `\\` and `\n`; label values also escape `"` as `\"`.
// Values are Go-parseable floats: integers in decimal, doubles in their shortest round-trip form,
// "+Inf", "-Inf" and "NaN".
//
// Thread safety: pure functions.
#ifndef RAMETCD_METRICS_TEXT_FORMAT_H_
#define RAMETCD_METRICS_TEXT_FORMAT_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace rametcd::metrics {

// [a-zA-Z_:][a-zA-Z0-9_:]*
bool IsValidMetricName(std::string_view name);
// [a-zA-Z_][a-zA-Z0-9_]*, not starting with "__" (reserved by Prometheus).
bool IsValidLabelName(std::string_view name);

void AppendEscapedHelp(std::string* out, std::string_view help);
void AppendEscapedLabelValue(std::string* out, std::string_view value);
void AppendDouble(std::string* out, double v);

// Appends one sample line. `label_values` pairs with `label_names`; `extra_name`/`extra_value`
// (when extra_name is not empty) is appended as a last label, e.g. a histogram's "le".
void AppendSample(std::string* out, std::string_view series_name,
                  const std::vector<std::string>& label_names,
                  const std::vector<std::string>& label_values, std::string_view extra_name,
                  std::string_view extra_value, std::string_view value);

}  // namespace rametcd::metrics

#endif  // RAMETCD_METRICS_TEXT_FORMAT_H_
