#include "gradspec/reference/ops/softmax.hpp"

#include "gradspec/reference/ops/common.hpp"
#include "gradspec/reference/ops/row_max.hpp"

#include <cmath>
#include <cstddef>

namespace gradspec::reference {

// softmax, per row of x [R, N] (leading axes flattened):
//   m = max_j x_j;  e_j = exp(x_j - m);  y_j = e_j / sum_l e_l       (safe: no exp overflows)
// A row of all -inf (m = -inf) gives y = 0 (safe softmax, contract). Entries of -inf in a row with a
// finite maximum give exact zeros.
template <class T> tensor<T> softmax_forward(const tensor<T>& x) {
  using std::exp;
  const std::size_t R = x.rows(), N = x.cols();
  tensor<T> y(x.shape); // zero-filled: fully -inf rows stay 0
  for (std::size_t r = 0; r < R; ++r) {
    const T* xr = x.row(r);
    T* yr = y.row(r);
    const T m = row_max(xr, N);
    if (is_neg_inf(m)) continue;
    T sum = 0;
    for (std::size_t j = 0; j < N; ++j) {
      yr[j] = xr[j];
      yr[j] -= m;
      yr[j] = exp(yr[j]);
      sum += yr[j];
    }
    for (std::size_t j = 0; j < N; ++j) yr[j] /= sum;
  }
  return y;
}

// softmax backward, per row, with y = softmax(x) and cotangent dy:
//   dx_j = sum_i dy_i ∂y_i/∂x_j = sum_i dy_i y_i (δ_ij - y_j) = y_j (dy_j - <dy, y>)
// A fully -inf row (y all zero) gets dx = 0 whatever dy holds (no 0·inf).
template <class T> tensor<T> softmax_backward(const tensor<T>& dy, const tensor<T>& y) {
  const std::size_t R = y.rows(), N = y.cols();
  tensor<T> dx(y.shape);
  for (std::size_t r = 0; r < R; ++r) {
    const T* yr = y.row(r);
    const T* dyr = dy.row(r);
    T* dxr = dx.row(r);
    bool all_zero = true;
    for (std::size_t j = 0; j < N && all_zero; ++j) all_zero = yr[j] == 0;
    if (all_zero) continue;
    T s = 0;
    for (std::size_t j = 0; j < N; ++j)
      if (yr[j] != 0) s += dyr[j] * yr[j];
    for (std::size_t j = 0; j < N; ++j) {
      if (yr[j] == 0) continue; // exact zero weight: dx_j = 0 (also when dy_j is not finite)
      dxr[j] = dyr[j];
      dxr[j] -= s;
      dxr[j] *= yr[j];
    }
  }
  return dx;
}

template tensor<double> softmax_forward(const tensor<double>&);
template tensor<float> softmax_forward(const tensor<float>&);
template tensor<mp_real> softmax_forward(const tensor<mp_real>&);
template tensor<double> softmax_backward(const tensor<double>&, const tensor<double>&);
template tensor<float> softmax_backward(const tensor<float>&, const tensor<float>&);
template tensor<mp_real> softmax_backward(const tensor<mp_real>&, const tensor<mp_real>&);

namespace {

template <class T> op_result<T> softmax_evaluate(const op_args<T>& args, bool backward) {
  const auto& x = input(args, "x");
  require_rank(x.shape, 1, "inputs/x", "[..., N]");
  op_result<T> r;
  r.outputs["y"] = softmax_forward(x);
  if (backward) r.gradients["x"] = softmax_backward(cotangent(args, "y", x.shape), r.outputs["y"]);
  return r;
}

// x is the softmax's logits: a row of all -inf in it is a fully masked row (the case generator's flag).
std::vector<input_spec> x_input(const param_map&) {
  return {{"x", "[..., N]", false, false, true, tensor_role::softmax_logits}};
}

} // namespace

op_info softmax_op() {
  return {"softmax",
          "softmax over the last axis, max-subtracted; an all -inf row gives zeros and zero gradient",
          {},
          &x_input,
          {{"y", "[..., N]"}},
          {},
          &softmax_evaluate<double>,
          &softmax_evaluate<mp_real>, &softmax_evaluate<float>};
}

} // namespace gradspec::reference
