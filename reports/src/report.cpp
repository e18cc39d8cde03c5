#include "gradspec/reports/report.hpp"

#include "gnuplot.hpp"

#include "gradspec/cases/json_io.hpp"
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

using cases::json;
namespace fs = std::filesystem;

namespace {

struct op_stats {
  int pass = 0, judged = 0;
  double worst_ulp = 0, min_digits = 40;
};

struct implementation {
  std::string label; // "pytorch 1.13.0a0 float32"
  std::map<std::string, op_stats> ops;
  std::vector<std::string> failures;
  std::string rule;
  std::string provenance; // Markdown lines: what the summary was made from
};

// Control characters (a newline would end a table row or a data line) become spaces.
std::string one_line(std::string s) {
  for (char& ch : s)
    if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f) ch = ' ';
  return s;
}

// Markdown table cells: one line, pipes escaped.
std::string cell_text(const std::string& s) {
  std::string out;
  for (char ch : one_line(s)) out += ch == '|' ? std::string("\\|") : std::string(1, ch);
  return out;
}

const json& member(const json& obj, const std::string& key, const std::string& path) {
  if (!obj.is_object()) throw bad_input(path, "expected an object");
  auto it = obj.find(key);
  if (it == obj.end()) throw bad_input(path, "missing key \"" + key + "\"");
  return *it;
}

std::string optional_string(const json& obj, const std::string& key, const std::string& path) {
  return obj.contains(key) ? cases::string_value(obj[key], path + "/" + key) : std::string();
}

// Inline code: one line, no backticks (they would end the span).
std::string code(const std::string& s) {
  std::string out = one_line(s);
  std::replace(out.begin(), out.end(), '`', '\'');
  return "`" + out + "`";
}

// Any value of a summary as one line of text: strings as they are, numbers as written, objects as
// "key value, ..." (the policy's per_op), arrays joined with ", ", null as "none".
std::string value_text(const json& v) {
  if (cases::is_raw_number(v)) return cases::raw_number_text(v);
  if (v.is_string()) return one_line(v.get<std::string>());
  if (v.is_null()) return "none";
  if (v.is_boolean()) return v.get<bool>() ? "yes" : "no";
  if (v.is_number()) return v.dump();
  std::string out;
  if (v.is_object())
    for (auto it = v.begin(); it != v.end(); ++it) out += (out.empty() ? "" : ", ") + one_line(it.key()) + " " + value_text(it.value());
  else if (v.is_array())
    for (const auto& e : v) out += (out.empty() ? "" : ", ") + value_text(e);
  else
    out = cases::display(v);
  return v.is_object() ? "{" + out + "}" : out;
}

// The provenance of a summary as Markdown lines: gradspec version, the candidate as it declared
// itself, dtype and policy numbers, and each golden file with its SHA-1 and number of cases. Every
// field read is checked (bad_input with its JSON path); a summary without "provenance" says so.
std::string provenance_text(const json& doc, const std::string& dtype) {
  std::string md;
  const json* prov = doc.contains("provenance") ? &doc["provenance"] : nullptr;
  if (prov && !prov->is_object()) throw bad_input("/provenance", "expected an object");
  std::string version = "not recorded";
  if (prov && prov->contains("gradspec")) {
    const json& g = (*prov)["gradspec"];
    if (!g.is_object()) throw bad_input("/provenance/gradspec", "expected an object");
    version = cases::string_value(member(g, "version", "/provenance/gradspec"), "/provenance/gradspec/version");
  }
  md += "- gradspec: " + one_line(version) + "\n";
  if (prov && prov->contains("candidate")) {
    const json& c = (*prov)["candidate"];
    const std::string path = "/provenance/candidate";
    if (!c.is_object()) throw bad_input(path, "expected an object");
    std::string line = "- Candidate: " + one_line(optional_string(c, "name", path)) + " " + one_line(optional_string(c, "version", path));
    if (c.contains("adapter")) line += ", adapter " + code(cases::string_value(c["adapter"], path + "/adapter"));
    if (c.contains("builtin")) line += ", built-in " + code(cases::string_value(c["builtin"], path + "/builtin"));
    if (c.contains("results")) {
      line += ", results " + code(cases::string_value(c["results"], path + "/results"));
      if (c.contains("results_sha1")) line += " (SHA-1 " + code(cases::string_value(c["results_sha1"], path + "/results_sha1")) + ")";
    }
    for (const char* key : {"dtypes", "ops"})
      if (c.contains(key)) {
        if (!c[key].is_array()) throw bad_input(path + "/" + key, "expected an array");
        line += fmt::format("; {}: {}", key, value_text(c[key]));
      }
    if (c.contains("gradients")) {
      if (!c["gradients"].is_boolean()) throw bad_input(path + "/gradients", "expected true or false");
      line += std::string("; gradients: ") + (c["gradients"].get<bool>() ? "yes" : "no (forward only)");
    }
    md += line + "\n";
  }
  md += "- dtype: " + (dtype.empty() ? std::string("?") : one_line(dtype)) + "\n";
  if (doc.contains("policy")) {
    std::string numbers;
    for (auto it = doc["policy"].begin(); it != doc["policy"].end(); ++it)
      if (it.key() != "rule" && it.key() != "dtype") numbers += (numbers.empty() ? "" : "; ") + one_line(it.key()) + " " + value_text(it.value());
    md += "- Policy numbers: " + (numbers.empty() ? std::string("none") : numbers) + "\n";
  }
  if (!prov || !prov->contains("suites")) return md + "- Suites: not recorded\n";
  const json& suites = (*prov)["suites"];
  if (!suites.is_array()) throw bad_input("/provenance/suites", "expected an array");
  std::int64_t total = 0;
  std::string rows;
  for (std::size_t k = 0; k < suites.size(); ++k) {
    const std::string path = "/provenance/suites/" + std::to_string(k);
    const json& s = suites[k];
    const std::string file = cases::string_value(member(s, "file", path), path + "/file");
    const std::string sha1 = cases::string_value(member(s, "sha1", path), path + "/sha1");
    const std::int64_t n = cases::integer_in_range(member(s, "cases", path), path + "/cases", 0, INT64_MAX / 2);
    total += std::min<std::int64_t>(n, INT64_MAX / 2 - total);
    rows += "| " + cell_text(file) + " | " + std::to_string(n) + " | " + cell_text(sha1) + " |\n";
  }
  md += fmt::format("- Suites: {} file(s), {} case(s)\n\n| golden file | cases | SHA-1 |\n|---|---|---|\n", suites.size(), total);
  return md + rows;
}

// A summary number: a JSON number or "inf", "-inf", "nan" (how summaries write non-finite values).
double number(const json& v, const std::string& path) {
  const std::string text = cases::real_text(v, path);
  if (text == "nan") return NAN;
  if (text == "inf" || text == "+inf") return INFINITY;
  if (text == "-inf") return -INFINITY;
  return std::strtod(text.c_str(), nullptr);
}

// One summary, every field it reads checked: bad_input with the JSON path (the caller adds the file).
implementation parse_summary(const json& doc) {
  if (!doc.is_object()) throw bad_input("", "expected a JSON object at the top");
  if (!doc.contains("format") || doc["format"] != "gradspec-check/1")
    throw bad_input("/format", "expected \"gradspec-check/1\" (the --json summary of check or run)");
  implementation impl;
  const json& i = member(doc, "implementation", "");
  if (!i.is_object()) throw bad_input("/implementation", "expected an object");
  const std::string name = optional_string(i, "name", "/implementation");
  const std::string dtype = optional_string(i, "dtype", "/implementation");
  impl.label = one_line(fmt::format("{} {} {}", name.empty() ? "?" : name, optional_string(i, "version", "/implementation"), dtype));
  if (doc.contains("policy")) {
    if (!doc["policy"].is_object()) throw bad_input("/policy", "expected an object");
    impl.rule = optional_string(doc["policy"], "rule", "/policy");
  }
  impl.provenance = provenance_text(doc, dtype);
  const json& list = member(doc, "cases", "");
  if (!list.is_array()) throw bad_input("/cases", "expected an array of cases");
  for (std::size_t k = 0; k < list.size(); ++k) {
    const std::string path = "/cases/" + std::to_string(k);
    const json& c = list[k];
    const std::string verdict = cases::string_value(member(c, "verdict", path), path + "/verdict");
    if (verdict != "pass" && verdict != "acceptable" && verdict != "fail" && verdict != "error" && verdict != "skipped")
      throw bad_input(path + "/verdict", "expected \"pass\", \"acceptable\", \"fail\", \"error\" or \"skipped\"");
    const std::string id = cases::string_value(member(c, "id", path), path + "/id");
    const std::string op = cases::string_value(member(c, "op", path), path + "/op");
    const std::string reason = optional_string(c, "reason", path);
    if (verdict == "skipped") continue;
    op_stats& s = impl.ops[one_line(op)];
    ++s.judged;
    if (verdict == "pass") ++s.pass;
    else impl.failures.push_back(fmt::format("`{}` ({}): {}", one_line(id), verdict, one_line(reason)));
    if (!c.contains("tensors")) continue;
    const json& tensors = c["tensors"];
    if (!tensors.is_array()) throw bad_input(path + "/tensors", "expected an array");
    for (std::size_t j = 0; j < tensors.size(); ++j) {
      const std::string tp = path + "/tensors/" + std::to_string(j);
      const double ulp = number(member(tensors[j], "max_ulp", tp), tp + "/max_ulp");
      const double digits = number(member(tensors[j], "min_digits", tp), tp + "/min_digits");
      if (!std::isnan(ulp)) s.worst_ulp = std::max(s.worst_ulp, ulp);
      if (!std::isnan(digits)) s.min_digits = std::min(s.min_digits, digits);
    }
  }
  return impl;
}

implementation load(const std::string& path) {
  const json doc = cases::read_json_file(path);
  try {
    return parse_summary(doc);
  } catch (const bad_input& e) {
    throw e.in_file(path);
  }
}

std::string cell(const op_stats* s) {
  if (!s) return "–";
  return fmt::format("{}/{}, {:.3g} ulp, {:.1f} digits", s->pass, s->judged, s->worst_ulp, s->min_digits);
}

std::string markdown(const std::vector<implementation>& impls, const std::set<std::string>& ops) {
  std::string md = "# gradspec accuracy report\n\n";
  md += "Each cell: cases passed / judged, the worst error in units in the last place of the dtype, and the fewest "
        "correct significant digits (NIST log relative error) over every tensor of that op's cases.\n\n";
  md += "| op |";
  for (const auto& i : impls) md += " " + cell_text(i.label) + " |";
  md += "\n|---|";
  for (std::size_t k = 0; k < impls.size(); ++k) md += "---|";
  md += "\n";
  for (const auto& op : ops) {
    md += "| " + cell_text(op) + " |";
    for (const auto& i : impls) {
      auto it = i.ops.find(op);
      md += " " + cell(it == i.ops.end() ? nullptr : &it->second) + " |";
    }
    md += "\n";
  }
  md += "\n![fewest correct digits per op](digits.svg)\n";
  for (const auto& i : impls) {
    md += "\n## " + i.label + "\n\nPolicy: " + (i.rule.empty() ? "?" : one_line(i.rule)) + "\n\n";
    md += "Made from:\n\n" + i.provenance + "\n";
    // Acceptable findings (documented alternatives on inputs outside the maths) are listed, named by
    // their verdict, with the failures: never silent.
    if (i.failures.empty()) md += "Every judged case passed.\n";
    for (const auto& f : i.failures) md += "- " + f + "\n";
  }
  return md;
}

// digits.dat: a header row of titles, then one row per op, one column per implementation. Words are
// made safe for gnuplot's data syntax (no quotes, no blanks in the op column).
std::string plot_data(const std::vector<implementation>& impls, const std::set<std::string>& ops) {
  auto word = [](std::string s, char blank) {
    for (char& ch : s)
      if (ch == '"' || ch == '\\' || ch == '#' || (blank && (ch == ' ' || ch == '\t'))) ch = blank ? blank : '\'';
    return s;
  };
  std::string dat = "op"; // gnuplot's columnheader reads the titles from this row
  for (const auto& i : impls) dat += " \"" + word(i.label, 0) + "\"";
  dat += "\n";
  for (const auto& op : ops) {
    dat += word(op, '_');
    for (const auto& i : impls) {
      auto it = i.ops.find(op);
      dat += it == i.ops.end() ? " NaN" : fmt::format(" {:.3f}", it->second.min_digits);
    }
    dat += "\n";
  }
  return dat;
}

// Relative file names only: gnuplot runs inside the folder that holds them.
std::string plot_script(std::size_t columns) {
  std::string gp = "set terminal svg size 1000,480 font 'sans,11' noenhanced\nset output 'digits.svg'\n";
  gp += "set style data histograms\nset style histogram clustered gap 1\nset style fill solid 0.8 border -1\n";
  gp += "set ylabel 'fewest correct significant digits (exact results clipped at 18)'\nset yrange [0:18]\n";
  gp += "set xtics rotate by -35\nset key outside top center horizontal\nset grid ytics\nplot ";
  for (std::size_t k = 0; k < columns; ++k)
    gp += fmt::format("{}'digits.dat' using {}:xtic(1) title columnheader({})", k ? ", " : "", k + 2, k + 2);
  return gp + "\nset output\n";
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
// folder's files, the folder, and DIR if it was created here (async-signal-safe: fixed buffers,
// kill, unlink, rmdir), then pass the signal on.
constexpr std::size_t max_pending_path = 4096;
char pending_paths[6][max_pending_path]; // files first, then the folders, innermost first
int pending_count = 0;
volatile std::sig_atomic_t report_pending = 0;
cases::signal_chain report_chain;

extern "C" void remove_report_temporaries(int signal) {
  if (report_pending) {
    const pid_t child = gnuplot_child.load();
    if (child > 0) ::kill(child, SIGKILL);
    for (int i = 0; i < pending_count; ++i)
      if (::unlink(pending_paths[i]) != 0) ::rmdir(pending_paths[i]);
  }
  cases::pass_on(signal, report_chain);
}

struct report_guard {
  report_guard(const std::vector<fs::path>& paths) {
    static const bool installed = (cases::install_chained(remove_report_temporaries, report_chain), true);
    (void)installed;
    for (const auto& p : paths)
      if (p.native().size() >= max_pending_path) return; // never a truncated path: no cleanup then
    pending_count = 0;
    for (const auto& p : paths) std::memcpy(pending_paths[pending_count++], p.c_str(), p.native().size() + 1);
    report_pending = 1;
  }
  ~report_guard() { report_pending = 0; }
};

} // namespace

void write_report(const std::vector<std::string>& summaries, const std::string& dir) {
  std::vector<implementation> impls;
  for (const auto& s : summaries) impls.push_back(load(s));
  std::set<std::string> ops;
  for (const auto& i : impls)
    for (const auto& [op, s] : i.ops) ops.insert(op);
  if (ops.empty()) {
    std::string names;
    for (const auto& s : summaries) names += (names.empty() ? "" : ", ") + s;
    throw bad_input("", names + ": /cases: no judged case in any summary: nothing to report");
  }

  // Everything is written into a private folder inside DIR, then renamed into place: a failure
  // (gnuplot, a full disk) leaves no report file behind, and neither does it leave the folder if it
  // was created here.
  const fs::path out(dir);
  const char* names[] = {"report.md", "digits.dat", "digits.svg"};
  std::error_code ec;
  const bool existed = fs::exists(fs::symlink_status(out, ec));
  if (existed && !fs::is_directory(out, ec)) throw bad_input("--out", dir + ": exists and is not a folder");
  for (const char* name : names) {
    const auto st = fs::symlink_status(out / name, ec);
    if (!ec && fs::exists(st) && !fs::is_regular_file(st))
      throw bad_input("--out", (out / name).string() + ": exists and is not a regular file: refusing to replace it");
  }
  if (!existed && (fs::create_directories(out, ec), ec))
    throw bad_input("--out", dir + ": cannot create the folder (" + ec.message() + ")");
  const fs::path work = out / (".report.tmp" + std::to_string(::getpid()));
  auto clean_up = [&] {
    std::error_code ignored;
    fs::remove_all(work, ignored);
    if (!existed) fs::remove(out, ignored); // only if still empty
  };
  std::vector<fs::path> temporaries;
  for (const char* name : names) temporaries.push_back(work / name);
  temporaries.push_back(work);
  if (!existed) temporaries.push_back(out);
  const report_guard guard(temporaries);
  try {
    if (!fs::create_directory(work, ec) || ec) throw bad_input("--out", dir + ": cannot write in this folder (" + ec.message() + ")");
    write_plain(work / "report.md", markdown(impls, ops));
    write_plain(work / "digits.dat", plot_data(impls, ops));
    run_gnuplot(work.string(), plot_script(impls.size()));
    if (!fs::exists(work / "digits.svg", ec) || fs::file_size(work / "digits.svg", ec) == 0)
      throw std::runtime_error("gnuplot did not write the plot");
    for (const char* name : names) {
      fs::rename(work / name, out / name, ec);
      if (ec) throw bad_input("--out", (out / name).string() + ": cannot move into place (" + ec.message() + ")");
    }
  } catch (...) {
    clean_up();
    throw;
  }
  fs::remove_all(work, ec);
}

void read_summary(const std::string& path) { (void)load(path); }

} // namespace gradspec::reports
