#include "gradspec/reports/report.hpp"

#include "gradspec/cases/json_io.hpp"
#include "gradspec/errors.hpp"

#include <fmt/format.h>
#include <gnuplot-iostream.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <set>

namespace gradspec::reports {

using cases::json;

namespace {

struct op_stats {
  int pass = 0, judged = 0;
  double worst_ulp = 0, min_digits = 40;
};

struct implementation {
  std::string label; // "pytorch 1.13.0a0 float32"
  std::map<std::string, op_stats> ops;
  std::vector<std::string> failures;
  json policy;
};

double number(const json& v) {
  if (v.is_number()) return v.get<double>();
  if (v.is_string()) {
    const std::string s = cases::is_raw_number(v) ? v.get<std::string>().substr(1) : v.get<std::string>();
    return s == "inf" ? INFINITY : s == "-inf" ? -INFINITY : s == "nan" ? NAN : std::strtod(s.c_str(), nullptr);
  }
  return NAN;
}

implementation load(const std::string& path) {
  json doc = cases::read_json_file(path);
  if (!doc.is_object() || doc.value("format", "") != "gradspec-check/1")
    throw bad_input("", path + ": /format: expected \"gradspec-check/1\" (the --json summary of check or run)");
  implementation impl;
  const json& i = doc["implementation"];
  impl.label = fmt::format("{} {} {}", i.value("name", "?"), i.value("version", ""), i.value("dtype", ""));
  impl.policy = doc["policy"];
  for (const auto& c : doc["cases"]) {
    const std::string verdict = c["verdict"];
    if (verdict == "skipped") continue;
    op_stats& s = impl.ops[c["op"].get<std::string>()];
    ++s.judged;
    if (verdict == "pass") ++s.pass;
    else impl.failures.push_back(fmt::format("`{}` ({}): {}", c["id"].get<std::string>(), verdict, c.value("reason", "")));
    for (const auto& t : c.value("tensors", json::array())) {
      s.worst_ulp = std::max(s.worst_ulp, number(t["max_ulp"]));
      const double d = number(t["min_digits"]);
      if (!std::isnan(d)) s.min_digits = std::min(s.min_digits, d);
    }
  }
  return impl;
}

std::string cell(const op_stats* s) {
  if (!s) return "–";
  return fmt::format("{}/{}, {:.3g} ulp, {:.1f} digits", s->pass, s->judged, s->worst_ulp, s->min_digits);
}

} // namespace

void write_report(const std::vector<std::string>& summaries, const std::string& dir) {
  namespace fs = std::filesystem;
  std::vector<implementation> impls;
  for (const auto& s : summaries) impls.push_back(load(s));
  std::set<std::string> ops;
  for (const auto& i : impls)
    for (const auto& [op, s] : i.ops) ops.insert(op);
  fs::create_directories(dir);

  std::string md = "# gradspec accuracy report\n\n";
  md += "Each cell: cases passed / judged, the worst error in units in the last place of the dtype, and the fewest "
        "correct significant digits (NIST log relative error) over every tensor of that op's cases.\n\n";
  md += "| op |";
  for (const auto& i : impls) md += " " + i.label + " |";
  md += "\n|---|";
  for (std::size_t k = 0; k < impls.size(); ++k) md += "---|";
  md += "\n";
  for (const auto& op : ops) {
    md += "| " + op + " |";
    for (const auto& i : impls) {
      auto it = i.ops.find(op);
      md += " " + cell(it == i.ops.end() ? nullptr : &it->second) + " |";
    }
    md += "\n";
  }
  md += "\n![fewest correct digits per op](digits.svg)\n";
  for (const auto& i : impls) {
    md += "\n## " + i.label + "\n\nPolicy: " + i.policy.value("rule", std::string("?")) + "\n\n";
    if (i.failures.empty()) md += "Every judged case passed.\n";
    for (const auto& f : i.failures) md += "- " + f + "\n";
  }
  cases::write_file_atomically((fs::path(dir) / "report.md").string(), md);

  // digits.dat: one row per op, one column per implementation; plotted as grouped bars.
  std::string dat = "op"; // the header row: gnuplot's columnheader reads the titles from it
  for (const auto& i : impls) dat += " \"" + i.label + "\"";
  dat += "\n";
  for (const auto& op : ops) {
    dat += op;
    for (const auto& i : impls) {
      auto it = i.ops.find(op);
      dat += it == i.ops.end() ? " NaN" : fmt::format(" {:.3f}", it->second.min_digits);
    }
    dat += "\n";
  }
  const std::string dat_path = (fs::path(dir) / "digits.dat").string(), svg_path = (fs::path(dir) / "digits.svg").string();
  cases::write_file_atomically(dat_path, dat);
  const std::string tmp_svg = (fs::path(dir) / ".digits.svg.tmp").string();
  std::error_code ec;
  {
    Gnuplot gp("gnuplot 2>&1");
    gp << "set terminal svg size 1000,480 font 'sans,11' noenhanced\n";
    gp << "set output '" << tmp_svg << "'\n";
    gp << "set style data histograms\nset style histogram clustered gap 1\nset style fill solid 0.8 border -1\n";
    gp << "set ylabel 'fewest correct significant digits (exact results clipped at 18)'\nset yrange [0:18]\nset xtics rotate by -35\nset key outside top center horizontal\n";
    gp << "set grid ytics\n";
    gp << "plot ";
    for (std::size_t k = 0; k < impls.size(); ++k)
      gp << (k ? ", " : "") << "'" << dat_path << "' using " << k + 2 << ":xtic(1) title columnheader(" << k + 2 << ")";
    gp << "\nset output\n";
  }
  if (!fs::exists(tmp_svg) || fs::file_size(tmp_svg) == 0) {
    fs::remove(tmp_svg, ec);
    throw std::runtime_error("gnuplot did not write the plot (is gnuplot installed?)");
  }
  fs::rename(tmp_svg, svg_path, ec);
  if (ec) throw std::runtime_error("cannot move the plot into place: " + ec.message());
}

void read_summary(const std::string& path) { (void)load(path); }

} // namespace gradspec::reports
