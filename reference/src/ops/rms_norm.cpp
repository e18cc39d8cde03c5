#include "gradspec/reference/ops/rms_norm.hpp"

#include "gradspec/reference/ops/common.hpp"

#include <cmath>
#include <cstddef>

namespace gradspec::reference {

// RMSNorm, per row (no centring, no beta), with the scale s_j = gamma_offset + gamma_j:
//   rstd = 1 / sqrt(sum_j x_j² / C + eps);   y_j = x_j·rstd·s_j
// cache.rstd: [R] with x's leading shape; cache.mean stays empty.
template <class T>
tensor<T> rms_norm_forward(const tensor<T>& x, const tensor<T>& gamma, const T& eps, norm_cache<T>& cache, const T& gamma_offset) {
  using std::sqrt;
  const std::size_t R = x.rows(), C = x.cols();
  cache.mean = tensor<T>();
  cache.rstd = tensor<T>(leading_axes(x.shape, 1));
  tensor<T> y(x.shape);
  std::vector<T> scale(C);
  for (std::size_t j = 0; j < C; ++j) scale[j] = gamma_offset + gamma.data[j];
  for (std::size_t r = 0; r < R; ++r) {
    const T* xr = x.row(r);
    T* yr = y.row(r);
    T ms = 0;
    for (std::size_t j = 0; j < C; ++j) ms += xr[j] * xr[j];
    ms /= static_cast<long>(C);
    ms += eps;
    T rstd = 1 / sqrt(ms);
    for (std::size_t j = 0; j < C; ++j) {
      yr[j] = xr[j] * rstd;
      yr[j] *= scale[j];
    }
    cache.rstd.data[r] = std::move(rstd);
  }
  return y;
}

// RMSNorm backward, per row, with xhat_j = x_j·rstd and g_j = dy_j·s_j (s_j = gamma_offset + gamma_j):
//   ∂rstd/∂x_j = -rstd³ x_j / C,  so  ∂xhat_i/∂x_j = rstd (δ_ij - xhat_i xhat_j / C)
//   dx_j     = rstd · (g_j - xhat_j · mean_i(g_i xhat_i))
//   dgamma_j = sum over rows of dy_j xhat_j   (the offset is a constant: ∂s_j/∂gamma_j = 1)
template <class T>
norm_grads<T> rms_norm_backward(const tensor<T>& dy, const tensor<T>& x, const tensor<T>& gamma, const norm_cache<T>& cache,
                                const T& gamma_offset) {
  const std::size_t R = x.rows(), C = x.cols();
  std::vector<T> scale(C);
  for (std::size_t j = 0; j < C; ++j) scale[j] = gamma_offset + gamma.data[j];
  norm_grads<T> g{tensor<T>(x.shape), tensor<T>(shape_t{static_cast<std::int64_t>(C)}), tensor<T>()};
  std::vector<T> xhat(C), gj(C);
  for (std::size_t r = 0; r < R; ++r) {
    const T* xr = x.row(r);
    const T* dyr = dy.row(r);
    T* dxr = g.dx.row(r);
    const T& rstd = cache.rstd.data[r];
    T sum_gx = 0;
    for (std::size_t j = 0; j < C; ++j) {
      xhat[j] = xr[j] * rstd;
      gj[j] = dyr[j] * scale[j];
      sum_gx += gj[j] * xhat[j];
      g.dgamma.data[j] += dyr[j] * xhat[j];
    }
    sum_gx /= static_cast<long>(C);
    for (std::size_t j = 0; j < C; ++j) {
      dxr[j] = xhat[j] * sum_gx;
      dxr[j] = gj[j] - dxr[j];
      dxr[j] *= rstd;
    }
  }
  return g;
}

#define GRADSPEC_RMS_NORM_INSTANTIATE(T)                                                                          \
  template tensor<T> rms_norm_forward(const tensor<T>&, const tensor<T>&, const T&, norm_cache<T>&, const T&);  \
  template norm_grads<T> rms_norm_backward(const tensor<T>&, const tensor<T>&, const tensor<T>&, const norm_cache<T>&, const T&);
GRADSPEC_RMS_NORM_INSTANTIATE(double)
GRADSPEC_RMS_NORM_INSTANTIATE(float)
GRADSPEC_RMS_NORM_INSTANTIATE(mp_real)
#undef GRADSPEC_RMS_NORM_INSTANTIATE

namespace {

template <class T> op_result<T> rms_norm_evaluate(const op_args<T>& args, bool backward) {
  const auto& x = input(args, "x");
  const std::int64_t C = norm_width(x);
  const auto& gamma = input(args, "gamma");
  require_shape(gamma.shape, {C}, "inputs/gamma");
  const T eps = norm_eps<T>(args.params);
  const T gamma_offset = args.params.template real<T>("gamma_offset");
  norm_cache<T> cache;
  op_result<T> r;
  r.outputs["y"] = rms_norm_forward(x, gamma, eps, cache, gamma_offset);
  if (backward) {
    auto g = rms_norm_backward(cotangent(args, "y", x.shape), x, gamma, cache, gamma_offset);
    r.gradients["x"] = std::move(g.dx);
    store_gradients(r, "", std::move(g));
  }
  r.intermediates["rstd"] = std::move(cache.rstd);
  return r;
}

} // namespace

op_info rms_norm_op() {
  return {"rms_norm",
          "RMSNorm over the last axis: x/sqrt(mean(x²) + eps)·(gamma_offset + gamma)",
          {{"eps", param_type::real, "1e-6", {}, false, "added to mean(x²) inside the square root (>= 0)"},
           {"gamma_offset", param_type::real, "0", {}, false,
            "added to gamma before scaling (catalogue v2): 0 (LLaMA), 1 (Gemma stores the scale minus one)"}},
          [](const param_map&) { return std::vector<input_spec>{{"x", "[..., C]"}, {"gamma", "[C]"}}; },
          {{"y", "[..., C]"}},
          {"rstd"},
          &rms_norm_evaluate<double>,
          &rms_norm_evaluate<mp_real>, &rms_norm_evaluate<float>};
}

} // namespace gradspec::reference
