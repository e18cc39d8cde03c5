// Accuracy reports from check summaries ("gradspec-check/1", the --json of check and run): a
// Markdown page with one table row per op and one column per implementation (cases passed, worst
// error in eps, fewest correct digits), the failures with their diagnoses, and a gnuplot SVG of
// the correct digits per op. Deterministic: the same summaries give the same bytes.
#pragma once

#include <string>
#include <vector>

namespace gradspec::reports {

// Writes DIR/report.md, DIR/digits.svg and DIR/digits.dat (the plotted data), all or none: they are
// made in a private folder inside DIR and renamed into place. Throws bad_input (file + JSON path)
// for summaries that are unreadable, malformed or judge no case, and for a DIR (or file in it) that
// cannot be written; std::runtime_error when gnuplot cannot be run.
void write_report(const std::vector<std::string>& summaries, const std::string& dir);

// Reads and checks one summary exactly as write_report does, writing nothing; throws what
// write_report throws for it. The entry point of the fuzz target (fuzz/fuzz_summary.cpp).
void read_summary(const std::string& path);

} // namespace gradspec::reports
