#include "gradspec/checkers/compare.hpp"

#include "gradspec/cases/generate.hpp"
#include "gradspec/errors.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fmt/format.h>

namespace gradspec::checkers {

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
  std::vector<long double> want;
  std::vector<bool> finite_want;
  long double scale = 0;
};

element_errors parse_want(const cases::raw_tensor& t) {
  element_errors e;
  e.want.reserve(t.values.size());
  for (const auto& v : t.values) {
    long double w = v == "nan" ? NAN : v == "inf" ? INFINITY : v == "-inf" ? -INFINITY : std::strtold(v.c_str(), nullptr);
    e.want.push_back(w);
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

tensor_finding judge_tensor(const std::string& name, const cases::raw_tensor& want_raw, const candidate_tensor& got,
                            const dtype_info& d, const policy& p, const std::optional<tolerance>& fixed,
                            const candidate_tensor* baseline, const candidate_tensor* perturbed, bool fully_masked_flag) {
  tensor_finding f;
  f.name = name;
  if (got.shape != want_raw.shape) {
    f.verdict = "fail";
    f.diagnosis = "shape " + reference::shape_to_string(got.shape) + ", expected " + reference::shape_to_string(want_raw.shape);
    f.min_digits = 0;
    return f;
  }
  const element_errors w = parse_want(want_raw);
  const long double scale = w.scale > 0 ? w.scale : 1.0L;
  std::optional<long double> base_err, sensitivity;
  // hardening: every index below is guarded by sizes (a baseline of another size is ignored).
  const bool base_fits = baseline && baseline->shape == got.shape && baseline->values.size() == w.want.size();
  if (base_fits) base_err = max_abs_error(w, *baseline);
  if (base_fits && perturbed && perturbed->shape == baseline->shape && perturbed->values.size() == w.want.size()) {
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

  long double sum_sq_ulp = 0, worst_excess = -1;
  std::size_t counted = 0, special_mismatch = 0;
  bool element_fail = false;
  for (std::size_t i = 0; i < w.want.size(); ++i) {
    const long double want = w.want[i], g = got.values[i];
    long double err = 0;
    if (!w.finite_want[i]) {
      const bool same = (std::isnan(want) && std::isnan(g)) || (want == g);
      if (!same) {
        ++special_mismatch;
        err = INFINITY;
      }
    } else if (!std::isfinite(g)) {
      ++f.nonfinite;
      err = INFINITY;
    } else {
      err = std::fabs(g - want);
    }
    // max_rel per element, against max(|want|, eps·scale) so exact zeros next to large values do not
    // divide by zero; ulps and digits normwise, in units of the tensor's largest magnitude.
    const long double magnitude = std::max<long double>(std::fabs(want), d.epsilon * scale);
    const long double rel = std::isfinite(static_cast<double>(want)) ? err / magnitude : (err == 0 ? 0 : INFINITY);
    const long double ulps = std::isfinite(static_cast<double>(want)) ? err / ulp_of(scale, d) : (err == 0 ? 0 : INFINITY);
    f.max_abs = std::max(f.max_abs, static_cast<double>(err));
    f.max_rel = std::max(f.max_rel, static_cast<double>(rel));
    f.max_ulp = std::max(f.max_ulp, static_cast<double>(ulps));
    if (std::isfinite(static_cast<double>(ulps))) {
      sum_sq_ulp += ulps * ulps;
      ++counted;
    }
    const double digits = err == 0 ? 40.0 : std::min(40.0, static_cast<double>(-std::log10(err / scale)));
    f.min_digits = std::min(f.min_digits, std::max(0.0, digits));
    // The worst element: the one furthest beyond what is allowed (or the largest error).
    const long double bound = fixed ? fixed->atol + fixed->rtol * std::fabs(want) : allowed;
    if (fixed && !(err <= bound)) element_fail = true;
    const long double excess = bound > 0 ? err / bound : err;
    if (excess > worst_excess || (std::isnan(static_cast<double>(excess)) && worst_excess >= 0)) {
      worst_excess = std::isnan(static_cast<double>(excess)) ? INFINITY : excess;
      f.worst_index = unravel(i, got.shape);
      f.worst_got = got.values[i];
      f.worst_want = want_raw.values[i];
    }
  }
  f.rms_ulp = counted ? static_cast<double>(std::sqrt(sum_sq_ulp / counted)) : 0;
  const bool fail = f.nonfinite > 0 || special_mismatch > 0 || (fixed ? element_fail : !(f.max_abs <= f.allowed_abs));
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
  return f;
}

const cases::json* expected_group(const cases::json& expected, const std::string& group) {
  return expected.contains(group) && expected[group].is_object() ? &expected[group] : nullptr;
}

} // namespace

cases::test_case perturbed(const cases::test_case& c, double relative) {
  cases::test_case out = c;
  std::uint64_t state = cases::fnv1a(c.id + "/perturbed");
  for (auto& [name, t] : out.inputs) {
    if (t.integer || name == "mask") continue;
    for (auto& v : t.values) {
      const double x = std::strtod(v.c_str(), nullptr);
      if (!std::isfinite(x) || x == 0) continue;
      const double sign = (cases::splitmix64(state) & 1) ? 1.0 : -1.0;
      char buf[40];
      std::snprintf(buf, sizeof buf, "%.17g", x * (1 + sign * relative));
      v = buf;
    }
  }
  return out;
}

case_finding judge(const cases::test_case& c, const candidate_result* got, const policy& p, const candidate_result* baseline,
                   const candidate_result* perturbed_baseline) {
  case_finding out;
  out.id = c.id;
  out.op = c.op;
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
    out.verdict = "error";
    out.reason = *got->error;
    return out;
  }
  if (!c.expected) throw bad_input(cases::case_path(c.index), "no \"expected\" (a spec file, not a golden file)");
  const dtype_info& d = dtype_named(p.dtype);
  std::optional<tolerance> fixed = p.fixed;
  if (auto it = p.per_op.find(c.op); it != p.per_op.end()) fixed = it->second;
  const bool masked = std::find(c.flags.begin(), c.flags.end(), "fully_masked_row") != c.flags.end();
  for (const char* group : {"outputs", "gradients", "intermediates"}) {
    if (p.forward_only && std::string(group) == "gradients") continue;
    const cases::json* g = expected_group(*c.expected, group);
    if (!g) continue;
    for (auto it = g->begin(); it != g->end(); ++it) {
      const std::string name = std::string(group) + "." + it.key();
      const cases::raw_tensor want = cases::parse_tensor(it.value(), cases::case_path(c.index) + "/expected/" + group + "/" + it.key());
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
      out.tensors.push_back(judge_tensor(name, want, found->second, d, p, fixed, base, moved, masked));
    }
  }
  for (const auto& t : out.tensors) {
    const double ratio = t.allowed_abs > 0 ? t.max_abs / t.allowed_abs : (t.verdict == "fail" ? INFINITY : 0);
    if (t.verdict == "fail" && (out.verdict != "fail" || ratio > out.worst_ratio)) out.reason = t.name + ": " + t.diagnosis;
    if (t.verdict == "fail") out.verdict = "fail";
    out.worst_ratio = std::max(out.worst_ratio, std::isnan(ratio) ? INFINITY : ratio);
  }
  return out;
}

} // namespace gradspec::checkers
