// The report's plots as gnuplot scripts (data inline as datablocks, no file names but their own):
// each is drawn twice, as NAME.svg and NAME.png, by one gnuplot run in the report's private folder.
//   digits-DTYPE-SUITE: fewest correct digits per op, one bar per implementation, against the
//     digits of a correctly rounded result; an op with a failing case is drawn as a failure.
//   errors-IMPLEMENTATION-DTYPE: the distribution of per-element errors in ulps, per op.
//   growth-OP-DTYPE: the worst error against the size N in a sweep suite, with sqrt(N)·u and N·u.
#pragma once

#include "stats.hpp"

#include <string>
#include <vector>

namespace gradspec::reports {

struct plot {
  std::string name;  // file stem, [a-z0-9.-]
  std::string title; // alt text
  std::string body;  // the gnuplot commands after terminal and output
  int width = 1000, height = 480;
};

struct column_stats {
  const column* col;
  std::map<std::string, op_stats> ops;
};

// Columns grouped by dtype and suite (indices into `cols`), in report order.
struct column_group {
  std::string dtype, suite;
  std::vector<std::size_t> members;
};

plot digits_plot(const column_group& g, const std::vector<column_stats>& cols, const std::string& name);
// Nothing (an empty body) when no op of these columns has a histogram.
plot errors_plot(const std::string& implementation, const std::string& dtype, const std::vector<const column_stats*>& cols,
                 const std::string& name);
// Nothing when no implementation has two sizes of the op.
plot growth_plot(const std::string& op, const std::string& dtype, const std::vector<const column_stats*>& cols,
                 const std::string& name);

// The whole gnuplot script drawing every plot as SVG and PNG.
std::string gnuplot_script(const std::vector<plot>& plots);

// A file-name piece: lower case letters, digits and dots, anything else a '-'.
std::string slug(const std::string& s);

} // namespace gradspec::reports
