// Per-op statistics of one report column (one summary), the numbers behind the tables and plots.
#pragma once

#include "summary_model.hpp"

#include <array>
#include <map>
#include <optional>
#include <string>

namespace gradspec::reports {

struct op_stats {
  int pass = 0, acceptable = 0, fail = 0, error = 0, skipped = 0;
  int judged() const { return pass + acceptable + fail + error; }
  // Over the tensors of pass and fail cases (acceptable ones hold NaN by design):
  double worst_ulp = 0, min_digits = 40;
  double rms_sum_sq = 0;        // sum of rms_ulp² · elements
  std::uint64_t rms_count = 0;  // elements (1 per tensor for summaries without element counts)
  std::optional<double> worst_baseline_ratio; // max |got - want| / max |baseline - want|, where defined
  bool has_histogram = false;
  std::array<std::uint64_t, ulp_bins> histogram{}; // over every judged case
  double rms_ulp() const;
  bool failed() const { return fail > 0 || error > 0; }
};

// op -> its statistics, for the cases of one column.
std::map<std::string, op_stats> op_statistics(const column& c);

// Correct significant digits of a correctly rounded result in the dtype (p·log10 2: float64 15.95,
// float32 7.22, bfloat16 2.41, float16 3.31); none for other dtypes.
std::optional<double> best_digits(const std::string& dtype);

} // namespace gradspec::reports
