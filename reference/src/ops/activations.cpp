#include "gradspec/reference/ops/activations.hpp"

#include "gradspec/reference/ops/common.hpp"

#include <cmath>
#include <cstddef>
#include <stdexcept>

namespace gradspec::reference {

activation parse_activation(const std::string& name) {
  if (name == "relu") return activation::relu;
  if (name == "gelu") return activation::gelu;
  if (name == "gelu_tanh") return activation::gelu_tanh;
  if (name == "silu") return activation::silu;
  throw std::invalid_argument("unknown activation \"" + name + "\" (expected relu, gelu, gelu_tanh or silu)");
}

namespace {

// Constants in the working scalar: computed (or parsed from decimal text) at the working precision,
// never through a double literal.
template <class T> struct act_constants {
  T inv_sqrt2;      // 1/√2
  T inv_sqrt_2pi;   // 1/√(2π)
  T sqrt_2_over_pi; // √(2/π)
  T c;              // 0.044715 (exactly as decimal text, then rounded once)
  T three_c;        // 3·0.044715
  act_constants() {
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

// σ(t) = 1/(1 + e^-t); e^-t overflowing to inf gives exactly 0, never NaN.
template <class T> T sigmoid(const T& t) {
  using std::exp;
  T e = exp(-t);
  e += 1;
  return 1 / e;
}

// The tanh-GELU argument u = √(2/π)·(x + c·x³).
template <class T> T gelu_tanh_arg(const T& x, const act_constants<T>& k) {
  T u = x * x;
  u *= x;
  u *= k.c;
  u += x;
  u *= k.sqrt_2_over_pi;
  return u;
}

// act(x) for finite x. Cancellation-free forms:
//   gelu  = x·Φ(x),  Φ(x) = erfc(-x/√2)/2             (1 + erf(z) = erfc(-z): no cancellation for x << 0)
//   gelu_tanh = x·(1 + tanh u)/2 = x·σ(2u)              (1 + tanh u = 2σ(2u))
//   silu  = x·σ(x)
template <class T> T act_value(activation act, const T& x, const act_constants<T>& k) {
  using std::erfc;
  switch (act) {
  case activation::relu: return x > 0 ? x : T(0);
  case activation::gelu: {
    T phi = erfc(-x * k.inv_sqrt2);
    phi /= 2;
    return x * phi;
  }
  case activation::gelu_tanh: return x * sigmoid(T(2 * gelu_tanh_arg(x, k)));
  case activation::silu: return x * sigmoid(x);
  }
  return x;
}

// act'(x) for finite x:
//   relu'      = 1 if x > 0 else 0                       (relu'(0) = 0, contract)
//   gelu'      = Φ(x) + x·φ(x),  φ(x) = e^(-x²/2)/√(2π)
//   gelu_tanh' = σ(2u) + x·2σ(2u)σ(-2u)·√(2/π)(1 + 3c·x²)   (since d tanh u = sech²u du, sech²u = 4σ(2u)σ(-2u))
//   silu'      = σ(x) + x·σ(x)σ(-x)
// σ(-t) is evaluated directly rather than as 1 - σ(t). When the product σ·σ(-) is 0 (far tails in
// double) the second term is 0 and is not formed (it would be 0·inf for huge |x|).
template <class T> T act_derivative(activation act, const T& x, const act_constants<T>& k) {
  using std::erfc;
  using std::exp;
  switch (act) {
  case activation::relu: return x > 0 ? T(1) : T(0);
  case activation::gelu: {
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
  case activation::gelu_tanh: {
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
  case activation::silu: {
    T d = sigmoid(x);
    T w = sigmoid(T(-x));
    w *= d;
    if (w == 0) return d;
    w *= x;
    d += w;
    return d;
  }
  }
  return T(0);
}

} // namespace

// y = act(x), elementwise, any shape. NaN gives NaN. ±inf give the limits: act(+inf) = +inf,
// act(-inf) = 0 (gelu and silu tend to -0 from below; relu is 0), rather than inf·0 = NaN.
template <class T> tensor<T> activation_forward(activation act, const tensor<T>& x) {
  const act_constants<T> k;
  tensor<T> y(x.shape);
  for (std::size_t i = 0; i < x.size(); ++i) {
    const T& xi = x.data[i];
    if (is_nan(xi)) y.data[i] = xi;
    else if (is_inf(xi)) y.data[i] = xi > 0 ? xi : T(0);
    else y.data[i] = act_value(act, xi, k);
  }
  return y;
}

// dx = act'(x) ⊙ dy, elementwise. At ±inf the limits act'(+inf) = 1, act'(-inf) = 0; NaN x gives NaN.
template <class T> tensor<T> activation_backward(activation act, const tensor<T>& dy, const tensor<T>& x) {
  const act_constants<T> k;
  tensor<T> dx(x.shape);
  for (std::size_t i = 0; i < x.size(); ++i) {
    const T& xi = x.data[i];
    if (is_nan(xi)) {
      dx.data[i] = xi;
      continue;
    }
    const T d = is_inf(xi) ? T(xi > 0 ? 1 : 0) : act_derivative(act, xi, k);
    if (d == 0) continue; // exact zero slope: dx = 0 (relu for x <= 0), even for a non-finite dy
    dx.data[i] = d;
    dx.data[i] *= dy.data[i];
  }
  return dx;
}

template tensor<double> activation_forward(activation, const tensor<double>&);
template tensor<float> activation_forward(activation, const tensor<float>&);
template tensor<mp_real> activation_forward(activation, const tensor<mp_real>&);
template tensor<double> activation_backward(activation, const tensor<double>&, const tensor<double>&);
template tensor<float> activation_backward(activation, const tensor<float>&, const tensor<float>&);
template tensor<mp_real> activation_backward(activation, const tensor<mp_real>&, const tensor<mp_real>&);

namespace {

template <class T> op_result<T> activation_evaluate(activation act, const op_args<T>& args, bool backward) {
  const auto& x = input(args, "x");
  op_result<T> r;
  r.outputs["y"] = activation_forward(act, x);
  if (backward) r.gradients["x"] = activation_backward(act, cotangent(args, "y", x.shape), x);
  return r;
}

template <class T> op_result<T> relu_evaluate(const op_args<T>& args, bool backward) {
  return activation_evaluate(activation::relu, args, backward);
}
template <class T> op_result<T> silu_evaluate(const op_args<T>& args, bool backward) {
  return activation_evaluate(activation::silu, args, backward);
}
template <class T> op_result<T> gelu_evaluate(const op_args<T>& args, bool backward) {
  const activation act = args.params.choice("approximate") == "tanh" ? activation::gelu_tanh : activation::gelu;
  return activation_evaluate(act, args, backward);
}

std::vector<input_spec> x_input(const param_map&) { return {{"x", "[...]"}}; }

} // namespace

op_info relu_op() {
  return {"relu", "max(x, 0) elementwise; relu'(0) = 0", {}, &x_input, {{"y", "[...]"}}, {},
          &relu_evaluate<double>, &relu_evaluate<mp_real>, &relu_evaluate<float>};
}

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

op_info silu_op() {
  return {"silu", "x·σ(x) elementwise (swish)", {}, &x_input, {{"y", "[...]"}}, {},
          &silu_evaluate<double>, &silu_evaluate<mp_real>, &silu_evaluate<float>};
}

} // namespace gradspec::reference
