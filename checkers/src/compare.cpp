#include "gradspec/checkers/compare.hpp"

#include "gradspec/cases/fast_golden.hpp"
#include "gradspec/cases/generate.hpp"
#include "gradspec/errors.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fmt/format.h>
#include <functional>
#include <future>
#include <set>
#include <span>
#include <stdexcept>

namespace gradspec::checkers {

std::size_t ulp_bin(double ulps) {
  if (!(ulps >= 0) || std::isinf(ulps)) return tensor_finding::ulp_bins - 1;
  if (ulps == 0) return 0;
  if (ulps <= 0.5) return 1;
  if (ulps <= 1) return 2;
  if (ulps > 0x1p20) return tensor_finding::ulp_bins - 2;
  int e = 0;
  const double m = std::frexp(ulps, &e); // ulps = m·2^e, m in [1/2, 1): (2^k, 2^(k+1)] has k = e - 1, or e - 2 at m = 1/2
  const int k = m == 0.5 ? e - 2 : e - 1;
  return static_cast<std::size_t>(3 + k);
}

const dtype_info& dtype_named(const std::string& name) {
  static const std::vector<dtype_info> dtypes = {{"float64", 53, -1022, std::ldexp(1.0, -52)},
                                                 {"float32", 24, -126, std::ldexp(1.0, -23)},
                                                 {"bfloat16", 8, -126, std::ldexp(1.0, -7)},
                                                 {"float16", 11, -14, std::ldexp(1.0, -10)},
                                                 // Hand or decimal arithmetic (the slides): inputs are taken as
                                                 // written, errors measured as in float64.
                                                 {"decimal", 53, -1022, std::ldexp(1.0, -52)}};
  for (const auto& d : dtypes)
    if (d.name == name) return d;
  throw bad_input("--dtype", "unknown dtype \"" + name + "\" (float64, float32, bfloat16, float16, decimal)");
}

cases::json policy::describe() const {
  cases::json j;
  j["dtype"] = dtype;
  if (fixed) {
    j["rule"] = "every element: |got - want| <= atol + rtol * |want|; NaN or Inf where the reference is finite fails";
    j["atol"] = fixed->atol;
    j["rtol"] = fixed->rtol;
  } else {
    j["rule"] = "per tensor: max|got - want| <= max(ratio * max|baseline - want|, ratio * max|baseline(inputs * (1 +- eps)) - "
                "baseline|, floor_eps * eps(dtype) * max|want|); NaN or Inf where the reference is finite fails";
    j["ratio"] = ratio;
    j["floor_eps"] = floor_eps;
    j["eps"] = dtype_named(dtype).epsilon;
  }
  if (!per_op.empty()) {
    cases::json o = cases::json::object();
    for (const auto& [op, t] : per_op) o[op] = {{"atol", t.atol}, {"rtol", t.rtol}};
    j["per_op"] = o;
  }
  j["baseline"] = baseline.empty() ? cases::json(nullptr) : cases::json(baseline);
  if (forward_only) j["forward_only"] = true;
  j["acceptable_findings"] = strict ? "fail the run (--strict)"
                                    : "NaN (or 0 for NaN) declared by a case flag's note as a documented alternative: verdict "
                                      "acceptable, named, does not fail the run";
  j["skipped_cases"] = require_all ? "fail the run (--require-all)" : "counted, do not fail the run";
  return j;
}

bool exact_in(const cases::test_case& c, const std::string& dtype) {
  if (dtype == "decimal") return true;
  if (!c.exact_in) return false;
  return std::find(c.exact_in->begin(), c.exact_in->end(), dtype) != c.exact_in->end();
}

namespace {

std::vector<std::int64_t> unravel(std::size_t flat, const shape_t& shape) {
  std::vector<std::int64_t> index(shape.size());
  for (std::size_t k = shape.size(); k-- > 0;) {
    const auto d = static_cast<std::size_t>(std::max<std::int64_t>(shape[k], 1));
    index[k] = static_cast<std::int64_t>(flat % d);
    flat /= d;
  }
  return index;
}

// The distance between adjacent dtype values around `want` (subnormals included).
long double ulp_of(long double want, const dtype_info& d) {
  const long double a = std::fabs(want);
  int e = d.emin;
  if (a > 0) e = std::max(d.emin, static_cast<int>(std::floor(std::log2(a))));
  return std::ldexp(1.0L, e - d.precision + 1);
}

struct element_errors {
  std::span<const long double> want;
  std::vector<bool> finite_want;
  long double scale = 0;
};

element_errors parse_want(const cases::expected_tensor& t) {
  element_errors e;
  e.want = t.want; // a view: the expected tensor outlives the judging
  e.finite_want.reserve(t.want.size());
  for (const long double w : t.want) {
    e.finite_want.push_back(std::isfinite(w));
    if (std::isfinite(w)) e.scale = std::max(e.scale, std::fabs(w));
  }
  return e;
}

// Max |got - want| over finite wants (NaN/Inf matches count as 0).
long double max_abs_error(const element_errors& w, const candidate_tensor& got) {
  long double m = 0;
  for (std::size_t i = 0; i < w.want.size(); ++i) {
    if (!w.finite_want[i]) continue;
    const long double g = got.values[i];
    m = std::max(m, std::isfinite(g) ? std::fabs(g - w.want[i]) : INFINITY);
  }
  return m;
}

tensor_finding judge_tensor(const std::string& name, const cases::expected_tensor& want_raw, const candidate_tensor& got,
                            const dtype_info& d, const policy& p, const std::optional<tolerance>& fixed,
                            const candidate_tensor* baseline, const candidate_tensor* perturbed, bool fully_masked_flag,
                            const std::vector<acceptable_alternative>& alternatives) {
  tensor_finding f;
  f.name = name;
  if (got.shape != want_raw.shape || got.values.size() != want_raw.want.size()) {
    f.verdict = "fail";
    f.diagnosis = "shape " + reference::shape_to_string(got.shape) + ", expected " + reference::shape_to_string(want_raw.shape);
    f.min_digits = 0;
    return f;
  }
  const element_errors w = parse_want(want_raw);
  const long double scale = w.scale > 0 ? w.scale : 1.0L;
  // A baseline is used only when it has exactly the expected layout (a golden file is input like any
  // other: its tensors need not match what the baseline computes from the inputs).
  auto same_layout = [&](const candidate_tensor* t) { return t && t->shape == got.shape && t->values.size() == w.want.size(); };
  std::optional<long double> base_err, sensitivity;
  if (same_layout(baseline)) base_err = max_abs_error(w, *baseline);
  if (same_layout(baseline) && same_layout(perturbed)) {
    long double m = 0;
    for (std::size_t i = 0; i < w.want.size(); ++i)
      if (w.finite_want[i] && std::isfinite(perturbed->values[i]) && std::isfinite(baseline->values[i]))
        m = std::max(m, std::fabs(static_cast<long double>(perturbed->values[i]) - baseline->values[i]));
    sensitivity = m;
  }
  const long double allowed =
      fixed ? 0
            : std::max({base_err ? p.ratio * *base_err : 0.0L, sensitivity ? p.ratio * *sensitivity : 0.0L,
                        static_cast<long double>(p.floor_eps * d.epsilon) * scale});
  f.allowed_abs = static_cast<double>(allowed);
  if (base_err) f.baseline_max_abs = static_cast<double>(*base_err);
  if (sensitivity) f.sensitivity_max_abs = static_cast<double>(*sensitivity);

  f.elements = w.want.size();
  f.ulp_histogram.assign(tensor_finding::ulp_bins, 0);
  const long double ulp = ulp_of(scale, d); // normwise: one ulp at the tensor's scale
  long double sum_sq_ulp = 0, worst_excess = -1, finite_max_abs = 0, largest_err = 0;
  std::size_t counted = 0, special_mismatch = 0, nan_for_finite = 0, zero_for_nan = 0;
  bool element_fail = false;
  for (std::size_t i = 0; i < w.want.size(); ++i) {
    const long double want = w.want[i], g = got.values[i];
    long double err = 0;
    if (!w.finite_want[i]) {
      const bool same = (std::isnan(want) && std::isnan(g)) || (want == g);
      if (!same) {
        ++special_mismatch;
        if (std::isnan(want) && g == 0) ++zero_for_nan;
        err = INFINITY;
      }
    } else if (!std::isfinite(g)) {
      ++f.nonfinite;
      if (std::isnan(g)) ++nan_for_finite;
      err = INFINITY;
    } else {
      err = std::fabs(g - want);
      finite_max_abs = std::max(finite_max_abs, err);
    }
    // max_rel per element, against max(|want|, eps·scale) so exact zeros next to large values do not
    // divide by zero; ulps and digits normwise, in units of the tensor's largest magnitude.
    const long double magnitude = std::max<long double>(std::fabs(want), d.epsilon * scale);
    const long double rel = std::isfinite(static_cast<double>(want)) ? err / magnitude : (err == 0 ? 0 : INFINITY);
    const long double ulps = std::isfinite(static_cast<double>(want)) ? err / ulp : (err == 0 ? 0 : INFINITY);
    f.max_abs = std::max(f.max_abs, static_cast<double>(err));
    f.max_rel = std::max(f.max_rel, static_cast<double>(rel));
    f.max_ulp = std::max(f.max_ulp, static_cast<double>(ulps));
    ++f.ulp_histogram[ulp_bin(static_cast<double>(ulps))];
    if (std::isfinite(static_cast<double>(ulps))) {
      sum_sq_ulp += ulps * ulps;
      ++counted;
    }
    largest_err = std::max(largest_err, err); // min_digits below, from the largest error (log10 is monotonic)
    // The worst element: the one furthest beyond what is allowed (or the largest error).
    const long double bound = fixed ? fixed->atol + fixed->rtol * std::fabs(want) : allowed;
    if (fixed && w.finite_want[i] && std::isfinite(g) && !(err <= bound)) element_fail = true;
    const long double excess = bound > 0 ? err / bound : err;
    if (excess > worst_excess || (std::isnan(static_cast<double>(excess)) && worst_excess >= 0)) {
      worst_excess = std::isnan(static_cast<double>(excess)) ? INFINITY : excess;
      f.worst_index = unravel(i, got.shape);
      f.worst_got = got.values[i];
      f.worst_want = std::string(want_raw.text[i]);
    }
  }
  if (largest_err > 0) f.min_digits = std::max(0.0, std::min(40.0, static_cast<double>(-std::log10(largest_err / scale))));
  f.rms_ulp = counted ? static_cast<double>(std::sqrt(sum_sq_ulp / counted)) : 0;
  const bool finite_fail = fixed ? element_fail : !(finite_max_abs <= allowed);
  const bool fail = f.nonfinite > 0 || special_mismatch > 0 || finite_fail;
  if (!fail) return f;
  f.verdict = "fail";
  const double err_eps = f.max_abs / (d.epsilon * static_cast<double>(scale));
  if (f.nonfinite > 0 && fully_masked_flag)
    f.diagnosis = fmt::format("NaN/Inf in a fully masked row ({} of {} values)", f.nonfinite, w.want.size());
  else if (f.nonfinite > 0)
    f.diagnosis = fmt::format("NaN/Inf where the reference is finite ({} of {} values)", f.nonfinite, w.want.size());
  else if (special_mismatch > 0)
    f.diagnosis = fmt::format("{} value(s) should be NaN or Inf and are not", special_mismatch);
  else if (fixed)
    f.diagnosis = fmt::format("error {:.3g} beyond atol {:g} + rtol {:g}·|want|", f.max_abs, fixed->atol, fixed->rtol);
  else if (f.baseline_max_abs)
    f.diagnosis = fmt::format("error {:.3g} eps where the baseline has {:.3g} eps (conditioning allows {:.3g})", err_eps,
                              *f.baseline_max_abs / (d.epsilon * static_cast<double>(scale)),
                              f.sensitivity_max_abs.value_or(0) / (d.epsilon * static_cast<double>(scale)));
  else
    f.diagnosis = fmt::format("error {:.3g} eps of the tensor's scale, allowed {:g}", err_eps, p.floor_eps);

  // An acceptable finding: every departure is a NaN (or a 0 for a NaN) that an alternative of the
  // case's flags declares, and the finite elements meet the rule.
  const bool only_covered_kinds = !finite_fail && nan_for_finite == f.nonfinite && zero_for_nan == special_mismatch;
  if (!only_covered_kinds) return f;
  std::vector<const acceptable_alternative*> used;
  for (const auto& [count, result] : {std::pair{nan_for_finite, "nan"}, std::pair{zero_for_nan, "zero"}}) {
    if (count == 0) continue;
    const acceptable_alternative* found = nullptr;
    for (const auto& a : alternatives)
      if (a.result == result && a.covers(name)) {
        found = &a;
        break;
      }
    if (!found) return f;
    used.push_back(found);
  }
  std::string names, descriptions;
  for (const auto* a : used) {
    names += (names.empty() ? "" : ", ") + a->flag + "/" + a->name;
    descriptions += (descriptions.empty() ? "" : " ") + a->description;
  }
  const std::string what = nan_for_finite ? fmt::format("NaN in {} of {} values", nan_for_finite, w.want.size())
                                          : fmt::format("0 for NaN in {} of {} values", zero_for_nan, w.want.size());
  if (p.strict) {
    f.diagnosis = fmt::format("{}: acceptable finding {} (fails under --strict)", what, names);
    return f;
  }
  f.verdict = "acceptable";
  f.acceptable = names;
  f.diagnosis = fmt::format("{}: acceptable finding {}: {}", what, names, descriptions);
  return f;
}


} // namespace

cases::test_case perturbed(const cases::test_case& c, double relative) {
  // What a candidate evaluates (op, params, inputs, cotangents), not the expected values.
  cases::test_case out;
  out.index = c.index;
  out.id = c.id;
  out.op = c.op;
  out.flags = c.flags;
  out.raw_params = c.raw_params;
  out.params = c.params;
  out.inputs = c.inputs;
  out.cotangents = c.cotangents;
  out.certified_digits = c.certified_digits;
  out.exact_in = c.exact_in;
  std::uint64_t state = cases::fnv1a(c.id + "/perturbed");
  std::set<std::string> masks; // structure, not data: not perturbed
  if (const auto* op = reference::find_op(c.op))
    for (const auto& spec : op->inputs(c.params))
      if (spec.role == reference::tensor_role::additive_mask) masks.insert(spec.name);
  for (auto& [name, t] : out.inputs) {
    if (t.integer || masks.count(name)) continue;
    for (auto& v : t.values) {
      const double x = reference::parse_scalar<double>(v); // correctly rounded, as strtod
      if (!std::isfinite(x) || x == 0) continue;
      const double sign = (cases::splitmix64(state) & 1) ? 1.0 : -1.0;
      char buf[40];
      const auto r = std::to_chars(buf, buf + sizeof buf, x * (1 + sign * relative), std::chars_format::general, 17); // as %.17g
      v.assign(buf, r.ptr);
    }
  }
  return out;
}

void perturb_double_inputs(const cases::test_case& c, reference::tensors<double>& inputs, double relative) {
  std::uint64_t state = cases::fnv1a(c.id + "/perturbed");
  std::set<std::string> masks;
  if (const auto* op = reference::find_op(c.op))
    for (const auto& spec : op->inputs(c.params))
      if (spec.role == reference::tensor_role::additive_mask) masks.insert(spec.name);
  for (const auto& [name, t] : c.inputs) { // the order of perturbed(): the signs come in the same sequence
    if (t.integer || masks.count(name)) continue;
    auto it = inputs.find(name);
    if (it == inputs.end()) continue;
    for (auto& x : it->second.data) {
      if (!std::isfinite(x) || x == 0) continue;
      const double sign = (cases::splitmix64(state) & 1) ? 1.0 : -1.0;
      x = x * (1 + sign * relative); // what perturbed()'s %.17g text reads back as, exactly
    }
  }
}

bool acceptable_alternative::covers(const std::string& tensor_name) const {
  for (const auto& t : tensors)
    if (tensor_name == t || tensor_name.rfind(t + ".", 0) == 0) return true;
  return false;
}

bool is_unsupported(const std::string& error) {
  static const std::string word = "unsupported";
  if (error.size() < word.size()) return false;
  for (std::size_t i = 0; i < word.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(error[i])) != word[i]) return false;
  return true;
}

std::vector<acceptable_alternative> acceptable_alternatives(const cases::test_case& c, const cases::json* notes) {
  std::vector<acceptable_alternative> out;
  if (!notes || !notes->is_object()) return out;
  for (const auto& flag : c.flags) {
    if (!notes->contains(flag)) continue;
    const cases::json& note = (*notes)[flag];
    if (!note.is_object() || !note.contains("acceptable")) continue;
    const std::string path = "/notes/" + flag + "/acceptable";
    const cases::json& list = note["acceptable"];
    if (!list.is_array()) throw bad_input(path, "expected a list of alternatives");
    for (std::size_t i = 0; i < list.size(); ++i) {
      const std::string at = path + "/" + std::to_string(i);
      const cases::json& a = list[i];
      if (!a.is_object()) throw bad_input(at, "expected {\"name\", \"result\", \"tensors\", \"description\"}");
      acceptable_alternative alt;
      alt.flag = flag;
      for (auto [key, field] : {std::pair{"name", &alt.name}, std::pair{"result", &alt.result}, std::pair{"description", &alt.description}}) {
        if (!a.contains(key) || !a[key].is_string() || cases::is_raw_number(a[key])) throw bad_input(at + "/" + key, "expected a string");
        *field = a[key].get<std::string>();
      }
      if (alt.result != "nan" && alt.result != "zero") throw bad_input(at + "/result", "expected \"nan\" or \"zero\"");
      if (!a.contains("tensors") || !a["tensors"].is_array()) throw bad_input(at + "/tensors", "expected a list of tensor names");
      for (std::size_t k = 0; k < a["tensors"].size(); ++k) {
        const cases::json& t = a["tensors"][k];
        if (!t.is_string() || cases::is_raw_number(t)) throw bad_input(at + "/tensors/" + std::to_string(k), "expected a string");
        alt.tensors.push_back(t.get<std::string>());
      }
      out.push_back(std::move(alt));
    }
  }
  return out;
}

namespace {

// "flag: description" for the case's first flag that its file describes.
std::string why_of(const cases::test_case& c, const cases::json* notes) {
  if (!notes || !notes->is_object()) return "";
  for (const auto& flag : c.flags) {
    if (!notes->contains(flag)) continue;
    const cases::json& note = (*notes)[flag];
    if (note.is_object() && note.contains("description") && note["description"].is_string() && !cases::is_raw_number(note["description"]))
      return flag + ": " + note["description"].get<std::string>();
  }
  return "";
}

} // namespace

case_finding judge(const cases::test_case& c, const candidate_result* got, const policy& p, const candidate_result* baseline,
                   const candidate_result* perturbed_baseline, const cases::json* notes) {
  case_finding out;
  out.id = c.id;
  out.op = c.op;
  out.why = why_of(c, notes);
  for (const auto& [name, t] : c.inputs)
    for (auto n : t.shape) out.largest_dim = std::max<std::int64_t>(out.largest_dim, n);
  if (!exact_in(c, p.dtype)) {
    out.verdict = "skipped";
    out.reason = "inputs not exact in " + p.dtype;
    return out;
  }
  if (!got) {
    out.verdict = "skipped";
    out.reason = "no result for this case";
    return out;
  }
  if (got->error) {
    out.verdict = is_unsupported(*got->error) ? "skipped" : "error";
    out.reason = *got->error;
    return out;
  }
  if (!c.has_expected()) throw bad_input(cases::case_path(c.index), "no \"expected\" (a spec file, not a golden file)");
  if (!c.expected_text.empty() && c.expected_tensors.empty())
    throw std::logic_error("judge: parse_lazy_expected first"); // the fast reader's expected, not yet parsed
  const dtype_info& d = dtype_named(p.dtype);
  std::optional<tolerance> fixed = p.fixed;
  if (auto it = p.per_op.find(c.op); it != p.per_op.end()) fixed = it->second;
  const bool masked = std::find(c.flags.begin(), c.flags.end(), "fully_masked_row") != c.flags.end();
  const std::vector<acceptable_alternative> alternatives = acceptable_alternatives(c, notes);
  // The expected tensors: parsed by the fast reader, or from the document (views into raw tensors).
  std::vector<cases::raw_tensor> texts;
  const std::vector<cases::expected_tensor> from_document =
      c.expected_tensors.empty() ? cases::expected_from_document(c, texts) : std::vector<cases::expected_tensor>{};
  const std::vector<cases::expected_tensor>& expected = c.expected_tensors.empty() ? from_document : c.expected_tensors;
  struct job {
    std::size_t slot, elements;
    std::function<void()> run;
  };
  std::vector<job> jobs;
  out.tensors.reserve(expected.size());
  for (const char* group : {"outputs", "gradients", "intermediates"}) {
    if (p.forward_only && std::string(group) == "gradients") continue;
    for (const auto& want : expected) {
      if (want.group != group) continue;
      const std::string name = std::string(group) + "." + want.name;
      auto found = got->tensors.find(name);
      if (found == got->tensors.end()) {
        if (std::string(group) == "intermediates") continue; // optional for candidates
        tensor_finding missing;
        missing.name = name;
        missing.verdict = "fail";
        missing.min_digits = 0;
        missing.diagnosis = "missing from the candidate's result";
        out.tensors.push_back(missing);
        continue;
      }
      const candidate_tensor *base = nullptr, *moved = nullptr;
      if (baseline && !baseline->error)
        if (auto b = baseline->tensors.find(name); b != baseline->tensors.end()) base = &b->second;
      if (perturbed_baseline && !perturbed_baseline->error)
        if (auto b = perturbed_baseline->tensors.find(name); b != perturbed_baseline->tensors.end()) moved = &b->second;
      const candidate_tensor* candidate = &found->second;
      const cases::expected_tensor* w = &want;
      const std::size_t slot = out.tensors.size();
      out.tensors.emplace_back();
      jobs.push_back({slot, want.want.size(), [&, name, w, candidate, base, moved, slot] {
                        out.tensors[slot] = judge_tensor(name, *w, *candidate, d, p, fixed, base, moved, masked, alternatives);
                      }});
    }
  }
  // Large tensors judged two at a time (both cores); the findings keep their order.
  std::size_t large = 0;
  for (const auto& j : jobs) large += j.elements >= (1u << 16);
  if (large >= 2) {
    std::vector<std::future<void>> running;
    for (auto& j : jobs) running.push_back(std::async(std::launch::async, j.run));
    for (auto& r : running) r.get();
  } else {
    for (auto& j : jobs) j.run();
  }
  for (const auto& t : out.tensors) {
    const double ratio = t.allowed_abs > 0 ? t.max_abs / t.allowed_abs : (t.verdict == "fail" ? INFINITY : 0);
    if (t.verdict == "fail" && (out.verdict != "fail" || ratio > out.worst_ratio)) out.reason = t.name + ": " + t.diagnosis;
    if (t.verdict == "acceptable" && out.verdict == "pass") out.reason = t.name + ": " + t.diagnosis;
    if (t.verdict == "fail") out.verdict = "fail";
    else if (t.verdict == "acceptable" && out.verdict == "pass") out.verdict = "acceptable";
    if (t.verdict != "acceptable") out.worst_ratio = std::max(out.worst_ratio, std::isnan(ratio) ? INFINITY : ratio);
  }
  return out;
}

} // namespace gradspec::checkers
