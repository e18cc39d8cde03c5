// Accuracy reports from check summaries ("gradspec-check/1", the --json of check and run), for
// publishing: index.html and report.md (the same page), one column per summary (implementation,
// version, dtype, suite). Per dtype and suite a table (per op and implementation: verdicts, worst
// and RMS error in ulps, fewest correct digits, the ratio to the baseline's error, skips) and a plot
// of correct digits against the dtype's best; per implementation and dtype the distribution of
// per-element errors; for sweep suites the error growth with size against sqrt(N)·u and N·u; the
// findings (every fail, error and acceptable verdict with its flag's description, worst element
// and, from --notes, its explanation); the provenance of every summary. Plots are SVG and PNG,
// drawn by gnuplot. Deterministic: the same summaries give the same bytes.
#pragma once

#include <string>
#include <vector>

namespace gradspec::reports {

struct report_options {
  std::vector<std::string> summaries;
  std::string out;   // the folder
  std::string notes; // explanations of findings (gradspec-report-notes/1), optional
  std::string title = "gradspec accuracy report";
};

// Writes OUT/index.html, OUT/report.md and the plots, all or none: they are made in a private
// folder inside OUT and renamed into place. Throws bad_input (file + JSON path) for summaries or
// notes that are unreadable, malformed or judge no case, and for an OUT (or file in it) that cannot
// be written; std::runtime_error when gnuplot cannot be run. Returns the names of the files written.
std::vector<std::string> write_report(const report_options& options);

// Reads and checks one summary exactly as write_report does, writing nothing; throws what
// write_report throws for it. The entry point of the fuzz target (fuzz/fuzz_summary.cpp).
void read_summary(const std::string& path);

} // namespace gradspec::reports
