#include "stats.hpp"

#include <algorithm>
#include <cmath>

namespace gradspec::reports {

double op_stats::rms_ulp() const { return rms_count ? std::sqrt(rms_sum_sq / static_cast<double>(rms_count)) : 0; }

std::map<std::string, op_stats> op_statistics(const column& c) {
  std::map<std::string, op_stats> ops;
  for (const auto& k : c.cases) {
    op_stats& s = ops[k.op];
    if (k.verdict == "skipped") ++s.skipped;
    else if (k.verdict == "pass") ++s.pass;
    else if (k.verdict == "acceptable") ++s.acceptable;
    else if (k.verdict == "fail") ++s.fail;
    else ++s.error;
    if (k.verdict == "skipped" || k.verdict == "error") continue;
    for (const auto& t : k.tensors) {
      if (!t.ulp_histogram.empty()) {
        s.has_histogram = true;
        for (std::size_t b = 0; b < ulp_bins; ++b) s.histogram[b] += t.ulp_histogram[b];
      }
      if (k.verdict == "acceptable") continue;
      if (!std::isnan(t.max_ulp)) s.worst_ulp = std::max(s.worst_ulp, t.max_ulp);
      if (!std::isnan(t.min_digits)) s.min_digits = std::min(s.min_digits, t.min_digits);
      if (std::isfinite(t.rms_ulp)) {
        const std::uint64_t n = t.elements ? t.elements : 1;
        s.rms_sum_sq += t.rms_ulp * t.rms_ulp * static_cast<double>(n);
        s.rms_count += n;
      }
      if (t.baseline_max_abs && !(t.max_abs == 0 && *t.baseline_max_abs == 0)) {
        const double ratio = *t.baseline_max_abs > 0 ? t.max_abs / *t.baseline_max_abs : INFINITY;
        if (!std::isnan(ratio)) s.worst_baseline_ratio = std::max(s.worst_baseline_ratio.value_or(0), ratio);
      }
    }
  }
  return ops;
}

std::optional<double> best_digits(const std::string& dtype) {
  const int p = dtype == "float64" ? 53 : dtype == "float32" ? 24 : dtype == "bfloat16" ? 8 : dtype == "float16" ? 11 : 0;
  if (!p) return std::nullopt;
  return p * std::log10(2.0);
}

} // namespace gradspec::reports
