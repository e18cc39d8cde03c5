#include "gradspec/reference/ops/feed_forward.hpp"

#include "gradspec/reference/ops/common.hpp"
#include "gradspec/reference/ops/linear.hpp"

namespace gradspec::reference {

// Forward, rows of x [R, C] (leading axes flattened), w1 [C, F], w2 [F, C]:
//   pre_activation [R, F] = x·w1 + b1          (gemm, see linear_forward)
//   hidden         [R, F] = act(pre_activation)
//   y              [R, C] = hidden·w2 + b2
template <class T>
tensor<T> feed_forward_forward(const tensor<T>& x, const feed_forward_params<T>& p, activation act, feed_forward_cache<T>& cache) {
  cache.pre_activation = linear_forward(x, p.w1, &p.b1);
  cache.hidden = activation_forward(act, cache.pre_activation);
  return linear_forward(cache.hidden, p.w2, &p.b2);
}

// Backward, with dy [R, C]:
//   dhidden = dy·w2ᵀ,  dw2 = hiddenᵀ·dy,  db2 = column sums of dy
//   dpre    = act'(pre_activation) ⊙ dhidden
//   dx      = dpre·w1ᵀ, dw1 = xᵀ·dpre,    db1 = column sums of dpre
template <class T>
feed_forward_grads<T> feed_forward_backward(const tensor<T>& dy, const tensor<T>& x, const feed_forward_params<T>& p,
                                            activation act, const feed_forward_cache<T>& cache) {
  auto second = linear_backward(dy, cache.hidden, p.w2, true);
  const tensor<T> dpre = activation_backward(act, second.dx, cache.pre_activation);
  auto first = linear_backward(dpre, x, p.w1, true);
  return {std::move(first.dx), std::move(first.dw), std::move(first.db), std::move(second.dw), std::move(second.db)};
}

template <class T>
feed_forward_params<T> feed_forward_params_from(const op_args<T>& args, const std::string& prefix, std::int64_t C) {
  const tensor<T>& w1 = input(args, prefix + "w1");
  require(w1.rank() == 2 && w1.shape[0] == C, "inputs/" + prefix + "w1",
          "expected shape [C, F] with C = " + std::to_string(C) + ", got " + shape_to_string(w1.shape));
  const std::int64_t F = w1.shape[1];
  auto get = [&](const char* name, const shape_t& want) -> const tensor<T>& {
    const tensor<T>& t = input(args, prefix + name);
    require_shape(t.shape, want, "inputs/" + prefix + name);
    return t;
  };
  // Braced initialisation runs left to right, so the first bad input is the one reported.
  return feed_forward_params<T>{w1, get("b1", {F}), get("w2", {F, C}), get("b2", {C})};
}

template <class T> void store_gradients(op_result<T>& result, const std::string& prefix, feed_forward_grads<T>&& g) {
  result.gradients[prefix + "w1"] = std::move(g.dw1);
  result.gradients[prefix + "b1"] = std::move(g.db1);
  result.gradients[prefix + "w2"] = std::move(g.dw2);
  result.gradients[prefix + "b2"] = std::move(g.db2);
}

#define GRADSPEC_FFN_INSTANTIATE(T)                                                                                 \
  template tensor<T> feed_forward_forward(const tensor<T>&, const feed_forward_params<T>&, activation, feed_forward_cache<T>&); \
  template feed_forward_grads<T> feed_forward_backward(const tensor<T>&, const tensor<T>&, const feed_forward_params<T>&, \
                                                       activation, const feed_forward_cache<T>&);                \
  template feed_forward_params<T> feed_forward_params_from(const op_args<T>&, const std::string&, std::int64_t);   \
  template void store_gradients(op_result<T>&, const std::string&, feed_forward_grads<T>&&);
GRADSPEC_FFN_INSTANTIATE(double)
GRADSPEC_FFN_INSTANTIATE(float)
GRADSPEC_FFN_INSTANTIATE(mp_real)
#undef GRADSPEC_FFN_INSTANTIATE

namespace {

template <class T> op_result<T> feed_forward_evaluate(const op_args<T>& args, bool backward) {
  const auto& x = input(args, "x");
  require_rank(x.shape, 1, "inputs/x", "[..., C]");
  const std::int64_t C = x.shape.back();
  const auto p = feed_forward_params_from(args, "", C);
  const activation act = parse_activation(args.params.choice("activation"));
  feed_forward_cache<T> cache;
  op_result<T> r;
  r.outputs["y"] = feed_forward_forward(x, p, act, cache);
  if (backward) {
    auto g = feed_forward_backward(cotangent(args, "y", x.shape), x, p, act, cache);
    r.gradients["x"] = std::move(g.dx);
    store_gradients(r, "", std::move(g));
  }
  r.intermediates["pre_activation"] = std::move(cache.pre_activation);
  r.intermediates["hidden"] = std::move(cache.hidden);
  return r;
}

} // namespace

op_info feed_forward_op() {
  return {"feed_forward",
          "position-wise feed-forward: y = act(x·w1 + b1)·w2 + b2, weights stored [in, out]",
          {{"activation", param_type::choice, "\"relu\"", {"relu", "gelu", "gelu_tanh", "silu"}, false,
            "hidden activation (gelu: erf form; gelu_tanh: the tanh approximation)"}},
          [](const param_map&) {
            return std::vector<input_spec>{{"x", "[..., C]"}, {"w1", "[C, F]"}, {"b1", "[F]"}, {"w2", "[F, C]"}, {"b2", "[C]"}};
          },
          {{"y", "[..., C]"}},
          {"pre_activation", "hidden"},
          &feed_forward_evaluate<double>,
          &feed_forward_evaluate<mp_real>, &feed_forward_evaluate<float>};
}

} // namespace gradspec::reference
