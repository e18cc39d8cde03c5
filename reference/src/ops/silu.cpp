#include "gradspec/reference/ops/silu.hpp"

#include "gradspec/reference/ops/common.hpp"
#include "gradspec/reference/ops/elementwise.hpp"

namespace gradspec::reference {

// y = x·σ(x) elementwise. NaN gives NaN; ±inf give the limits +inf and 0 (silu tends to -0 from
// below), rather than inf·0 = NaN.
template <class T> tensor<T> silu_forward(const tensor<T>& x) {
  return activation_map(x, [](const T& v) { return v * sigmoid(v); });
}

// dx = silu'(x) ⊙ dy,  silu' = σ(x) + x·σ(x)σ(-x). σ(-x) is evaluated directly rather than as
// 1 - σ(x). When the product σ·σ(-) is 0 (far tails in double) the second term is 0 and is not
// formed (it would be 0·inf for huge |x|). At ±inf the limits 1 and 0; NaN x gives NaN.
template <class T> tensor<T> silu_backward(const tensor<T>& dy, const tensor<T>& x) {
  return activation_slope_map(dy, x, [](const T& v) {
    T d = sigmoid(v);
    T w = sigmoid(T(-v));
    w *= d;
    if (w == 0) return d;
    w *= v;
    d += w;
    return d;
  });
}

template tensor<double> silu_forward(const tensor<double>&);
template tensor<float> silu_forward(const tensor<float>&);
template tensor<mp_real> silu_forward(const tensor<mp_real>&);
template tensor<double> silu_backward(const tensor<double>&, const tensor<double>&);
template tensor<float> silu_backward(const tensor<float>&, const tensor<float>&);
template tensor<mp_real> silu_backward(const tensor<mp_real>&, const tensor<mp_real>&);

namespace {

template <class T> op_result<T> silu_evaluate(const op_args<T>& args, bool backward) {
  const auto& x = input(args, "x");
  op_result<T> r;
  r.outputs["y"] = silu_forward(x);
  if (backward) r.gradients["x"] = silu_backward(cotangent(args, "y", x.shape), x);
  return r;
}

std::vector<input_spec> x_input(const param_map&) { return {{"x", "[...]"}}; }

} // namespace

op_info silu_op() {
  return {"silu", "x·σ(x) elementwise (swish)", {}, &x_input, {{"y", "[...]"}}, {},
          &silu_evaluate<double>, &silu_evaluate<mp_real>, &silu_evaluate<float>};
}

} // namespace gradspec::reference
