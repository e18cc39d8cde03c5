#include "gradspec/checkers/gradcheck.hpp"

#include "gradspec/cases/exactness.hpp"
#include "gradspec/cases/generate.hpp"
#include "gradspec/checkers/compare.hpp"
#include "gradspec/errors.hpp"

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <map>
#include <optional>
#include <stdexcept>

namespace gradspec::checkers {

using reference::mp_real;

// ---- A candidate against its own forward pass ------------------------------------------------

namespace {

// The candidate failed (an error result or an answer without a needed tensor): the case is `error`.
struct candidate_failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::string number_text(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

// One real differentiable input: values, per-element step and conditioning, claimed gradient.
struct input_data {
  std::string name;
  std::vector<double> x;     // as sent; non-finite values are never moved
  std::vector<double> step;  // s_i (0 where x_i is not finite)
  std::vector<double> kappa; // κ of the element's row
  std::vector<double> grad;  // the candidate's dL/dx
};

// Steps for one input (see gradcheck.hpp): rows along the last axis.
void choose_steps(input_data& in, const shape_t& shape, double eps, bool f32) {
  const std::size_t n = in.x.size();
  in.step.assign(n, 0);
  in.kappa.assign(n, 1);
  if (n == 0) return;
  const std::size_t row = shape.empty() ? 1 : std::max<std::size_t>(1, static_cast<std::size_t>(shape.back()));
  auto stats = [&](std::size_t from, std::size_t to, double& spread, double& mag) {
    double lo = INFINITY, hi = -INFINITY;
    mag = 0;
    for (std::size_t i = from; i < to; ++i)
      if (std::isfinite(in.x[i])) {
        lo = std::min(lo, in.x[i]);
        hi = std::max(hi, in.x[i]);
        mag = std::max(mag, std::fabs(in.x[i]));
      }
    spread = hi > lo ? hi - lo : 0;
  };
  double tensor_spread, tensor_mag;
  stats(0, n, tensor_spread, tensor_mag);
  const double fallback = tensor_spread > 0 ? tensor_spread : tensor_mag > 0 ? tensor_mag : 1;
  for (std::size_t from = 0; from < n; from += row) {
    const std::size_t to = std::min(n, from + row);
    double spread, mag;
    stats(from, to, spread, mag);
    const double scale = spread > 0 ? spread : fallback;
    const double kappa = std::max(1.0, mag / scale);
    // One ulp of the row's largest value in the dtype.
    const double ulp = f32 ? static_cast<double>(std::nextafter(static_cast<float>(mag), INFINITY) - static_cast<float>(mag))
                           : std::nextafter(mag, INFINITY) - mag;
    const double s = std::max(scale * std::cbrt(eps * kappa), 16 * ulp);
    for (std::size_t i = from; i < to; ++i)
      if (std::isfinite(in.x[i])) {
        in.step[i] = s;
        in.kappa[i] = kappa;
      }
  }
}

struct direction {
  std::string what;
  std::vector<std::vector<double>> u; // per input (same order as the inputs), 0 = not moved
};

// L(x + t·v) and L(x - t·v) with the claimed changes, for one t.
struct level {
  long double up = 0, down = 0; // L(x+), L(x-)
  long double claimed = 0;      // <g, a + b>, a = x+ - x, b = x - x-
  long double skew = 0;         // <g, a - b> (rounding of the moved values makes a != b)
  bool pattern_changed = false; // an output turned NaN/Inf, or finite, at a moved point
};

// One direction's judgement at its best step.
struct direction_outcome {
  std::string verdict = "pass", note;
  double units = 0, estimate = 0, fd = 0, claimed = 0, t = 1;
};

class candidate_checker {
public:
  candidate_checker(const cases::test_case& c, const candidate_fn& ask, const candidate_gradcheck_options& o, bool f32)
      : c_(c), ask_(ask), o_(o), f32_(f32), eps_(f32 ? std::ldexp(1.0, -23) : std::ldexp(1.0, -52)) {}

  std::size_t evaluations = 0;

  // Reads the base answer; throws candidate_failure when it is unusable. Returns false when the
  // case has no differentiable input.
  bool prepare() {
    base_case_ = c_;
    base_case_.expected.reset();
    const candidate_result base = call(base_case_);
    for (const auto& [name, cot] : base_case_.cotangents) {
      auto it = base.tensors.find("outputs." + name);
      if (it == base.tensors.end()) throw candidate_failure("the candidate gave no output " + name);
      if (it->second.values.size() != cot.values.size())
        throw candidate_failure("outputs." + name + " has " + std::to_string(it->second.values.size()) +
                                " values, its cotangent " + std::to_string(cot.values.size()));
      auto& w = cot_[name];
      auto& f = finite_[name];
      for (std::size_t i = 0; i < cot.values.size(); ++i) {
        w.push_back(std::strtold(cot.values[i].c_str(), nullptr));
        f.push_back(std::isfinite(it->second.values[i]));
      }
    }
    bool pattern_changed = false;
    L0_ = objective(base, pattern_changed);
    long double magnitude = 0; // sum of squares: rounding errors of different values add up like random ones
    for (const auto& [name, w] : cot_) {
      const auto& out = base.tensors.at("outputs." + name).values;
      for (std::size_t i = 0; i < w.size(); ++i)
        if (std::isfinite(out[i])) magnitude += (w[i] * out[i]) * (w[i] * out[i]);
        else if (w[i] != 0) forward_finite_ = false;
    }
    for (const auto& spec : reference::find_op(c_.op)->inputs(c_.params)) {
      if (spec.integer || !spec.differentiable) continue;
      auto it = base_case_.inputs.find(spec.name);
      if (it == base_case_.inputs.end() || it->second.integer) continue;
      input_data in;
      in.name = spec.name;
      for (const auto& text : it->second.values) in.x.push_back(std::strtod(text.c_str(), nullptr));
      auto git = base.tensors.find("gradients." + spec.name);
      if (git == base.tensors.end()) throw candidate_failure("the candidate gave no gradient for " + spec.name);
      if (git->second.values.size() != in.x.size())
        throw candidate_failure("gradients." + spec.name + " has " + std::to_string(git->second.values.size()) +
                                " values, the input " + std::to_string(in.x.size()));
      in.grad = git->second.values;
      choose_steps(in, it->second.shape, eps_, f32_);
      for (std::size_t i = 0; i < in.x.size(); ++i)
        if (std::isfinite(in.x[i]) && std::isfinite(in.grad[i])) magnitude += (in.grad[i] * in.x[i]) * (in.grad[i] * in.x[i]);
      inputs_.push_back(std::move(in));
    }
    noise_ = 4 * eps_ * static_cast<double>(std::sqrt(magnitude));
    return !inputs_.empty();
  }

  // Random directions over every input together, then single elements of small inputs.
  std::vector<direction> directions() const {
    std::vector<direction> out;
    for (unsigned j = 0; j < o_.directions; ++j) {
      std::uint64_t state = cases::fnv1a(c_.id) ^ (0x5851F42D4C957F2Dull * (j + 1));
      direction d{"random direction " + std::to_string(j + 1), {}};
      for (const auto& in : inputs_) {
        std::vector<double> u(in.x.size(), 0);
        for (std::size_t i = 0; i < u.size(); ++i) {
          const std::uint64_t r = cases::splitmix64(state);
          if (in.step[i] == 0) continue;
          const double mag = 0.5 + 0.5 * std::ldexp(static_cast<double>(r >> 11), -53);
          u[i] = (r & 1) ? -mag : mag;
        }
        d.u.push_back(std::move(u));
      }
      out.push_back(std::move(d));
    }
    // Elements of small inputs, at most max_element_directions of them (evenly spaced).
    std::vector<std::pair<std::size_t, std::size_t>> elements;
    for (std::size_t k = 0; k < inputs_.size(); ++k)
      if (inputs_[k].x.size() <= o_.per_element)
        for (std::size_t i = 0; i < inputs_[k].x.size(); ++i)
          if (inputs_[k].step[i] != 0) elements.emplace_back(k, i);
    const std::size_t m = std::min(elements.size(), o_.max_element_directions);
    for (std::size_t j = 0; j < m; ++j) {
      const auto [k, i] = elements[j * elements.size() / m];
      direction d{inputs_[k].name + "[" + std::to_string(i) + "]", {}};
      for (const auto& in : inputs_) d.u.emplace_back(in.x.size(), 0.0);
      d.u[k][i] = 1;
      out.push_back(std::move(d));
    }
    return out;
  }

  direction_outcome judge(const direction& d) {
    // A NaN or Inf claimed for an element that is moved: where every output the cotangents weigh is
    // finite, so is L around x, and the claim is wrong. A forward that is itself NaN/Inf there
    // cannot be differenced: inconclusive.
    for (std::size_t k = 0; k < inputs_.size(); ++k)
      for (std::size_t i = 0; i < d.u[k].size(); ++i)
        if (d.u[k][i] != 0 && !std::isfinite(inputs_[k].grad[i])) {
          direction_outcome r;
          r.verdict = forward_finite_ ? "fail" : "inconclusive";
          r.units = forward_finite_ ? INFINITY : 0;
          r.claimed = inputs_[k].grad[i];
          r.note = "gradients." + inputs_[k].name + "[" + std::to_string(i) + "] is " + number_text(inputs_[k].grad[i]) +
                   (forward_finite_ ? " where the finite difference is finite" : " and the forward has NaN/Inf outputs");
          return r;
        }
    // Direction-only terms: the gradient's own rounding, the floor, the scale of the claim.
    long double grad_terms = 0, sq = 0, length_sq = 0;
    for (std::size_t k = 0; k < inputs_.size(); ++k)
      for (std::size_t i = 0; i < d.u[k].size(); ++i) {
        const long double v = static_cast<long double>(inputs_[k].step[i]) * d.u[k][i];
        const long double gv = std::fabs(inputs_[k].grad[i] * v);
        grad_terms += inputs_[k].kappa[i] * gv;
        sq += gv * gv;
        length_sq += v * v;
      }
    const double scale = static_cast<double>(std::sqrt(sq));
    // Reported derivatives are per unit length of v (for a single element: dL/dx_i itself).
    const double length = length_sq > 0 ? static_cast<double>(std::sqrt(length_sq)) : 1;
    const double fixed = 16 * eps_ * static_cast<double>(grad_terms) + std::sqrt(eps_) / o_.margin * scale;

    std::map<int, level> levels; // by k, t = 2^-k
    auto at = [&](int k) -> const level& {
      auto it = levels.find(k);
      if (it == levels.end()) it = levels.emplace(k, probe(d, std::ldexp(1.0, -k))).first;
      return it->second;
    };
    struct attempt {
      double units, estimate, trunc, rest, fd, claimed, t;
      bool nonsmooth, pattern_changed;
    };
    std::optional<attempt> best, previous;
    for (int a = 0; a < 4; ++a) {
      const int k0 = 2 * a;
      const level* lv[3] = {&at(k0), &at(k0 + 1), &at(k0 + 2)};
      long double e[3], fd[3], gap[3], t[3];
      bool changed = false;
      for (int j = 0; j < 3; ++j) {
        t[j] = std::ldexp(1.0L, -(k0 + j));
        const level& l = *lv[j];
        changed = changed || l.pattern_changed;
        fd[j] = (l.up - l.down) / (2 * t[j]);
        e[j] = (l.up - l.down - l.claimed) / (2 * t[j]);
        gap[j] = std::fabs(l.up + l.down - 2 * L0_ - l.skew) / t[j];
      }
      const long double fine = (4 * e[2] - e[1]) / 3, coarse = (4 * e[1] - e[0]) / 3;
      const double trunc = static_cast<double>(std::fabs(fine - coarse));
      const double noise = noise_ * static_cast<double>(4 / t[2] + 1 / t[1]) / 3;
      const double rest = noise + fixed;
      const double estimate = std::max(trunc + rest, 1e-300);
      attempt now{fine == 0 ? 0.0 : static_cast<double>(std::fabs(fine)) / estimate, estimate, trunc, rest,
                  static_cast<double>((4 * fd[2] - fd[1]) / 3), static_cast<double>(lv[2]->claimed / (2 * t[2])),
                  static_cast<double>(t[0]),
                  // One-sided differences that do not approach each other as t halves: a kink or a jump.
                  gap[2] > 40 * noise_ / t[2] && gap[2] > 0.7L * gap[1], changed};
      if (changed) {
        best = now;
        break;
      }
      if (!best || now.estimate < best->estimate) best = now;
      if (trunc <= rest) break;                                   // converged to the noise: stop
      if (previous && now.estimate >= previous->estimate) break; // smaller steps only add noise
      previous = now;
    }
    direction_outcome r;
    r.units = best->units;
    r.estimate = best->estimate / length;
    r.fd = best->fd / length;
    r.claimed = best->claimed / length;
    r.t = best->t;
    if (best->pattern_changed) {
      r.verdict = "inconclusive";
      r.note = "an output turns NaN/Inf (or finite) next to the point";
    } else if (best->units > o_.margin) {
      r.verdict = best->nonsmooth ? "inconclusive" : "fail";
      if (best->nonsmooth) r.note = "one-sided differences disagree (a kink such as relu at 0, or a jump)";
    } else if (best->trunc > best->rest && (best->nonsmooth || o_.margin * best->estimate > scale)) {
      r.verdict = "inconclusive";
      r.note = best->nonsmooth ? "one-sided differences disagree (a kink such as relu at 0, or a jump)"
                               : "finite differences do not converge";
    }
    return r;
  }

private:
  const cases::test_case& c_;
  const candidate_fn& ask_;
  const candidate_gradcheck_options& o_;
  bool f32_;
  double eps_;
  cases::test_case base_case_;
  std::vector<input_data> inputs_;
  std::map<std::string, std::vector<long double>> cot_;
  std::map<std::string, std::vector<bool>> finite_;
  long double L0_ = 0;
  bool forward_finite_ = true; // every output with a nonzero cotangent is finite at x
  double noise_ = 0; // rounding of one evaluation of L

  candidate_result call(const cases::test_case& m) {
    ++evaluations;
    candidate_result r = ask_(m);
    if (r.error) throw candidate_failure(evaluations == 1 ? "the candidate failed on the case: " + *r.error
                                                          : "the candidate failed on moved inputs: " + *r.error);
    return r;
  }

  // L = sum over outputs of <cot, out>, over the outputs that are finite at the base point.
  long double objective(const candidate_result& r, bool& pattern_changed) const {
    long double sum = 0;
    for (const auto& [name, w] : cot_) {
      auto it = r.tensors.find("outputs." + name);
      if (it == r.tensors.end() || it->second.values.size() != w.size())
        throw candidate_failure("the candidate gave no output " + name + " of the right size");
      const auto& f = finite_.at(name);
      for (std::size_t i = 0; i < w.size(); ++i) {
        const double v = it->second.values[i];
        if (std::isfinite(v) != f[i]) pattern_changed = true;
        if (f[i] && std::isfinite(v)) sum += w[i] * v;
      }
    }
    return sum;
  }

  double rounded(double v) const { return f32_ ? static_cast<double>(static_cast<float>(v)) : v; }

  level probe(const direction& d, double t) {
    level l;
    cases::test_case up = base_case_, down = base_case_;
    for (std::size_t k = 0; k < inputs_.size(); ++k) {
      const input_data& in = inputs_[k];
      auto& up_text = up.inputs.at(in.name).values;
      auto& down_text = down.inputs.at(in.name).values;
      for (std::size_t i = 0; i < in.x.size(); ++i) {
        if (d.u[k][i] == 0) continue;
        const double delta = t * in.step[i] * d.u[k][i];
        const double xp = rounded(in.x[i] + delta), xm = rounded(in.x[i] - delta);
        const long double a = static_cast<long double>(xp) - in.x[i], b = in.x[i] - static_cast<long double>(xm);
        l.claimed += in.grad[i] * (a + b);
        l.skew += in.grad[i] * (a - b);
        up_text[i] = number_text(xp);
        down_text[i] = number_text(xm);
      }
    }
    l.up = objective(call(up), l.pattern_changed);
    l.down = objective(call(down), l.pattern_changed);
    return l;
  }
};

bool exact_for(const cases::test_case& c, const std::string& dtype) {
  if (c.exact_in) return exact_in(c, dtype);
  // A spec file (no exact_in): look at every value.
  for (const auto* group : {&c.inputs, &c.cotangents})
    for (const auto& [name, t] : *group)
      for (const auto& text : t.values)
        if (!cases::exactly_representable(text, dtype)) return false;
  return true;
}

std::string format_worst(const std::string& what, const direction_outcome& o) {
  char buf[320];
  std::snprintf(buf, sizeof buf, "%s: finite difference %.9g, claimed %.9g, estimate %.2g (t = %g)%s%s", what.c_str(), o.fd,
                o.claimed, o.estimate, o.t, o.note.empty() ? "" : "; ", o.note.c_str());
  return buf;
}

int severity(const std::string& verdict) { return verdict == "fail" ? 2 : verdict == "inconclusive" ? 1 : 0; }

} // namespace

candidate_gradcheck_result candidate_gradcheck(const cases::test_case& given, const candidate_fn& ask,
                                               const candidate_gradcheck_options& options) {
  if (options.dtype != "float64" && options.dtype != "float32")
    throw bad_input("--dtype", "gradcheck differentiates in float64 or float32, not " + options.dtype);
  candidate_gradcheck_result result;
  cases::test_case c = given;
  cases::complete_cotangents(c);
  if (!exact_for(c, options.dtype)) {
    if (!options.round_inputs) {
      result.verdict = "skipped";
      result.reason = "inputs not exact in " + options.dtype;
      return result;
    }
    // The point checked: every finite input and cotangent rounded to the dtype.
    const bool f32 = options.dtype == "float32";
    for (auto* group : {&c.inputs, &c.cotangents})
      for (auto& [name, t] : *group)
        for (auto& text : t.values) {
          const double v = std::strtod(text.c_str(), nullptr);
          if (std::isfinite(v)) text = number_text(f32 ? static_cast<double>(static_cast<float>(v)) : v);
        }
    c.exact_in = std::vector<std::string>{options.dtype};
    result.rounded_inputs = true;
  }
  candidate_checker checker(c, ask, options, options.dtype == "float32");
  try {
    if (!checker.prepare()) {
      result.verdict = "skipped";
      result.reason = "no differentiable input";
      result.evaluations = checker.evaluations;
      return result;
    }
    int worst_severity = -1;
    for (const auto& d : checker.directions()) {
      const direction_outcome o = checker.judge(d);
      ++result.directions;
      (o.verdict == "fail" ? result.failed : o.verdict == "inconclusive" ? result.inconclusive : result.passed)++;
      const int s = severity(o.verdict);
      if (s > worst_severity || (s == worst_severity && o.units > result.worst_units)) {
        worst_severity = s;
        result.verdict = o.verdict;
        result.worst_units = o.units;
        result.worst_estimate = o.estimate;
        result.worst_fd = o.fd;
        result.worst_claimed = o.claimed;
        result.worst = format_worst(d.what, o);
      }
    }
    if (result.verdict != "pass") result.reason = result.worst;
  } catch (const candidate_failure& e) {
    result.verdict = "error";
    result.reason = e.what();
  } catch (const bad_input&) {
    throw;
  } catch (const std::exception& e) {
    result.verdict = "error";
    result.reason = e.what();
  }
  result.evaluations = checker.evaluations;
  return result;
}

} // namespace gradspec::checkers
