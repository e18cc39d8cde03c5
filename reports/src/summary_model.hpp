// What a report reads from one check summary ("gradspec-check/1", the --json of check and run): the
// implementation as it declared itself, the dtype, the suite, the policy, the provenance, and every
// case with its tensors' errors. Every field read is checked (bad_input with its JSON path).
#pragma once

#include "gradspec/cases/json_io.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace gradspec::reports {

// Bins of a tensor's ulp_histogram (see checkers/compare.hpp): 0 exact, 1 (0, 1/2], 2 (1/2, 1],
// 3 + k (2^k, 2^(k+1)], 23 above 2^20, 24 NaN/Inf.
constexpr std::size_t ulp_bins = 25;

struct tensor_record {
  std::string name, verdict, diagnosis, acceptable;
  double max_abs = 0, max_ulp = 0, rms_ulp = 0, min_digits = 40;
  std::optional<double> baseline_max_abs;
  std::uint64_t elements = 0;               // 0 when the summary predates the histogram
  std::vector<std::uint64_t> ulp_histogram; // empty or ulp_bins counts
  std::string worst; // "at [i, j]: got G, want W" or empty
};

struct case_record {
  std::string id, op, verdict, reason, why;
  std::int64_t largest_dim = 0; // 0 when not recorded
  std::vector<tensor_record> tensors;
};

struct suite_file {
  std::string file, sha1;
  std::int64_t cases = 0;
};

// One summary: a column of the report.
struct column {
  std::string source;                       // the summary's path, as given
  std::string name, version, dtype, suite;  // suite: the folder of its golden files ("standard"), "+"-joined if several
  std::string rule;
  std::vector<std::string> provenance;      // one line each: gradspec version, candidate, dtype, policy numbers
  std::vector<suite_file> suites;           // empty when not recorded
  bool suites_recorded = false;
  std::vector<case_record> cases;
  std::string label() const;                // "pytorch 1.13.0a0 float32 standard"
  std::string implementation() const;       // "pytorch 1.13.0a0"
};

// Reads and checks one summary file; bad_input names the file and the JSON path.
column load_column(const std::string& path);

// Control characters become spaces and backticks quotes: user text never ends a table row, a list
// item or a code span.
std::string plain(std::string s);

} // namespace gradspec::reports
