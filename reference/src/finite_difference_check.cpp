#include "gradspec/reference/finite_difference_check.hpp"

#include <algorithm>
#include <vector>

namespace gradspec::reference {

namespace {

// Indices 0, step, 2·step, ... covering [0, n) with at most `count` of them.
std::vector<std::size_t> sample(std::size_t n, std::size_t count) {
  std::vector<std::size_t> out;
  const std::size_t step = count >= n ? 1 : (n + count - 1) / count;
  for (std::size_t i = 0; i < n; i += step) out.push_back(i);
  return out;
}

void record(finite_difference_result& r, double digits, const std::string& where) {
  ++r.checked;
  if (digits < r.min_digits) {
    r.min_digits = digits;
    r.worst = where;
  }
}

mp_real objective(const op_info& op, const op_args<mp_real>& args) {
  const auto r = evaluate(op, args, false);
  mp_real sum = 0;
  for (const auto& [name, cot] : args.cotangents) {
    const auto& out = r.outputs.at(name);
    for (std::size_t i = 0; i < out.size(); ++i)
      if (is_finite(out.data[i])) sum += cot.data[i] * out.data[i];
  }
  return sum;
}

} // namespace

finite_difference_result finite_difference_check(const op_info& op, const op_args<mp_real>& args, std::size_t per_input) {
  const auto analytic = evaluate(op, args, true);
  const mp_real h = ldexp(mp_real(1), -100);
  finite_difference_result result;
  op_args<mp_real> moved = args;
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
      const mp_real noise = (abs(up) + abs(down)) * ldexp(mp_real(1), 20 - static_cast<int>(precision_bits())) / h;
      const std::string where = "gradients." + spec.name + "[" + std::to_string(i) + "]: analytic " +
                                format_scalar(grad.data[i], 20) + ", finite difference " + format_scalar(fd, 20);
      if (abs(fd) <= noise && abs(grad.data[i]) <= noise) {
        record(result, 1e9, where);
        continue;
      }
      const mp_real err = abs(fd - grad.data[i]), denom = std::max(mp_real(abs(grad.data[i])), floor);
      record(result, err == 0 ? 1e9 : denom == 0 ? 0.0 : -to_double(log10(err / denom)), where);
    }
  }
  return result;
}

} // namespace gradspec::reference
