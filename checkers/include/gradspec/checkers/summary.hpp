// Reporting a check: the summary table (worst findings first) and the --json summary
// ("gradspec-check/1").
#pragma once

#include "gradspec/checkers/compare.hpp"

#include <ostream>
#include <vector>

namespace gradspec::checkers {

struct check_counts {
  std::size_t pass = 0, fail = 0, error = 0, skipped = 0;
};

check_counts count(const std::vector<case_finding>& findings);

// Failures and errors first (worst first), then passes; skipped cases are summarised.
void print_summary(std::ostream& out, const implementation_info& impl, const policy& p, std::vector<case_finding> findings,
                   bool show_passes);

cases::json summary_json(const implementation_info& impl, const policy& p, const std::vector<case_finding>& findings);

// 0 when every judged case passed (and nothing was skipped under --require-all), 1 otherwise.
int exit_code(const std::vector<case_finding>& findings, const policy& p);

} // namespace gradspec::checkers
