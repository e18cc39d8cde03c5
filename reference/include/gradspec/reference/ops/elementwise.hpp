// What the elementwise activations relu, gelu and silu share: the logistic sigmoid, and the loops
// that apply an activation and its slope elementwise with the conventions at NaN and ±inf (spec:
// reference/spec/relu.md, gelu.md, silu.md).
#pragma once

#include "gradspec/reference/scalar.hpp"
#include "gradspec/reference/tensor.hpp"

#include <cmath>
#include <cstddef>

namespace gradspec::reference {

// σ(t) = 1/(1 + e^-t); e^-t overflowing to inf gives exactly 0, never NaN.
template <class T> T sigmoid(const T& t) {
  using std::exp;
  T e = exp(-t);
  e += 1;
  return 1 / e;
}

// y = act(x), elementwise, any shape, with `value(x)` = act(x) for finite x. NaN gives NaN. ±inf give
// the limits: act(+inf) = +inf, act(-inf) = 0 (gelu and silu tend to -0 from below; relu is 0), rather
// than inf·0 = NaN.
template <class T, class Value> tensor<T> activation_map(const tensor<T>& x, Value&& value) {
  tensor<T> y(x.shape);
  for (std::size_t i = 0; i < x.size(); ++i) {
    const T& xi = x.data[i];
    if (is_nan(xi)) y.data[i] = xi;
    else if (is_inf(xi)) y.data[i] = xi > 0 ? xi : T(0);
    else y.data[i] = value(xi);
  }
  return y;
}

// dx = act'(x) ⊙ dy, elementwise, with `slope(x)` = act'(x) for finite x. At ±inf the limits
// act'(+inf) = 1, act'(-inf) = 0; NaN x gives NaN.
template <class T, class Slope> tensor<T> activation_slope_map(const tensor<T>& dy, const tensor<T>& x, Slope&& slope) {
  tensor<T> dx(x.shape);
  for (std::size_t i = 0; i < x.size(); ++i) {
    const T& xi = x.data[i];
    if (is_nan(xi)) {
      dx.data[i] = xi;
      continue;
    }
    const T d = is_inf(xi) ? T(xi > 0 ? 1 : 0) : slope(xi);
    if (d == 0) continue; // exact zero slope: dx = 0 (relu for x <= 0), even for a non-finite dy
    dx.data[i] = d;
    dx.data[i] *= dy.data[i];
  }
  return dx;
}

} // namespace gradspec::reference
