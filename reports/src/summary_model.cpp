#include "summary_model.hpp"

#include "gradspec/errors.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <set>

namespace gradspec::reports {

using cases::json;
using cases::member;

std::string plain(std::string s) {
  for (char& ch : s) {
    if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f) ch = ' ';
    if (ch == '`') ch = '\'';
  }
  return s;
}

std::string column::implementation() const { return plain(fmt::format("{} {}", name.empty() ? "?" : name, version)); }

std::string column::label() const { return plain(fmt::format("{} {} {}", implementation(), dtype.empty() ? "?" : dtype, suite)); }

namespace {

std::string optional_string(const json& obj, const std::string& key, const std::string& path) {
  return obj.contains(key) ? plain(cases::string_value(obj[key], path + "/" + key)) : std::string();
}

std::string code(const std::string& s) { return "`" + plain(s) + "`"; }

// Any value of a summary as one line of text: strings as they are, numbers as written, objects as
// "{key value, ...}" (the policy's per_op), arrays joined with ", ", null as "none".
std::string value_text(const json& v) {
  if (cases::is_raw_number(v)) return cases::raw_number_text(v);
  if (v.is_string()) return plain(v.get<std::string>());
  if (v.is_null()) return "none";
  if (v.is_boolean()) return v.get<bool>() ? "yes" : "no";
  if (v.is_number()) return v.dump();
  std::string out;
  if (v.is_object())
    for (auto it = v.begin(); it != v.end(); ++it) out += (out.empty() ? "" : ", ") + plain(it.key()) + " " + value_text(it.value());
  else if (v.is_array())
    for (const auto& e : v) out += (out.empty() ? "" : ", ") + value_text(e);
  else
    out = plain(cases::display(v));
  return v.is_object() ? "{" + out + "}" : out;
}

// A summary number: a JSON number or "inf", "-inf", "nan" (how summaries write non-finite values).
double number(const json& v, const std::string& path) {
  const std::string text = cases::real_text(v, path);
  if (text == "nan") return NAN;
  if (text == "inf" || text == "+inf") return INFINITY;
  if (text == "-inf") return -INFINITY;
  return std::strtod(text.c_str(), nullptr);
}

// The provenance lines and the golden files of a summary.
void read_provenance(const json& doc, column& c) {
  const json* prov = doc.contains("provenance") ? &doc["provenance"] : nullptr;
  if (prov && !prov->is_object()) throw bad_input("/provenance", "expected an object");
  std::string version = "not recorded";
  if (prov && prov->contains("gradspec")) {
    const json& g = (*prov)["gradspec"];
    if (!g.is_object()) throw bad_input("/provenance/gradspec", "expected an object");
    version = plain(cases::string_value(member(g, "version", "/provenance/gradspec"), "/provenance/gradspec/version"));
  }
  c.provenance.push_back("gradspec: " + version);
  if (prov && prov->contains("candidate")) {
    const json& cand = (*prov)["candidate"];
    const std::string path = "/provenance/candidate";
    if (!cand.is_object()) throw bad_input(path, "expected an object");
    std::string line = "Candidate: " + optional_string(cand, "name", path) + " " + optional_string(cand, "version", path);
    if (cand.contains("adapter")) line += ", adapter " + code(cases::string_value(cand["adapter"], path + "/adapter"));
    if (cand.contains("builtin")) line += ", built-in " + code(cases::string_value(cand["builtin"], path + "/builtin"));
    if (cand.contains("results")) {
      line += ", results " + code(cases::string_value(cand["results"], path + "/results"));
      if (cand.contains("results_sha1"))
        line += " (SHA-1 " + code(cases::string_value(cand["results_sha1"], path + "/results_sha1")) + ")";
    }
    for (const char* key : {"dtypes", "ops"})
      if (cand.contains(key)) {
        if (!cand[key].is_array()) throw bad_input(path + "/" + key, "expected an array");
        line += fmt::format("; {}: {}", key, value_text(cand[key]));
      }
    if (cand.contains("gradients")) {
      if (!cand["gradients"].is_boolean()) throw bad_input(path + "/gradients", "expected true or false");
      line += std::string("; gradients: ") + (cand["gradients"].get<bool>() ? "yes" : "no (forward only)");
    }
    c.provenance.push_back(line);
  }
  c.provenance.push_back("dtype: " + (c.dtype.empty() ? std::string("?") : c.dtype));
  if (doc.contains("policy")) {
    std::string numbers;
    for (auto it = doc["policy"].begin(); it != doc["policy"].end(); ++it)
      if (it.key() != "rule" && it.key() != "dtype") numbers += (numbers.empty() ? "" : "; ") + plain(it.key()) + " " + value_text(it.value());
    c.provenance.push_back("Policy numbers: " + (numbers.empty() ? std::string("none") : numbers));
  }
  if (!prov || !prov->contains("suites")) return;
  const json& suites = (*prov)["suites"];
  if (!suites.is_array()) throw bad_input("/provenance/suites", "expected an array");
  c.suites_recorded = true;
  for (std::size_t k = 0; k < suites.size(); ++k) {
    const std::string path = "/provenance/suites/" + std::to_string(k);
    const json& s = suites[k];
    suite_file f;
    f.file = plain(cases::string_value(member(s, "file", path), path + "/file"));
    f.sha1 = plain(cases::string_value(member(s, "sha1", path), path + "/sha1"));
    f.cases = cases::integer_in_range(member(s, "cases", path), path + "/cases", 0, INT64_MAX / 2);
    c.suites.push_back(f);
  }
}

// The suite's name: the folder holding its golden files ("cases/edge/softmax.json": edge), the
// names joined with "+" when they differ, "?" when the summary does not record its files.
std::string suite_name(const std::vector<suite_file>& files) {
  std::set<std::string> names;
  for (const auto& f : files) {
    std::string folder = std::filesystem::path(f.file).parent_path().filename().string();
    names.insert(folder.empty() ? std::string(".") : folder);
  }
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : "+") + n;
  return out.empty() ? std::string("?") : plain(out);
}

tensor_record read_tensor(const json& t, const std::string& tp) {
  tensor_record r;
  r.name = plain(cases::string_value(member(t, "name", tp), tp + "/name"));
  r.verdict = optional_string(t, "verdict", tp);
  r.diagnosis = optional_string(t, "diagnosis", tp);
  r.acceptable = optional_string(t, "acceptable", tp);
  r.max_abs = number(member(t, "max_abs", tp), tp + "/max_abs");
  r.max_ulp = number(member(t, "max_ulp", tp), tp + "/max_ulp");
  r.min_digits = number(member(t, "min_digits", tp), tp + "/min_digits");
  if (t.contains("rms_ulp")) r.rms_ulp = number(t["rms_ulp"], tp + "/rms_ulp");
  if (t.contains("baseline_max_abs")) r.baseline_max_abs = number(t["baseline_max_abs"], tp + "/baseline_max_abs");
  if (t.contains("ulp_histogram")) {
    const json& h = t["ulp_histogram"];
    if (!h.is_array() || h.size() != ulp_bins)
      throw bad_input(tp + "/ulp_histogram", fmt::format("expected an array of {} counts", ulp_bins));
    std::uint64_t total = 0;
    for (std::size_t b = 0; b < h.size(); ++b) {
      const auto n = static_cast<std::uint64_t>(
          cases::integer_in_range(h[b], tp + "/ulp_histogram/" + std::to_string(b), 0, std::int64_t{1} << 50));
      r.ulp_histogram.push_back(n);
      total += n;
    }
    r.elements = static_cast<std::uint64_t>(cases::integer_in_range(member(t, "elements", tp), tp + "/elements", 0, std::int64_t{1} << 50));
    if (total != r.elements) throw bad_input(tp + "/ulp_histogram", fmt::format("counts add up to {}, not elements = {}", total, r.elements));
  }
  if (t.contains("worst")) {
    const json& w = t["worst"];
    const std::string wp = tp + "/worst";
    const json& index = member(w, "index", wp);
    if (!index.is_array()) throw bad_input(wp + "/index", "expected an array of integers");
    std::string at;
    for (std::size_t i = 0; i < index.size() && i < 16; ++i)
      at += (i ? ", " : "") + std::to_string(cases::integer_in_range(index[i], wp + "/index/" + std::to_string(i), 0, INT64_MAX));
    const double got = number(member(w, "got", wp), wp + "/got");
    const std::string want = plain(cases::string_value(member(w, "want", wp), wp + "/want"));
    r.worst = fmt::format("at [{}]: got {:.9g}, want {}", at, got, want.substr(0, 48));
  }
  return r;
}

column parse_column(const json& doc) {
  if (!doc.is_object()) throw bad_input("", "expected a JSON object at the top");
  if (!doc.contains("format") || doc["format"] != "gradspec-check/1")
    throw bad_input("/format", "expected \"gradspec-check/1\" (the --json summary of check or run)");
  column c;
  const json& i = member(doc, "implementation", "");
  if (!i.is_object()) throw bad_input("/implementation", "expected an object");
  c.name = optional_string(i, "name", "/implementation");
  c.version = optional_string(i, "version", "/implementation");
  c.dtype = optional_string(i, "dtype", "/implementation");
  if (doc.contains("policy")) {
    if (!doc["policy"].is_object()) throw bad_input("/policy", "expected an object");
    c.rule = optional_string(doc["policy"], "rule", "/policy");
  }
  read_provenance(doc, c);
  c.suite = c.suites_recorded ? suite_name(c.suites) : "?";
  const json& list = member(doc, "cases", "");
  if (!list.is_array()) throw bad_input("/cases", "expected an array of cases");
  for (std::size_t k = 0; k < list.size(); ++k) {
    const std::string path = "/cases/" + std::to_string(k);
    const json& cj = list[k];
    case_record r;
    r.verdict = cases::string_value(member(cj, "verdict", path), path + "/verdict");
    if (r.verdict != "pass" && r.verdict != "acceptable" && r.verdict != "fail" && r.verdict != "error" && r.verdict != "skipped")
      throw bad_input(path + "/verdict", "expected \"pass\", \"acceptable\", \"fail\", \"error\" or \"skipped\"");
    r.id = plain(cases::string_value(member(cj, "id", path), path + "/id"));
    r.op = plain(cases::string_value(member(cj, "op", path), path + "/op"));
    r.reason = optional_string(cj, "reason", path);
    r.why = optional_string(cj, "why", path);
    if (cj.contains("largest_dim")) r.largest_dim = cases::integer_in_range(cj["largest_dim"], path + "/largest_dim", 1, std::int64_t{1} << 40);
    if (cj.contains("tensors")) {
      const json& tensors = cj["tensors"];
      if (!tensors.is_array()) throw bad_input(path + "/tensors", "expected an array");
      for (std::size_t j = 0; j < tensors.size(); ++j) r.tensors.push_back(read_tensor(tensors[j], path + "/tensors/" + std::to_string(j)));
    }
    c.cases.push_back(std::move(r));
  }
  return c;
}

} // namespace

column load_column(const std::string& path) {
  const json doc = cases::read_json_file(path);
  try {
    column c = parse_column(doc);
    c.source = path;
    return c;
  } catch (const bad_input& e) {
    throw e.in_file(path);
  }
}

} // namespace gradspec::reports
