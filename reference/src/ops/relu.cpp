#include "gradspec/reference/ops/relu.hpp"

#include "gradspec/reference/ops/common.hpp"
#include "gradspec/reference/ops/elementwise.hpp"

namespace gradspec::reference {

// y = max(x, 0) elementwise. NaN gives NaN; ±inf give +inf and 0.
template <class T> tensor<T> relu_forward(const tensor<T>& x) {
  return activation_map(x, [](const T& v) { return v > 0 ? v : T(0); });
}

// dx = relu'(x) ⊙ dy, relu' = 1 if x > 0 else 0 (relu'(0) = 0, contract). Where the slope is 0, dx
// is 0 even for a non-finite dy; NaN x gives NaN.
template <class T> tensor<T> relu_backward(const tensor<T>& dy, const tensor<T>& x) {
  return activation_slope_map(dy, x, [](const T& v) { return v > 0 ? T(1) : T(0); });
}

template tensor<double> relu_forward(const tensor<double>&);
template tensor<float> relu_forward(const tensor<float>&);
template tensor<mp_real> relu_forward(const tensor<mp_real>&);
template tensor<double> relu_backward(const tensor<double>&, const tensor<double>&);
template tensor<float> relu_backward(const tensor<float>&, const tensor<float>&);
template tensor<mp_real> relu_backward(const tensor<mp_real>&, const tensor<mp_real>&);

namespace {

template <class T> op_result<T> relu_evaluate(const op_args<T>& args, bool backward) {
  const auto& x = input(args, "x");
  op_result<T> r;
  r.outputs["y"] = relu_forward(x);
  if (backward) r.gradients["x"] = relu_backward(cotangent(args, "y", x.shape), x);
  return r;
}

std::vector<input_spec> x_input(const param_map&) { return {{"x", "[...]"}}; }

} // namespace

op_info relu_op() {
  return {"relu", "max(x, 0) elementwise; relu'(0) = 0", {}, &x_input, {{"y", "[...]"}}, {},
          &relu_evaluate<double>, &relu_evaluate<mp_real>, &relu_evaluate<float>};
}

} // namespace gradspec::reference
