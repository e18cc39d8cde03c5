#include "gradspec/reference/ops/log_softmax.hpp"

#include "gradspec/reference/ops/common.hpp"
#include "gradspec/reference/ops/row_max.hpp"

#include <cmath>
#include <cstddef>

namespace gradspec::reference {

// log_softmax, per row:
//   m = max_j x_j;  lse = m + log(sum_l exp(x_l - m));  y_j = (x_j - m) - log(sum_l exp(x_l - m))
// A row of all -inf gives y = -inf throughout (log of the zero softmax row); -inf entries in a row
// with a finite maximum give -inf.
template <class T> tensor<T> log_softmax_forward(const tensor<T>& x) {
  using std::exp;
  using std::log;
  const std::size_t R = x.rows(), N = x.cols();
  tensor<T> y(x.shape);
  for (std::size_t r = 0; r < R; ++r) {
    const T* xr = x.row(r);
    T* yr = y.row(r);
    const T m = row_max(xr, N);
    if (is_neg_inf(m)) {
      for (std::size_t j = 0; j < N; ++j) yr[j] = m;
      continue;
    }
    T sum = 0;
    for (std::size_t j = 0; j < N; ++j) {
      yr[j] = xr[j];
      yr[j] -= m; // shifted logits, kept for the second pass
      sum += exp(yr[j]);
    }
    const T log_sum = log(sum);
    for (std::size_t j = 0; j < N; ++j) yr[j] -= log_sum;
  }
  return y;
}

// log_softmax backward, per row, with y = log_softmax(x), p = exp(y) = softmax(x):
//   ∂y_i/∂x_j = δ_ij - p_j  =>  dx_j = dy_j - p_j · sum_i dy_i
// A fully -inf row (y all -inf) gets dx = 0 (contract: zero gradients for a fully masked row). In a
// row with a finite maximum a -inf entry has p_j = 0 and so dx_j = dy_j (the limit, as PyTorch).
template <class T> tensor<T> log_softmax_backward(const tensor<T>& dy, const tensor<T>& y) {
  using std::exp;
  const std::size_t R = y.rows(), N = y.cols();
  tensor<T> dx(y.shape);
  for (std::size_t r = 0; r < R; ++r) {
    const T* yr = y.row(r);
    const T* dyr = dy.row(r);
    T* dxr = dx.row(r);
    bool all_neg_inf = true;
    for (std::size_t j = 0; j < N && all_neg_inf; ++j) all_neg_inf = is_neg_inf(yr[j]);
    if (all_neg_inf) continue;
    T s = 0;
    for (std::size_t j = 0; j < N; ++j) s += dyr[j];
    for (std::size_t j = 0; j < N; ++j) {
      dxr[j] = exp(yr[j]);
      dxr[j] *= s;
      dxr[j] = dyr[j] - dxr[j];
    }
  }
  return dx;
}

template tensor<double> log_softmax_forward(const tensor<double>&);
template tensor<float> log_softmax_forward(const tensor<float>&);
template tensor<mp_real> log_softmax_forward(const tensor<mp_real>&);
template tensor<double> log_softmax_backward(const tensor<double>&, const tensor<double>&);
template tensor<float> log_softmax_backward(const tensor<float>&, const tensor<float>&);
template tensor<mp_real> log_softmax_backward(const tensor<mp_real>&, const tensor<mp_real>&);

namespace {

template <class T> op_result<T> log_softmax_evaluate(const op_args<T>& args, bool backward) {
  const auto& x = input(args, "x");
  require_rank(x.shape, 1, "inputs/x", "[..., N]");
  op_result<T> r;
  r.outputs["y"] = log_softmax_forward(x);
  if (backward) r.gradients["x"] = log_softmax_backward(cotangent(args, "y", x.shape), r.outputs["y"]);
  return r;
}

// x is the softmax's logits: a row of all -inf in it is a fully masked row (the case generator's flag).
std::vector<input_spec> x_input(const param_map&) {
  return {{"x", "[..., N]", false, false, true, tensor_role::softmax_logits}};
}

} // namespace

op_info log_softmax_op() {
  return {"log_softmax",
          "log of softmax over the last axis: (x - max) - log(sum exp(x - max)); an all -inf row gives -inf and zero gradient",
          {},
          &x_input,
          {{"y", "[..., N]"}},
          {},
          &log_softmax_evaluate<double>,
          &log_softmax_evaluate<mp_real>, &log_softmax_evaluate<float>};
}

} // namespace gradspec::reference
