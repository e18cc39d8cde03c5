#include "gradspec/checkers/gradcheck.hpp"

#include <cmath>
#include <cstdio>
#include <stdexcept>

namespace gradspec::checkers {

using reference::mp_real;

namespace {

// Indices 0, step, 2·step, ... covering [0, n) with at most `count` of them.
std::vector<std::size_t> sample(std::size_t n, std::size_t count) {
  std::vector<std::size_t> out;
  const std::size_t step = count >= n ? 1 : (n + count - 1) / count;
  for (std::size_t i = 0; i < n; i += step) out.push_back(i);
  return out;
}

void record(gradcheck_result& r, double digits, const std::string& where) {
  ++r.checked;
  if (digits < r.min_digits) {
    r.min_digits = digits;
    r.worst = where;
  }
}

mp_real objective(const reference::op_info& op, const reference::op_args<mp_real>& args) {
  const auto r = reference::evaluate(op, args, false);
  mp_real sum = 0;
  for (const auto& [name, cot] : args.cotangents) {
    const auto& out = r.outputs.at(name);
    for (std::size_t i = 0; i < out.size(); ++i)
      if (reference::is_finite(out.data[i])) sum += cot.data[i] * out.data[i];
  }
  return sum;
}

} // namespace

gradcheck_result reference_gradcheck(const reference::op_info& op, const reference::op_args<mp_real>& args, std::size_t per_input) {
  const auto analytic = reference::evaluate(op, args, true);
  const mp_real h = ldexp(mp_real(1), -100);
  gradcheck_result result;
  reference::op_args<mp_real> moved = args;
  for (const auto& spec : op.inputs(args.params)) {
    if (spec.integer || !spec.differentiable || !args.inputs.count(spec.name)) continue;
    auto git = analytic.gradients.find(spec.name);
    if (git == analytic.gradients.end() || git->second.shape != args.inputs.at(spec.name).shape) {
      return {0, "no gradient of the right shape for input " + spec.name, result.checked};
    }
    const auto& grad = git->second;
    mp_real scale = 0;
    for (const auto& g : grad.data) scale = std::max(scale, mp_real(abs(g)));
    const mp_real floor = scale * mp_real(1e-20);
    auto& x = moved.inputs.at(spec.name).data;
    for (std::size_t i : sample(x.size(), per_input)) {
      const mp_real saved = x[i];
      x[i] = saved + h;
      const mp_real up = objective(op, moved);
      x[i] = saved - h;
      const mp_real down = objective(op, moved);
      x[i] = saved;
      const mp_real fd = (up - down) / (2 * h);
      const mp_real noise = (abs(up) + abs(down)) * ldexp(mp_real(1), 20 - static_cast<int>(reference::precision_bits())) / h;
      const std::string where = "gradients." + spec.name + "[" + std::to_string(i) + "]: analytic " +
                                reference::format_scalar(grad.data[i], 20) + ", finite difference " + reference::format_scalar(fd, 20);
      if (abs(fd) <= noise && abs(grad.data[i]) <= noise) {
        record(result, 1e9, where);
        continue;
      }
      const mp_real err = abs(fd - grad.data[i]), denom = std::max(mp_real(abs(grad.data[i])), floor);
      record(result, err == 0 ? 1e9 : denom == 0 ? 0.0 : -reference::to_double(log10(err / denom)), where);
    }
  }
  return result;
}

gradcheck_result candidate_gradcheck(const cases::test_case& c, const std::function<candidate_result(const cases::test_case&)>& ask,
                                     std::size_t per_input) {
  gradcheck_result result;
  const candidate_result base = ask(c);
  if (base.error) return {0, "the candidate failed on the case: " + *base.error, 0};
  auto objective_of = [&](const candidate_result& r) {
    long double sum = 0;
    for (const auto& [name, cot] : c.cotangents) {
      auto it = r.tensors.find("outputs." + name);
      if (it == r.tensors.end()) throw std::runtime_error("the candidate gave no output " + name);
      for (std::size_t i = 0; i < cot.values.size() && i < it->second.values.size(); ++i)
        if (std::isfinite(it->second.values[i])) sum += std::strtold(cot.values[i].c_str(), nullptr) * it->second.values[i];
    }
    return sum;
  };
  for (const auto& [name, input] : c.inputs) {
    if (input.integer || name == "mask") continue;
    auto git = base.tensors.find("gradients." + name);
    if (git == base.tensors.end()) return {0, "the candidate gave no gradient for " + name, result.checked};
    double scale = 0;
    for (double g : git->second.values) scale = std::max(scale, std::fabs(g));
    for (std::size_t i : sample(input.values.size(), per_input)) {
      const double x = std::strtod(input.values[i].c_str(), nullptr);
      if (!std::isfinite(x)) continue;
      const double h = 1e-6 * std::max(1.0, std::fabs(x));
      auto moved_by = [&, &name = name](double delta) { // clang (OpenMP) captures no structured binding
        cases::test_case m = c;
        char buf[40];
        std::snprintf(buf, sizeof buf, "%.17g", x + delta);
        m.inputs.at(name).values[i] = buf;
        const candidate_result r = ask(m);
        if (r.error) throw std::runtime_error("the candidate failed on a moved input: " + *r.error);
        return objective_of(r);
      };
      const long double fd = (moved_by(h) - moved_by(-h)) / (2 * static_cast<long double>(h));
      const double g = git->second.values[i];
      const long double err = std::fabs(fd - g), denom = std::max<long double>(std::fabs(g), scale * 1e-6);
      char where[256];
      std::snprintf(where, sizeof where, "gradients.%s[%zu]: claimed %.9g, finite difference %.9Lg", name.c_str(), i, g, fd);
      record(result, err == 0 ? 1e9 : denom == 0 ? 0.0 : static_cast<double>(-std::log10(err / denom)), where);
    }
  }
  return result;
}

} // namespace gradspec::checkers
