#include "gradspec/reference/ops/layer_norm.hpp"

#include "gradspec/reference/ops/common.hpp"

#include <cmath>
#include <cstddef>

namespace gradspec::reference {

// LayerNorm, per row of x [R, C] (leading axes flattened), two passes:
//   mean = sum_j x_j / C
//   var  = sum_j (x_j - mean)² / C                  (biased: divide by C, never C - 1)
//   rstd = 1 / sqrt(var + eps)                       (eps inside the root)
//   y_j  = (x_j - mean)·rstd·gamma_j + beta_j
// cache.mean, cache.rstd: [R] with x's leading shape ([] for x [C]).
template <class T>
tensor<T> layer_norm_forward(const tensor<T>& x, const tensor<T>& gamma, const tensor<T>& beta, const T& eps, norm_cache<T>& cache) {
  using std::sqrt;
  const std::size_t R = x.rows(), C = x.cols();
  const shape_t lead = leading_axes(x.shape, 1);
  cache.mean = tensor<T>(lead);
  cache.rstd = tensor<T>(lead);
  tensor<T> y(x.shape);
  T d;
  for (std::size_t r = 0; r < R; ++r) {
    const T* xr = x.row(r);
    T* yr = y.row(r);
    T mean = 0;
    for (std::size_t j = 0; j < C; ++j) mean += xr[j];
    mean /= static_cast<long>(C);
    T var = 0;
    for (std::size_t j = 0; j < C; ++j) {
      d = xr[j];
      d -= mean;
      var += d * d;
    }
    var /= static_cast<long>(C);
    var += eps;
    T rstd = 1 / sqrt(var);
    for (std::size_t j = 0; j < C; ++j) {
      yr[j] = xr[j];
      yr[j] -= mean;
      yr[j] *= rstd;
      yr[j] *= gamma.data[j];
      yr[j] += beta.data[j];
    }
    cache.mean.data[r] = std::move(mean);
    cache.rstd.data[r] = std::move(rstd);
  }
  return y;
}

// LayerNorm backward, per row, with xhat_j = (x_j - mean)·rstd and g_j = dy_j·gamma_j:
//   ∂rstd/∂x_j = -rstd³ (x_j - mean) / C,  so  ∂xhat_i/∂x_j = rstd (δ_ij - 1/C - xhat_i xhat_j / C)
//   dx_j     = rstd · (g_j - mean_i(g_i) - xhat_j · mean_i(g_i xhat_i))
//   dgamma_j = sum over rows of dy_j xhat_j,   dbeta_j = sum over rows of dy_j
template <class T>
norm_grads<T> layer_norm_backward(const tensor<T>& dy, const tensor<T>& x, const tensor<T>& gamma, const norm_cache<T>& cache) {
  const std::size_t R = x.rows(), C = x.cols();
  const shape_t cs{static_cast<std::int64_t>(C)};
  norm_grads<T> g{tensor<T>(x.shape), tensor<T>(cs), tensor<T>(cs)};
  std::vector<T> xhat(C), gj(C);
  for (std::size_t r = 0; r < R; ++r) {
    const T* xr = x.row(r);
    const T* dyr = dy.row(r);
    T* dxr = g.dx.row(r);
    const T& mean = cache.mean.data[r];
    const T& rstd = cache.rstd.data[r];
    T sum_g = 0, sum_gx = 0;
    for (std::size_t j = 0; j < C; ++j) {
      xhat[j] = xr[j];
      xhat[j] -= mean;
      xhat[j] *= rstd;
      gj[j] = dyr[j] * gamma.data[j];
      sum_g += gj[j];
      sum_gx += gj[j] * xhat[j];
      g.dbeta.data[j] += dyr[j];
      g.dgamma.data[j] += dyr[j] * xhat[j];
    }
    sum_g /= static_cast<long>(C);
    sum_gx /= static_cast<long>(C);
    for (std::size_t j = 0; j < C; ++j) {
      dxr[j] = xhat[j] * sum_gx;
      dxr[j] = gj[j] - dxr[j];
      dxr[j] -= sum_g;
      dxr[j] *= rstd;
    }
  }
  return g;
}

template <class T> layer_norm_params<T> layer_norm_params_from(const op_args<T>& args, const std::string& prefix, std::int64_t C) {
  auto get = [&](const char* name) -> const tensor<T>& {
    const tensor<T>& t = input(args, prefix + name);
    require_shape(t.shape, {C}, "inputs/" + prefix + name);
    return t;
  };
  return layer_norm_params<T>{get("gamma"), get("beta")}; // braced: gamma is checked first
}

#define GRADSPEC_LAYER_NORM_INSTANTIATE(T)                                                                        \
  template tensor<T> layer_norm_forward(const tensor<T>&, const tensor<T>&, const tensor<T>&, const T&, norm_cache<T>&); \
  template norm_grads<T> layer_norm_backward(const tensor<T>&, const tensor<T>&, const tensor<T>&, const norm_cache<T>&); \
  template layer_norm_params<T> layer_norm_params_from(const op_args<T>&, const std::string&, std::int64_t);
GRADSPEC_LAYER_NORM_INSTANTIATE(double)
GRADSPEC_LAYER_NORM_INSTANTIATE(float)
GRADSPEC_LAYER_NORM_INSTANTIATE(mp_real)
#undef GRADSPEC_LAYER_NORM_INSTANTIATE

namespace {

template <class T> op_result<T> layer_norm_evaluate(const op_args<T>& args, bool backward) {
  const auto& x = input(args, "x");
  const std::int64_t C = norm_width(x);
  const auto p = layer_norm_params_from(args, "", C);
  const T eps = norm_eps<T>(args.params);
  norm_cache<T> cache;
  op_result<T> r;
  r.outputs["y"] = layer_norm_forward(x, p.gamma, p.beta, eps, cache);
  if (backward) {
    auto g = layer_norm_backward(cotangent(args, "y", x.shape), x, p.gamma, cache);
    r.gradients["x"] = std::move(g.dx);
    store_gradients(r, "", std::move(g));
  }
  r.intermediates["mean"] = std::move(cache.mean);
  r.intermediates["rstd"] = std::move(cache.rstd);
  return r;
}

} // namespace

op_info layer_norm_op() {
  return {"layer_norm",
          "LayerNorm over the last axis: (x - mean)/sqrt(var + eps)·gamma + beta, biased variance, two-pass",
          {{"eps", param_type::real, "1e-5", {}, false, "added to the biased variance inside the square root (>= 0)"}},
          [](const param_map&) { return std::vector<input_spec>{{"x", "[..., C]"}, {"gamma", "[C]"}, {"beta", "[C]"}}; },
          {{"y", "[..., C]"}},
          {"mean", "rstd"},
          &layer_norm_evaluate<double>,
          &layer_norm_evaluate<mp_real>, &layer_norm_evaluate<float>};
}

} // namespace gradspec::reference
