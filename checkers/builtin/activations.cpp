// relu, gelu (erf form, or the tanh approximation) and silu, elementwise; any shape.
//   relu(x) = max(x, 0), relu'(0) = 0 (NaN propagates forward)
//   gelu(x) = 0.5·x·(1 + erf(x/√2))                         gelu'(x) = Φ(x) + x·φ(x)
//   gelu_tanh(x) = 0.5·x·(1 + tanh(u)), u = √(2/π)·(x + 0.044715·x³)
//   silu(x) = x·σ(x)                                          silu'(x) = σ(x)·(1 + x·(1 - σ(x)))
#include "common.hpp"

#include <cmath>

namespace gradspec::checkers::builtin {

act_kind parse_act(const std::string& name) {
  if (name == "relu") return act_kind::relu;
  if (name == "gelu") return act_kind::gelu;
  if (name == "gelu_tanh") return act_kind::gelu_tanh;
  if (name == "silu") return act_kind::silu;
  fail("params/activation", "unknown activation \"" + name + "\"");
}

namespace {

template <class eT> struct constants {
  static constexpr eT inv_sqrt2 = static_cast<eT>(0.707106781186547524400844362104849039L);
  static constexpr eT inv_sqrt_2pi = static_cast<eT>(0.398942280401432677939946059934381868L);
  static constexpr eT sqrt_2_over_pi = static_cast<eT>(0.797884560802865355879892119868763737L);
  static constexpr eT cubic = static_cast<eT>(0.044715L);
};

template <class eT> eT forward_one(act_kind act, eT x) {
  using k = constants<eT>;
  switch (act) {
  case act_kind::relu: return x > 0 ? x : (x <= 0 ? eT(0) : x);
  case act_kind::gelu: return eT(0.5) * x * (eT(1) + std::erf(x * k::inv_sqrt2));
  case act_kind::gelu_tanh: return eT(0.5) * x * (eT(1) + std::tanh(k::sqrt_2_over_pi * (x + k::cubic * x * x * x)));
  case act_kind::silu: return x / (eT(1) + std::exp(-x));
  }
  return x;
}

template <class eT> eT derivative_one(act_kind act, eT x) {
  using k = constants<eT>;
  switch (act) {
  case act_kind::relu: return x > 0 ? eT(1) : eT(0);
  case act_kind::gelu: {
    const eT cdf = eT(0.5) * (eT(1) + std::erf(x * k::inv_sqrt2));
    const eT pdf = std::exp(eT(-0.5) * x * x) * k::inv_sqrt_2pi;
    return cdf + x * pdf;
  }
  case act_kind::gelu_tanh: {
    const eT x2 = x * x;
    const eT t = std::tanh(k::sqrt_2_over_pi * (x + k::cubic * x2 * x));
    return eT(0.5) * (eT(1) + t) + eT(0.5) * x * (eT(1) - t * t) * k::sqrt_2_over_pi * (eT(1) + eT(3) * k::cubic * x2);
  }
  case act_kind::silu: {
    const eT s = eT(1) / (eT(1) + std::exp(-x));
    return s * (eT(1) + x * (eT(1) - s));
  }
  }
  return 0;
}

template <class eT> candidate_result evaluate_activation(const test_case& c, act_kind act) {
  case_view<eT> v(c);
  const shape_t& xs = v.shape("x");
  const mat<eT> x = v.rows("x", 0);
  candidate_result r;
  put(r, "outputs.y", activation_forward(act, x), xs);
  if (v.backward()) put(r, "gradients.x", activation_backward<eT>(act, v.cotangent("y", xs), x), xs);
  return r;
}

} // namespace

template <class eT> mat<eT> activation_forward(act_kind act, const mat<eT>& x) {
  mat<eT> y(x.n_rows, x.n_cols);
  for (uword i = 0; i < x.n_elem; ++i) y[i] = forward_one(act, x[i]);
  return y;
}

template <class eT> mat<eT> activation_backward(act_kind act, const mat<eT>& dy, const mat<eT>& x) {
  mat<eT> dx(x.n_rows, x.n_cols);
  for (uword i = 0; i < x.n_elem; ++i) dx[i] = dy[i] * derivative_one(act, x[i]);
  return dx;
}

template <class eT> candidate_result evaluate_relu(const test_case& c) { return evaluate_activation<eT>(c, act_kind::relu); }
template <class eT> candidate_result evaluate_gelu(const test_case& c) {
  const std::string& approximate = c.params.choice("approximate");
  if (approximate != "none" && approximate != "tanh") fail("params/approximate", "expected \"none\" or \"tanh\"");
  return evaluate_activation<eT>(c, approximate == "tanh" ? act_kind::gelu_tanh : act_kind::gelu);
}
template <class eT> candidate_result evaluate_silu(const test_case& c) { return evaluate_activation<eT>(c, act_kind::silu); }

#define GRADSPEC_INSTANTIATE(eT)                                                      \
  template mat<eT> activation_forward(act_kind, const mat<eT>&);                      \
  template mat<eT> activation_backward(act_kind, const mat<eT>&, const mat<eT>&);     \
  template candidate_result evaluate_relu<eT>(const test_case&);                      \
  template candidate_result evaluate_gelu<eT>(const test_case&);                      \
  template candidate_result evaluate_silu<eT>(const test_case&);
GRADSPEC_INSTANTIATE(double)
GRADSPEC_INSTANTIATE(float)
#undef GRADSPEC_INSTANTIATE

} // namespace gradspec::checkers::builtin
