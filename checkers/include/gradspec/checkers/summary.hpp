// Reporting a check: the summary table (worst findings first) and the --json summary
// ("gradspec-check/1").
#pragma once

#include "gradspec/checkers/compare.hpp"

#include <ostream>
#include <vector>

namespace gradspec::checkers {

struct check_counts {
  std::size_t pass = 0, acceptable = 0, fail = 0, error = 0, skipped = 0;
  std::size_t judged() const { return pass + acceptable + fail + error; }
};

check_counts count(const std::vector<case_finding>& findings);

// Failures and errors first (worst first), then acceptable findings, then passes; skipped cases are
// summarised. A failing or acceptable case also prints why it exists (its flag's description).
void print_summary(std::ostream& out, const implementation_info& impl, const policy& p, std::vector<case_finding> findings,
                   bool show_passes);

// `provenance` (optional): which gradspec, which golden files, the candidate's handshake.
cases::json summary_json(const implementation_info& impl, const policy& p, const std::vector<case_finding>& findings,
                         const cases::json* provenance = nullptr);

// 0 when every judged case passed or is an acceptable finding (and nothing was skipped under
// --require-all), 1 otherwise; 1 as well when no case was judged at all (CONTRACT v1.1).
int exit_code(const std::vector<case_finding>& findings, const policy& p);

} // namespace gradspec::checkers
