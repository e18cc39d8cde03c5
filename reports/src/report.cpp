#include "gradspec/reports/report.hpp"

#include "document.hpp"
#include "gnuplot.hpp"
#include "notes.hpp"
#include "plots.hpp"
#include "stats.hpp"
#include "summary_model.hpp"

#include "gradspec/cases/signal_chain.hpp"
#include "gradspec/errors.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <signal.h>
#include <unistd.h>

namespace gradspec::reports {

namespace fs = std::filesystem;

namespace {

int dtype_rank(const std::string& d) {
  static const std::vector<std::string> order = {"float64", "float32", "float16", "bfloat16", "decimal"};
  auto it = std::find(order.begin(), order.end(), d);
  return static_cast<int>(it - order.begin());
}

int suite_rank(const std::string& s) {
  static const std::vector<std::string> order = {"standard", "edge", "examples", "sweep"};
  auto it = std::find(order.begin(), order.end(), s);
  return static_cast<int>(it - order.begin());
}

std::string number_text(double v, const char* format) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  return fmt::format(fmt::runtime(format), v);
}

std::string verdict_text(const op_stats& s) {
  if (!s.judged()) return "–";
  std::string out;
  auto part = [&](int n, const char* what) {
    if (n) out += (out.empty() ? "" : ", ") + std::to_string(n) + " " + what;
  };
  part(s.pass, "pass");
  part(s.acceptable, "acceptable");
  part(s.fail, "FAIL");
  part(s.error, "error");
  return out;
}

struct finding_counts {
  int findings = 0, explained = 0, unexplained_failures = 0;
};

// A sentence without its final period (another follows it).
std::string clause(std::string s) {
  while (!s.empty() && (s.back() == '.' || s.back() == ' ')) s.pop_back();
  return s;
}

std::string finding_text(const column& c, const case_record& k, const std::vector<note>& notes, finding_counts& counts) {
  std::string line = fmt::format("`{}` ({}): {}", k.id, k.verdict, k.reason.empty() ? std::string("no reason given") : clause(k.reason));
  if (!k.why.empty()) line += ". Why: " + clause(k.why);
  const tensor_record* worst = nullptr;
  for (const auto& t : k.tensors)
    if ((t.verdict == "fail" || t.verdict == "acceptable") && (!worst || t.max_ulp > worst->max_ulp)) worst = &t;
  if (worst && !worst->worst.empty())
    line += fmt::format(". Worst: {} {} ({} ulp)", worst->name, worst->worst, number_text(worst->max_ulp, "{:.3g}"));
  ++counts.findings;
  if (const note* n = find_note(notes, c.name, c.dtype, k.id)) {
    ++counts.explained;
    line += ". Explained (" + n->kind + "): " + n->text;
  } else {
    if (k.verdict != "acceptable") ++counts.unexplained_failures;
    line += ". Not explained yet.";
  }
  return line;
}

struct built_report {
  document page;
  std::vector<plot> plots;
};

built_report build(const std::vector<column>& columns, const std::vector<note>& notes, const std::string& title) {
  built_report r;
  document& d = r.page;
  d.title = title;
  std::vector<column_stats> stats;
  for (const auto& c : columns) stats.push_back({&c, op_statistics(c)});

  std::vector<column_group> groups;
  for (std::size_t k = 0; k < columns.size(); ++k) {
    auto it = std::find_if(groups.begin(), groups.end(),
                           [&](const column_group& g) { return g.dtype == columns[k].dtype && g.suite == columns[k].suite; });
    if (it == groups.end()) groups.push_back({columns[k].dtype, columns[k].suite, {k}});
    else it->members.push_back(k);
  }
  std::stable_sort(groups.begin(), groups.end(), [](const column_group& a, const column_group& b) {
    if (dtype_rank(a.dtype) != dtype_rank(b.dtype)) return dtype_rank(a.dtype) < dtype_rank(b.dtype);
    if (a.dtype != b.dtype) return a.dtype < b.dtype;
    if (suite_rank(a.suite) != suite_rank(b.suite)) return suite_rank(a.suite) < suite_rank(b.suite);
    return a.suite < b.suite;
  });
  std::set<std::string> names;
  auto unique_name = [&](std::string stem) {
    std::string name = stem;
    for (int n = 2; names.count(name); ++n) name = stem + "-" + std::to_string(n);
    names.insert(name);
    return name;
  };

  d.add_paragraph("Accuracy of transformer ops, forward and backward, against gradspec's golden values (certified digits at "
                  "256 bits). Errors are in units in the last place of the candidate's dtype at each tensor's scale (its "
                  "largest magnitude); correct digits are NIST's log relative error at the worst element, normwise. A "
                  "correctly rounded result has about p·log10(2) digits: 15.95 in float64, 7.22 in float32, 3.31 in "
                  "float16, 2.41 in bfloat16.");
  if (!columns.empty() && !columns.front().rule.empty()) d.add_paragraph("Verdict rule: " + columns.front().rule + ".");

  // Headline: one row per summary.
  d.add_heading(2, "Summary");
  std::vector<std::vector<std::string>> head_rows;
  for (const auto& c : stats) {
    int pass = 0, acceptable = 0, fail = 0, error = 0, skipped = 0;
    std::string failing;
    for (const auto& [op, s] : c.ops) {
      pass += s.pass, acceptable += s.acceptable, fail += s.fail, error += s.error, skipped += s.skipped;
      if (s.failed()) failing += (failing.empty() ? "" : ", ") + op;
    }
    head_rows.push_back({c.col->implementation(), c.col->dtype, c.col->suite, std::to_string(pass), std::to_string(acceptable),
                         std::to_string(fail), std::to_string(error), std::to_string(skipped), failing.empty() ? "–" : failing});
  }
  d.add_table({"implementation", "dtype", "suite", "pass", "acceptable", "fail", "error", "skipped", "ops with a fail or error"},
              head_rows, {false, false, false, true, true, true, true, true, false});

  for (const auto& g : groups) {
    d.add_heading(2, fmt::format("{}, {} suite", g.dtype.empty() ? std::string("?") : g.dtype, g.suite));
    const auto best = best_digits(g.dtype);
    d.add_paragraph(fmt::format("Per op and implementation: the cases' verdicts, the worst and the RMS error in ulps over "
                                "every tensor of the op's cases (acceptable cases left out), the fewest correct digits{}, the "
                                "worst ratio of the error to the same-dtype baseline's (\"–\" where both are exact), and the "
                                "cases skipped (inputs not exact in the dtype, or ops the implementation does not have).",
                                best ? fmt::format(" (a correctly rounded result: {:.2f})", *best) : std::string()));
    std::set<std::string> ops;
    for (std::size_t m : g.members)
      for (const auto& [op, s] : stats[m].ops) ops.insert(op);
    std::vector<std::vector<std::string>> rows;
    for (const auto& op : ops)
      for (std::size_t m : g.members) {
        auto it = stats[m].ops.find(op);
        if (it == stats[m].ops.end()) continue;
        const op_stats& s = it->second;
        const bool measured = s.pass + s.fail > 0;
        rows.push_back({op, columns[m].implementation(), verdict_text(s), measured ? number_text(s.worst_ulp, "{:.3g}") : "–",
                        measured ? number_text(s.rms_ulp(), "{:.3g}") : "–", measured ? number_text(s.min_digits, "{:.1f}") : "–",
                        s.worst_baseline_ratio ? number_text(*s.worst_baseline_ratio, "{:.3g}") : "–",
                        s.skipped ? std::to_string(s.skipped) : ""});
      }
    d.add_table({"op", "implementation", "verdicts", "worst ulp", "RMS ulp", "fewest digits", "error / baseline's", "skipped"}, rows,
                {false, false, false, true, true, true, true, true});
    plot p = digits_plot(g, stats, unique_name("digits-" + slug(g.dtype) + "-" + slug(g.suite)));
    d.add_image(p.name + ".svg", p.title);
    r.plots.push_back(std::move(p));
  }

  // A plot under a section heading written before the first plot of the section; a plot without
  // data (an empty body) is left out, and so is a section without plots.
  auto add_plot = [&](bool& headed, const char* heading, const char* text, plot p) {
    if (p.body.empty()) return;
    if (!headed) {
      d.add_heading(2, heading);
      d.add_paragraph(text);
      headed = true;
    }
    d.add_image(p.name + ".svg", p.title);
    r.plots.push_back(std::move(p));
  };

  // Error distributions: per implementation and dtype, over every suite.
  std::vector<std::pair<std::string, std::string>> impl_dtypes;
  for (const auto& c : columns)
    if (std::find(impl_dtypes.begin(), impl_dtypes.end(), std::make_pair(c.implementation(), c.dtype)) == impl_dtypes.end())
      impl_dtypes.emplace_back(c.implementation(), c.dtype);
  bool distribution_heading = false;
  for (const auto& [impl, dtype] : impl_dtypes) {
    std::vector<const column_stats*> members;
    for (const auto& c : stats)
      if (c.col->implementation() == impl && c.col->dtype == dtype) members.push_back(&c);
    add_plot(distribution_heading, "Distribution of per-element errors",
             "For each op, the share of every compared value (outputs, gradients, intermediates of the judged cases of every "
             "suite) whose error falls in each band of ulps at its tensor's scale. A correctly rounded result is within "
             "1/2 ulp of its own magnitude.",
             errors_plot(impl, dtype, members, unique_name("errors-" + slug(impl) + "-" + slug(dtype))));
  }

  // Error growth with size: the sweep suites.
  bool growth_heading = false;
  std::vector<std::string> dtypes;
  for (const auto& g : groups)
    if (g.suite.find("sweep") != std::string::npos && std::find(dtypes.begin(), dtypes.end(), g.dtype) == dtypes.end())
      dtypes.push_back(g.dtype);
  for (const auto& dtype : dtypes) {
    std::vector<const column_stats*> members;
    std::set<std::string> ops;
    for (const auto& c : stats)
      if (c.col->dtype == dtype && c.col->suite.find("sweep") != std::string::npos) {
        members.push_back(&c);
        for (const auto& [op, s] : c.ops) ops.insert(op);
      }
    for (const auto& op : ops)
      add_plot(growth_heading, "Error growth with size",
               "The sweep suite: per case, the worst error in ulps over its tensors against N, the case's largest input "
               "dimension (softmax's row, LayerNorm's width, attention's sequence). The dashed lines are sqrt(N)·u and N·u "
               "(u, the unit roundoff, is half an ulp): the typical and the worst-case growth of a recursive sum.",
               growth_plot(op, dtype, members, unique_name("growth-" + slug(op) + "-" + slug(dtype))));
  }

  // Findings.
  d.add_heading(2, "Findings");
  finding_counts counts;
  std::vector<std::pair<std::string, std::vector<std::string>>> per_column;
  for (const auto& c : columns) {
    std::vector<std::string> items;
    for (const auto& k : c.cases)
      if (k.verdict == "fail" || k.verdict == "error" || k.verdict == "acceptable") items.push_back(finding_text(c, k, notes, counts));
    per_column.emplace_back(c.label(), std::move(items));
  }
  d.add_paragraph(fmt::format("Every fail, error and acceptable verdict, with the trap its case sets (why), its worst element "
                              "and the explanation found when it was investigated. {} finding(s), {} explained; {} fail or error "
                              "verdict(s) not explained yet.",
                              counts.findings, counts.explained, counts.unexplained_failures));
  for (auto& [label, items] : per_column) {
    d.add_heading(3, label);
    if (items.empty()) d.add_paragraph("Every judged case passed.");
    else d.add_bullets(std::move(items));
  }

  // Provenance.
  d.add_heading(2, "Provenance");
  for (const auto& c : columns) {
    d.add_heading(3, c.label());
    d.add_paragraph("Summary `" + plain(c.source) + "`. Policy: " + (c.rule.empty() ? std::string("?") : c.rule));
    d.add_bullets(c.provenance);
    if (!c.suites_recorded) {
      d.add_paragraph("Suites: not recorded.");
      continue;
    }
    std::int64_t total = 0;
    std::vector<std::vector<std::string>> rows;
    for (const auto& f : c.suites) {
      total += std::min<std::int64_t>(f.cases, INT64_MAX / 2 - total);
      rows.push_back({f.file, std::to_string(f.cases), f.sha1});
    }
    d.add_paragraph(fmt::format("Suites: {} file(s), {} case(s).", c.suites.size(), total));
    d.add_table({"golden file", "cases", "SHA-1"}, rows, {false, true, false});
  }
  return r;
}

void write_plain(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.flush();
  if (!out) throw bad_input("", path.string() + ": write failed (disk full?)");
}

} // namespace

namespace {

// While a report is being written, SIGINT/SIGTERM/SIGHUP kill gnuplot and remove the private
// folder's files, the folder, and OUT if it was created here (async-signal-safe: the paths are
// copied before the handler may read them; it only calls kill, unlink and rmdir), then pass the
// signal on.
std::vector<std::string> pending_storage;
std::vector<const char*> pending_paths; // files first, then the folders, innermost first
volatile std::sig_atomic_t report_pending = 0;
cases::signal_chain report_chain;

extern "C" void remove_report_temporaries(int signal) {
  if (report_pending) {
    const pid_t child = gnuplot_child.load();
    if (child > 0) ::kill(child, SIGKILL);
    for (const char* path : pending_paths)
      if (::unlink(path) != 0) ::rmdir(path);
  }
  cases::pass_on(signal, report_chain);
}

struct report_guard {
  explicit report_guard(const std::vector<fs::path>& paths) {
    static const bool installed = (cases::install_chained(remove_report_temporaries, report_chain), true);
    (void)installed;
    report_pending = 0;
    pending_paths.clear();
    pending_storage.clear();
    for (const auto& p : paths) pending_storage.push_back(p.string());
    for (const auto& p : pending_storage) pending_paths.push_back(p.c_str());
    report_pending = 1;
  }
  ~report_guard() { report_pending = 0; }
};

} // namespace

std::vector<std::string> write_report(const report_options& o) {
  std::vector<column> columns;
  for (const auto& s : o.summaries) columns.push_back(load_column(s));
  // Columns: implementations in the order given, each one's dtypes (float64, float32, ...) and suites
  // (standard, edge, examples, sweep) in a fixed order, whatever order the files came in.
  std::vector<std::string> implementations;
  for (const auto& c : columns)
    if (std::find(implementations.begin(), implementations.end(), c.implementation()) == implementations.end())
      implementations.push_back(c.implementation());
  std::stable_sort(columns.begin(), columns.end(), [&](const column& a, const column& b) {
    const auto ia = std::find(implementations.begin(), implementations.end(), a.implementation());
    const auto ib = std::find(implementations.begin(), implementations.end(), b.implementation());
    if (ia != ib) return ia < ib;
    if (dtype_rank(a.dtype) != dtype_rank(b.dtype)) return dtype_rank(a.dtype) < dtype_rank(b.dtype);
    return suite_rank(a.suite) < suite_rank(b.suite);
  });
  const std::vector<note> notes = o.notes.empty() ? std::vector<note>() : load_notes(o.notes);
  bool judged = false;
  for (const auto& c : columns)
    for (const auto& k : c.cases) judged = judged || k.verdict != "skipped";
  if (!judged) {
    std::string names;
    for (const auto& s : o.summaries) names += (names.empty() ? "" : ", ") + s;
    throw bad_input("", names + ": /cases: no judged case in any summary: nothing to report");
  }
  const built_report report = build(columns, notes, plain(o.title));
  std::vector<std::string> names = {"index.html", "report.md"};
  for (const auto& p : report.plots) {
    names.push_back(p.name + ".svg");
    names.push_back(p.name + ".png");
  }

  // Everything is written into a private folder inside OUT, then renamed into place: a failure
  // (gnuplot, a full disk) leaves no report file behind, and neither does it leave the folder if it
  // was created here.
  const fs::path out(o.out);
  std::error_code ec;
  const bool existed = fs::exists(fs::symlink_status(out, ec));
  if (existed && !fs::is_directory(out, ec)) throw bad_input("--out", o.out + ": exists and is not a folder");
  for (const auto& name : names) {
    const auto st = fs::symlink_status(out / name, ec);
    if (!ec && fs::exists(st) && !fs::is_regular_file(st))
      throw bad_input("--out", (out / name).string() + ": exists and is not a regular file: refusing to replace it");
  }
  if (!existed && (fs::create_directories(out, ec), ec))
    throw bad_input("--out", o.out + ": cannot create the folder (" + ec.message() + ")");
  const fs::path work = out / (".report.tmp" + std::to_string(::getpid()));
  auto clean_up = [&] {
    std::error_code ignored;
    fs::remove_all(work, ignored);
    if (!existed) fs::remove(out, ignored); // only if still empty
  };
  std::vector<fs::path> temporaries;
  for (const auto& name : names) temporaries.push_back(work / name);
  temporaries.push_back(work);
  if (!existed) temporaries.push_back(out);
  const report_guard guard(temporaries);
  try {
    if (!fs::create_directory(work, ec) || ec) throw bad_input("--out", o.out + ": cannot write in this folder (" + ec.message() + ")");
    write_plain(work / "report.md", render_markdown(report.page));
    write_plain(work / "index.html", render_html(report.page));
    if (!report.plots.empty()) run_gnuplot(work.string(), gnuplot_script(report.plots));
    for (const auto& name : names)
      if (!fs::exists(work / name, ec) || fs::file_size(work / name, ec) == 0)
        throw std::runtime_error("gnuplot did not write " + name);
    for (const auto& name : names) {
      fs::rename(work / name, out / name, ec);
      if (ec) throw bad_input("--out", (out / name).string() + ": cannot move into place (" + ec.message() + ")");
    }
  } catch (...) {
    clean_up();
    throw;
  }
  fs::remove_all(work, ec);
  return names;
}

void read_summary(const std::string& path) { (void)load_column(path); }

} // namespace gradspec::reports
