#include "gradspec/checkers/summary.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace gradspec::checkers {

using cases::json;

check_counts count(const std::vector<case_finding>& findings) {
  check_counts c;
  for (const auto& f : findings) {
    if (f.verdict == "pass") ++c.pass;
    else if (f.verdict == "acceptable") ++c.acceptable;
    else if (f.verdict == "fail") ++c.fail;
    else if (f.verdict == "error") ++c.error;
    else ++c.skipped;
  }
  return c;
}

namespace {

int rank(const std::string& verdict) {
  return verdict == "fail" ? 0 : verdict == "error" ? 1 : verdict == "acceptable" ? 2 : verdict == "pass" ? 3 : 4;
}

std::string index_text(const std::vector<std::int64_t>& index) {
  std::string s = "[";
  for (std::size_t i = 0; i < index.size(); ++i) s += (i ? "," : "") + std::to_string(index[i]);
  return s + "]";
}

json number(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  return v;
}

} // namespace

void print_summary(std::ostream& out, const implementation_info& impl, const policy& p, std::vector<case_finding> findings,
                   bool show_passes) {
  std::stable_sort(findings.begin(), findings.end(), [](const case_finding& a, const case_finding& b) {
    if (rank(a.verdict) != rank(b.verdict)) return rank(a.verdict) < rank(b.verdict);
    return a.worst_ratio > b.worst_ratio;
  });
  out << fmt::format("gradspec check: {} {} in {}\n", impl.name, impl.version, p.dtype);
  for (const auto& f : findings) {
    if (f.verdict == "skipped" || (f.verdict == "pass" && !show_passes)) continue;
    double max_ulp = 0, digits = 40;
    for (const auto& t : f.tensors) {
      max_ulp = std::max(max_ulp, t.max_ulp);
      digits = std::min(digits, t.min_digits);
    }
    out << fmt::format("{:<10} {:<52} {:>10.3g} ulp {:>5.1f} digits  {}\n", f.verdict, f.id, max_ulp, digits,
                       f.verdict == "pass" ? "" : f.reason);
    if ((f.verdict == "fail" || f.verdict == "acceptable") && !f.why.empty()) out << "           why: " << f.why << "\n";
    if (f.verdict == "fail")
      for (const auto& t : f.tensors)
        if (t.verdict == "fail" && !t.worst_index.empty())
          out << fmt::format("           {} worst at {}: got {:.9g}, want {}\n", t.name, index_text(t.worst_index), t.worst_got,
                             t.worst_want);
  }
  const auto c = count(findings);
  if (c.judged() == 0) out << "gradspec: no case was judged (every case was skipped): nothing was checked\n";
  out << fmt::format("{} passed, {} failed, {} acceptable, {} errors, {} skipped\n", c.pass, c.fail, c.acceptable, c.error,
                     c.skipped);
}

json summary_json(const implementation_info& impl, const policy& p, const std::vector<case_finding>& findings,
                  const json* provenance) {
  json doc;
  doc["format"] = "gradspec-check/1";
  doc["implementation"] = {{"name", impl.name}, {"version", impl.version}, {"dtype", p.dtype}};
  doc["policy"] = p.describe();
  if (provenance) doc["provenance"] = *provenance;
  json list = json::array();
  for (const auto& f : findings) {
    json c = {{"id", f.id}, {"op", f.op}, {"verdict", f.verdict}};
    if (f.largest_dim > 0) c["largest_dim"] = f.largest_dim;
    if (!f.reason.empty()) c["reason"] = f.reason;
    if ((f.verdict == "fail" || f.verdict == "acceptable") && !f.why.empty()) c["why"] = f.why;
    json tensors = json::array();
    for (const auto& t : f.tensors) {
      json tj = {{"name", t.name},           {"verdict", t.verdict},         {"max_abs", number(t.max_abs)},
                 {"max_rel", number(t.max_rel)}, {"max_ulp", number(t.max_ulp)}, {"rms_ulp", number(t.rms_ulp)},
                 {"min_digits", number(t.min_digits)}, {"allowed_abs", number(t.allowed_abs)}};
      if (t.baseline_max_abs) tj["baseline_max_abs"] = number(*t.baseline_max_abs);
      if (!t.worst_index.empty()) tj["worst"] = {{"index", t.worst_index}, {"got", number(t.worst_got)}, {"want", t.worst_want}};
      if (!t.diagnosis.empty()) tj["diagnosis"] = t.diagnosis;
      if (!t.ulp_histogram.empty()) {
        tj["elements"] = t.elements;
        tj["ulp_histogram"] = t.ulp_histogram;
      }
      if (!t.acceptable.empty()) tj["acceptable"] = t.acceptable;
      tensors.push_back(tj);
    }
    c["tensors"] = tensors;
    list.push_back(c);
  }
  doc["cases"] = list;
  const auto c = count(findings);
  doc["summary"] = {{"pass", c.pass}, {"acceptable", c.acceptable}, {"fail", c.fail}, {"error", c.error}, {"skipped", c.skipped}};
  return doc;
}

int exit_code(const std::vector<case_finding>& findings, const policy& p) {
  const auto c = count(findings);
  return c.fail || c.error || (p.require_all && c.skipped) || c.judged() == 0 ? 1 : 0;
}

} // namespace gradspec::checkers
