#include "gradspec/reference/ops/gelu.hpp"

#include "gradspec/reference/ops/common.hpp"
#include "gradspec/reference/ops/elementwise.hpp"

#include <cmath>

namespace gradspec::reference {

namespace {

// Constants in the working scalar: computed (or parsed from decimal text) at the working precision,
// never through a double literal.
template <class T> struct gelu_constants {
  T inv_sqrt2;      // 1/√2
  T inv_sqrt_2pi;   // 1/√(2π)
  T sqrt_2_over_pi; // √(2/π)
  T c;              // 0.044715 (exactly as decimal text, then rounded once)
  T three_c;        // 3·0.044715
  gelu_constants() {
    using std::acos;
    using std::sqrt;
    const T pi = acos(T(-1));
    const T two = 2;
    inv_sqrt2 = 1 / sqrt(two);
    inv_sqrt_2pi = 1 / sqrt(two * pi);
    sqrt_2_over_pi = sqrt(two / pi);
    c = parse_scalar<T>("0.044715");
    three_c = 3 * c;
  }
};

// The tanh-GELU argument u = √(2/π)·(x + c·x³).
template <class T> T gelu_tanh_arg(const T& x, const gelu_constants<T>& k) {
  T u = x * x;
  u *= x;
  u *= k.c;
  u += x;
  u *= k.sqrt_2_over_pi;
  return u;
}

// gelu(x) for finite x. Cancellation-free forms:
//   none = x·Φ(x),  Φ(x) = erfc(-x/√2)/2               (1 + erf(z) = erfc(-z): no cancellation for x << 0)
//   tanh = x·(1 + tanh u)/2 = x·σ(2u)                    (1 + tanh u = 2σ(2u))
template <class T> T gelu_value(gelu_approximation approximate, const T& x, const gelu_constants<T>& k) {
  using std::erfc;
  if (approximate == gelu_approximation::tanh) return x * sigmoid(T(2 * gelu_tanh_arg(x, k)));
  T phi = erfc(-x * k.inv_sqrt2);
  phi /= 2;
  return x * phi;
}

// gelu'(x) for finite x:
//   none' = Φ(x) + x·φ(x),  φ(x) = e^(-x²/2)/√(2π)
//   tanh' = σ(2u) + x·2σ(2u)σ(-2u)·√(2/π)(1 + 3c·x²)   (since d tanh u = sech²u du, sech²u = 4σ(2u)σ(-2u))
// σ(-t) is evaluated directly rather than as 1 - σ(t). When the product σ·σ(-) is 0 (far tails in
// double) the second term is 0 and is not formed (it would be 0·inf for huge |x|).
template <class T> T gelu_derivative(gelu_approximation approximate, const T& x, const gelu_constants<T>& k) {
  using std::erfc;
  using std::exp;
  if (approximate == gelu_approximation::tanh) {
    const T u2 = 2 * gelu_tanh_arg(x, k);
    T d = sigmoid(u2);
    T w = sigmoid(T(-u2));
    w *= d;
    if (w == 0) return d;
    w *= 2;
    T du = x * x;
    du *= k.three_c;
    du += 1;
    du *= k.sqrt_2_over_pi;
    w *= du;
    w *= x;
    d += w;
    return d;
  }
  T d = erfc(-x * k.inv_sqrt2);
  d /= 2;
  T g = x * x;
  g /= -2;
  g = exp(g);
  g *= k.inv_sqrt_2pi;
  g *= x;
  d += g;
  return d;
}

} // namespace

// y = gelu(x), elementwise. NaN gives NaN; ±inf give the limits +inf and 0 (gelu tends to -0 from
// below), rather than inf·0 = NaN.
template <class T> tensor<T> gelu_forward(const tensor<T>& x, gelu_approximation approximate) {
  const gelu_constants<T> k;
  return activation_map(x, [&](const T& v) { return gelu_value(approximate, v, k); });
}

// dx = gelu'(x) ⊙ dy, elementwise. At ±inf the limits gelu'(+inf) = 1, gelu'(-inf) = 0; NaN x gives NaN.
template <class T> tensor<T> gelu_backward(const tensor<T>& dy, const tensor<T>& x, gelu_approximation approximate) {
  const gelu_constants<T> k;
  return activation_slope_map(dy, x, [&](const T& v) { return gelu_derivative(approximate, v, k); });
}

template tensor<double> gelu_forward(const tensor<double>&, gelu_approximation);
template tensor<float> gelu_forward(const tensor<float>&, gelu_approximation);
template tensor<mp_real> gelu_forward(const tensor<mp_real>&, gelu_approximation);
template tensor<double> gelu_backward(const tensor<double>&, const tensor<double>&, gelu_approximation);
template tensor<float> gelu_backward(const tensor<float>&, const tensor<float>&, gelu_approximation);
template tensor<mp_real> gelu_backward(const tensor<mp_real>&, const tensor<mp_real>&, gelu_approximation);

namespace {

template <class T> op_result<T> gelu_evaluate(const op_args<T>& args, bool backward) {
  const auto& x = input(args, "x");
  const gelu_approximation approximate =
      args.params.choice("approximate") == "tanh" ? gelu_approximation::tanh : gelu_approximation::none;
  op_result<T> r;
  r.outputs["y"] = gelu_forward(x, approximate);
  if (backward) r.gradients["x"] = gelu_backward(cotangent(args, "y", x.shape), x, approximate);
  return r;
}

std::vector<input_spec> x_input(const param_map&) { return {{"x", "[...]"}}; }

} // namespace

op_info gelu_op() {
  return {"gelu",
          "x·Φ(x) elementwise (approximate \"none\": 0.5·x·(1 + erf(x/√2)); \"tanh\": 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))))",
          {{"approximate", param_type::choice, "\"none\"", {"none", "tanh"}, false,
            "\"none\": exact erf form; \"tanh\": the tanh approximation (PyTorch's approximate='tanh')"}},
          &x_input,
          {{"y", "[...]"}},
          {},
          &gelu_evaluate<double>,
          &gelu_evaluate<mp_real>, &gelu_evaluate<float>};
}

} // namespace gradspec::reference
