#include "gradspec/reference/ops/gated_feed_forward.hpp"

#include "gradspec/reference/ops/common.hpp"
#include "gradspec/reference/ops/linear.hpp"

namespace gradspec::reference {

// Forward, rows of x [R, C] (leading axes flattened):
//   gate   [R, F] = x·w_gate             (gemm, see linear_forward; no bias)
//   up     [R, F] = x·w_up
//   hidden [R, F] = act(gate) ⊙ up
//   y      [R, C] = hidden·w_down
template <class T>
tensor<T> gated_feed_forward_forward(const tensor<T>& x, const gated_feed_forward_params<T>& p, activation act,
                                     gated_feed_forward_cache<T>& cache) {
  cache.gate = linear_forward<T>(x, p.w_gate, nullptr);
  cache.up = linear_forward<T>(x, p.w_up, nullptr);
  cache.hidden = activation_forward(act, cache.gate);
  for (std::size_t i = 0; i < cache.hidden.size(); ++i) cache.hidden.data[i] *= cache.up.data[i];
  return linear_forward<T>(cache.hidden, p.w_down, nullptr);
}

// Backward, with dy [R, C]:
//   dhidden = dy·w_downᵀ,           dw_down = hiddenᵀ·dy
//   dup     = act(gate) ⊙ dhidden   (act(gate) recomputed: the same rounding as the forward pass)
//   dgate   = act'(gate) ⊙ (up ⊙ dhidden)
//   dx      = dgate·w_gateᵀ + dup·w_upᵀ,  dw_gate = xᵀ·dgate,  dw_up = xᵀ·dup
template <class T>
gated_feed_forward_grads<T> gated_feed_forward_backward(const tensor<T>& dy, const tensor<T>& x, const gated_feed_forward_params<T>& p,
                                                        activation act, const gated_feed_forward_cache<T>& cache) {
  auto down = linear_backward(dy, cache.hidden, p.w_down, false);
  const tensor<T>& dhidden = down.dx;
  tensor<T> dup = activation_forward(act, cache.gate);
  tensor<T> dact = dhidden; // d(act(gate)) = up ⊙ dhidden
  for (std::size_t i = 0; i < dup.size(); ++i) {
    dup.data[i] *= dhidden.data[i];
    dact.data[i] *= cache.up.data[i];
  }
  const tensor<T> dgate = activation_backward(act, dact, cache.gate);
  auto through_gate = linear_backward(dgate, x, p.w_gate, false);
  auto through_up = linear_backward(dup, x, p.w_up, false);
  add_into(through_gate.dx, through_up.dx);
  return {std::move(through_gate.dx), std::move(through_gate.dw), std::move(through_up.dw), std::move(down.dw)};
}

#define GRADSPEC_GFF_INSTANTIATE(T)                                                                                 \
  template tensor<T> gated_feed_forward_forward(const tensor<T>&, const gated_feed_forward_params<T>&, activation,  \
                                                gated_feed_forward_cache<T>&);                                      \
  template gated_feed_forward_grads<T> gated_feed_forward_backward(const tensor<T>&, const tensor<T>&,              \
                                                                   const gated_feed_forward_params<T>&, activation, \
                                                                   const gated_feed_forward_cache<T>&);
GRADSPEC_GFF_INSTANTIATE(double)
GRADSPEC_GFF_INSTANTIATE(float)
GRADSPEC_GFF_INSTANTIATE(mp_real)
#undef GRADSPEC_GFF_INSTANTIATE

namespace {

template <class T> op_result<T> gated_feed_forward_evaluate(const op_args<T>& args, bool backward) {
  const auto& x = input(args, "x");
  require_rank(x.shape, 1, "inputs/x", "[..., C]");
  const std::int64_t C = x.shape.back();
  const auto& w_gate = input(args, "w_gate");
  require(w_gate.rank() == 2 && w_gate.shape[0] == C, "inputs/w_gate",
          "expected shape [C, F] with C = " + std::to_string(C) + ", got " + shape_to_string(w_gate.shape));
  const std::int64_t F = w_gate.shape[1];
  const auto& w_up = input(args, "w_up");
  require_shape(w_up.shape, {C, F}, "inputs/w_up");
  const auto& w_down = input(args, "w_down");
  require_shape(w_down.shape, {F, C}, "inputs/w_down");
  const activation act = parse_activation(args.params.choice("activation"));
  const gated_feed_forward_params<T> p{w_gate, w_up, w_down};
  gated_feed_forward_cache<T> cache;
  op_result<T> r;
  r.outputs["y"] = gated_feed_forward_forward(x, p, act, cache);
  if (backward) {
    auto g = gated_feed_forward_backward(cotangent(args, "y", x.shape), x, p, act, cache);
    r.gradients["x"] = std::move(g.dx);
    r.gradients["w_gate"] = std::move(g.dw_gate);
    r.gradients["w_up"] = std::move(g.dw_up);
    r.gradients["w_down"] = std::move(g.dw_down);
  }
  r.intermediates["gate"] = std::move(cache.gate);
  r.intermediates["up"] = std::move(cache.up);
  r.intermediates["hidden"] = std::move(cache.hidden);
  return r;
}

} // namespace

op_info gated_feed_forward_op() {
  return {"gated_feed_forward",
          "gated feed-forward (SwiGLU/GeGLU): y = (act(x·w_gate) ⊙ (x·w_up))·w_down, no biases, weights stored [in, out]",
          {{"activation", param_type::choice, "\"silu\"", {"silu", "gelu", "gelu_tanh"}, false,
            "gate activation: silu (SwiGLU, LLaMA/Mistral/Qwen), gelu (GeGLU, erf form), gelu_tanh (GeGLU with the tanh "
            "approximation, Gemma)"}},
          [](const param_map&) {
            return std::vector<input_spec>{{"x", "[..., C]"}, {"w_gate", "[C, F]"}, {"w_up", "[C, F]"}, {"w_down", "[F, C]"}};
          },
          {{"y", "[..., C]"}},
          {"gate", "up", "hidden"},
          &gated_feed_forward_evaluate<double>,
          &gated_feed_forward_evaluate<mp_real>,
          &gated_feed_forward_evaluate<float>};
}

} // namespace gradspec::reference
