#include "plots.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <set>

namespace gradspec::reports {

namespace {

// Text inside gnuplot's single quotes: letters, digits, blanks and ._+-()/:=<> only (a quote or a
// backslash from a summary can never reach gnuplot's parser), at most 80 characters.
std::string safe(const std::string& s) {
  std::string out;
  for (char ch : s) {
    const bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                    std::string(" ._+-()/:=<>,").find(ch) != std::string::npos;
    out += ok ? ch : '_';
  }
  return out.substr(0, 80);
}

const char* colour(std::size_t k) {
  static const char* palette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
  return palette[k % (sizeof palette / sizeof *palette)];
}

constexpr const char* fail_colour = "#d62728";

std::string datablock(const std::string& name, const std::string& rows) { return "$" + name + " << EOD\n" + rows + "EOD\n"; }

std::string xtics(const std::vector<std::string>& labels) {
  std::string out = "set xtics rotate by -40 (";
  for (std::size_t i = 0; i < labels.size(); ++i) out += fmt::format("{}'{}' {}", i ? ", " : "", safe(labels[i]), i);
  return out + ")\n";
}

} // namespace

std::string slug(const std::string& s) {
  std::string out;
  for (char ch : s) {
    const char c = (ch >= 'A' && ch <= 'Z') ? static_cast<char>(ch - 'A' + 'a') : ch;
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.';
    if (ok) out += c;
    else if (!out.empty() && out.back() != '-') out += '-';
  }
  while (!out.empty() && out.back() == '-') out.pop_back();
  return out.empty() ? std::string("x") : out.substr(0, 80);
}

plot digits_plot(const column_group& g, const std::vector<column_stats>& cols, const std::string& name) {
  std::set<std::string> op_set;
  for (std::size_t m : g.members)
    for (const auto& [op, s] : cols[m].ops)
      if (s.judged()) op_set.insert(op);
  const std::vector<std::string> ops(op_set.begin(), op_set.end());
  const auto best = best_digits(g.dtype);
  const double cap = best ? *best + 1.5 : 41.0, top = best ? *best + 2.5 : 42.0;
  plot p;
  p.name = name;
  p.title = fmt::format("fewest correct digits per op, {} {}", g.dtype, g.suite);
  p.width = std::max(800, 60 + static_cast<int>(ops.size()) * (18 + 10 * static_cast<int>(g.members.size())));
  const double group = 0.8, width = group / static_cast<double>(g.members.size());
  std::string b = fmt::format("set title '{}'\n", safe(fmt::format("Fewest correct significant digits per op: {}, {} suite", g.dtype, g.suite)));
  b += fmt::format("set ylabel '{}'\n", safe(fmt::format("correct digits (exact results clipped at {:.1f})", cap)));
  b += fmt::format("set yrange [0:{:.2f}]\nset xrange [-0.6:{}]\n", top, static_cast<double>(ops.size()) - 0.4);
  b += xtics(ops);
  b += fmt::format("set boxwidth {:.4f} absolute\nset style fill solid 0.85 border -1\n", width);
  b += "set key outside top center horizontal\nset grid ytics\nset bmargin 8\n";
  std::string plots, fail_plots; // the failures after every implementation's bars (and key entry)
  bool fail_titled = false;
  for (std::size_t k = 0; k < g.members.size(); ++k) {
    const column_stats& c = cols[g.members[k]];
    std::string bars, fails, marks;
    for (std::size_t i = 0; i < ops.size(); ++i) {
      auto it = c.ops.find(ops[i]);
      if (it == c.ops.end() || !it->second.judged()) continue;
      const double x = static_cast<double>(i) - group / 2 + (static_cast<double>(k) + 0.5) * width;
      const double y = std::min(std::max(it->second.min_digits, 0.0), cap);
      if (it->second.failed()) {
        const double h = std::max(y, 0.6);
        fails += fmt::format("{:.4f} {:.3f}\n", x, h);
        marks += fmt::format("{:.4f} {:.3f}\n", x, h + 0.35);
      } else {
        bars += fmt::format("{:.4f} {:.3f}\n", x, y);
      }
    }
    // Every implementation keeps its key entry, drawn or not.
    b += datablock(fmt::format("bars{}", k), bars.empty() ? std::string("-10 0\n") : bars);
    plots += fmt::format("{}$bars{} using 1:2 with boxes lc rgb '{}' title '{}'", plots.empty() ? "" : ", ", k, colour(k),
                         safe(c.col->implementation()));
    if (!fails.empty()) {
      b += datablock(fmt::format("fails{}", k), fails) + datablock(fmt::format("marks{}", k), marks);
      fail_plots += fmt::format(", $fails{} using 1:2 with boxes fs pattern 4 border lc rgb '{}' lc rgb '{}' {}", k, fail_colour,
                                fail_colour, fail_titled ? "notitle" : "title 'FAIL (a case of the op failed)'");
      fail_plots += fmt::format(", $marks{} using 1:2 with points pt 2 ps 1.6 lw 2 lc rgb '{}' notitle", k, fail_colour);
      fail_titled = true;
    }
  }
  plots += fail_plots;
  if (best) plots += fmt::format(", {:.3f} with lines dt 2 lw 1.5 lc rgb 'black' title 'correctly rounded ({:.2f} digits)'", *best, *best);
  p.body = b + "plot " + plots + "\n";
  return p;
}

plot errors_plot(const std::string& implementation, const std::string& dtype, const std::vector<const column_stats*>& cols,
                 const std::string& name) {
  // Bins merged for reading: exact, <= 1/2, <= 1, <= 2, <= 4, <= 16, <= 256, > 256, NaN/Inf.
  struct category {
    const char* title;
    std::size_t from, to; // bins [from, to]
    const char* colour;
  };
  static const category categories[] = {
      {"exact", 0, 0, "#1a9850"},      {"<= 1/2 ulp", 1, 1, "#66bd63"}, {"<= 1 ulp", 2, 2, "#a6d96a"},
      {"<= 2 ulp", 3, 3, "#d9ef8b"},   {"<= 4 ulp", 4, 4, "#fee08b"},   {"<= 16 ulp", 5, 6, "#fdae61"},
      {"<= 256 ulp", 7, 10, "#f46d43"}, {"> 256 ulp", 11, 23, "#d73027"}, {"NaN/Inf", 24, 24, "#000000"}};
  std::map<std::string, std::array<std::uint64_t, ulp_bins>> merged;
  for (const column_stats* c : cols)
    for (const auto& [op, s] : c->ops)
      if (s.has_histogram) {
        auto& h = merged.try_emplace(op).first->second;
        for (std::size_t b = 0; b < ulp_bins; ++b) h[b] += s.histogram[b];
      }
  plot p;
  p.name = name;
  p.title = fmt::format("distribution of per-element errors, {} {}", implementation, dtype);
  if (merged.empty()) return p;
  p.width = std::max(800, 80 + 34 * static_cast<int>(merged.size()));
  std::string rows;
  std::vector<std::string> ops;
  for (const auto& [op, h] : merged) {
    std::uint64_t total = 0;
    for (auto n : h) total += n;
    rows += std::to_string(ops.size());
    ops.push_back(op);
    for (const auto& cat : categories) {
      std::uint64_t n = 0;
      for (std::size_t b = cat.from; b <= cat.to; ++b) n += h[b];
      rows += fmt::format(" {:.4f}", total ? 100.0 * static_cast<double>(n) / static_cast<double>(total) : 0.0);
    }
    rows += "\n";
  }
  std::string b = fmt::format("set title '{}'\n", safe(fmt::format("Per-element error in ulps at the tensor scale, {} {}", implementation, dtype)));
  b += "set ylabel 'share of the compared values (%)'\nset yrange [0:100]\nset xrange [-0.6:" + std::to_string(ops.size()) + "]\n";
  b += xtics(ops);
  b += "set boxwidth 0.75 absolute\nset style fill solid 0.9 border -1\nset key outside right top vertical\nset bmargin 8\n";
  b += datablock("dist", rows);
  // Stacked by hand (boxxyerror x:y:xlow:xhigh:ylow:yhigh): each category's box spans from the sum of
  // the categories below it to the sum through it.
  std::string plots;
  std::string below = "0";
  for (std::size_t k = 0; k < std::size(categories); ++k) {
    const std::string through = below + fmt::format("+${}", k + 2);
    plots += fmt::format("{}$dist using 1:(0):($1-0.375):($1+0.375):({}):({}) with boxxyerror fc rgb '{}' title '{}'",
                         k ? ", " : "", below, through, categories[k].colour, categories[k].title);
    below = through;
  }
  p.body = b + "plot " + plots + "\n";
  return p;
}

plot growth_plot(const std::string& op, const std::string& dtype, const std::vector<const column_stats*>& cols,
                 const std::string& name) {
  plot p;
  p.name = name;
  p.title = fmt::format("error growth with size, {} {}", op, dtype);
  std::string b, plots;
  double lo = INFINITY, hi = 0;
  std::size_t series = 0;
  for (std::size_t k = 0; k < cols.size(); ++k) {
    std::map<std::int64_t, double> worst; // N -> worst ulps over the cases of that size
    for (const auto& c : cols[k]->col->cases) {
      if (c.op != op || c.largest_dim <= 0 || (c.verdict != "pass" && c.verdict != "fail")) continue;
      double w = 0;
      for (const auto& t : c.tensors) w = std::max(w, t.max_ulp);
      if (!std::isfinite(w)) continue;
      auto [it, fresh] = worst.try_emplace(c.largest_dim, w);
      if (!fresh) it->second = std::max(it->second, w);
    }
    if (worst.size() < 2) continue;
    std::string rows;
    for (const auto& [n, w] : worst) {
      rows += fmt::format("{} {:.6g}\n", n, std::max(w, 0.01));
      lo = std::min(lo, static_cast<double>(n));
      hi = std::max(hi, static_cast<double>(n));
    }
    b += datablock(fmt::format("g{}", k), rows);
    plots += fmt::format("{}$g{} using 1:2 with linespoints pt 7 lw 2 lc rgb '{}' title '{}'", plots.empty() ? "" : ", ", k, colour(k),
                         safe(cols[k]->col->implementation()));
    ++series;
  }
  if (!series) return p;
  std::string head = fmt::format("set title '{}'\n", safe(fmt::format("Worst error against size: {}, {} (sweep suite)", op, dtype)));
  head += "set logscale xy\nset xlabel 'N (the largest input dimension)'\nset ylabel 'worst error (ulps of the tensor scale; 0 drawn at 0.01)'\n";
  head += fmt::format("set xrange [{:.6g}:{:.6g}]\nset key outside right top vertical\nset grid\n", lo / 1.5, hi * 1.5);
  plots += ", 0.5*sqrt(x) with lines dt 2 lw 1.5 lc rgb 'black' title 'sqrt(N) u', 0.5*x with lines dt 3 lw 1.5 lc rgb '#555555' title 'N u'";
  p.body = head + b + "plot " + plots + "\n";
  return p;
}

std::string gnuplot_script(const std::vector<plot>& plots) {
  std::string gp;
  for (const auto& p : plots) {
    gp += fmt::format("reset\nset terminal svg size {},{} font 'sans,11' noenhanced background '#ffffff'\nset output '{}.svg'\n", p.width,
                      p.height, p.name);
    gp += p.body + "set output\n";
    gp += fmt::format("set terminal pngcairo size {},{} font 'sans,10' noenhanced background '#ffffff'\nset output '{}.png'\n", p.width,
                      p.height, p.name);
    gp += "replot\nset output\n";
  }
  return gp;
}

} // namespace gradspec::reports
