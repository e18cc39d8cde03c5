#include "support/finite_difference.hpp"

#include "support/test_inputs.hpp"

#include <cmath>
#include <stdexcept>

namespace gradspec::testing {

using reference::op_result;

namespace {

const reference::op_info& op_named(const std::string& op) {
  const auto* info = reference::find_op(op);
  if (!info) throw std::invalid_argument("unknown op " + op);
  return *info;
}

// L = sum_o <cot_o, o> over finite output values.
mp_real objective(const reference::op_info& info, const op_args<mp_real>& args) {
  op_result<mp_real> r = reference::evaluate(info, args, false);
  mp_real sum = 0;
  for (const auto& [name, cot] : args.cotangents) {
    const auto& out = r.outputs.at(name);
    for (std::size_t i = 0; i < out.size(); ++i)
      if (reference::is_finite(out.data[i])) sum += cot.data[i] * out.data[i];
  }
  return sum;
}

} // namespace

void fill_cotangents(const std::string& op, op_args<mp_real>& args, std::uint64_t seed) {
  const auto& info = op_named(op);
  op_result<mp_real> r = reference::evaluate(info, args, false);
  args.cotangents.clear();
  for (const auto& out : info.outputs)
    if (out.differentiable && r.outputs.count(out.name))
      args.cotangents[out.name] = grid_tensor<mp_real>(r.outputs.at(out.name).shape, seed++);
}

gradient_agreement check_gradients(const std::string& op, const op_args<mp_real>& args) {
  const auto& info = op_named(op);
  const op_result<mp_real> analytic = reference::evaluate(info, args, true);
  const mp_real h = ldexp(mp_real(1), -100);
  gradient_agreement agreement;
  op_args<mp_real> moved = args;
  for (const auto& spec : info.inputs(args.params)) {
    if (spec.integer || !spec.differentiable || !args.inputs.count(spec.name)) continue;
    auto git = analytic.gradients.find(spec.name);
    if (git == analytic.gradients.end()) {
      agreement.min_digits = 0;
      agreement.worst = "no gradient for input " + spec.name;
      return agreement;
    }
    const auto& grad = git->second;
    if (grad.shape != args.inputs.at(spec.name).shape) {
      agreement.min_digits = 0;
      agreement.worst = "gradient of " + spec.name + " has the wrong shape";
      return agreement;
    }
    mp_real scale = 0;
    for (const auto& g : grad.data) scale = std::max(scale, mp_real(abs(g)));
    const mp_real floor = scale * mp_real(1e-20);
    auto& x = moved.inputs.at(spec.name).data;
    for (std::size_t i = 0; i < x.size(); ++i) {
      const mp_real saved = x[i];
      x[i] = saved + h;
      const mp_real up = objective(info, moved);
      x[i] = saved - h;
      const mp_real down = objective(info, moved);
      x[i] = saved;
      const mp_real fd = (up - down) / (2 * h);
      // Rounding of L itself, divided by 2h: below this the difference quotient is noise, so a
      // gradient that is zero in exact arithmetic (b_k of attention: softmax ignores a shift shared
      // by a row) agrees when the analytic value is below it too.
      const mp_real noise = (abs(up) + abs(down)) * ldexp(mp_real(1), 20 - static_cast<int>(reference::precision_bits())) / h;
      if (abs(fd) <= noise && abs(grad.data[i]) <= noise) {
        ++agreement.checked;
        continue;
      }
      const mp_real err = abs(fd - grad.data[i]);
      const mp_real denom = std::max(mp_real(abs(grad.data[i])), floor);
      double digits = err == 0 ? 1e9 : (denom == 0 ? 0.0 : -reference::to_double(log10(err / denom)));
      ++agreement.checked;
      if (digits < agreement.min_digits) {
        agreement.min_digits = digits;
        agreement.worst = "gradients." + spec.name + "[" + std::to_string(i) + "]: analytic " +
                          reference::format_scalar(grad.data[i], 20) + ", finite difference " +
                          reference::format_scalar(fd, 20);
      }
    }
  }
  return agreement;
}

} // namespace gradspec::testing
