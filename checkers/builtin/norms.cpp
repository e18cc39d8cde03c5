// layer_norm and rms_norm over the last axis: x [..., C], gamma [C], beta [C].
//   LayerNorm: mean = Σx/C, var = Σ(x - mean)²/C (two passes, biased), rstd = 1/sqrt(var + eps),
//              xhat = (x - mean)·rstd, y = xhat·gamma + beta;
//              dx = rstd·(g - mean(g) - xhat·mean(g·xhat)), g = dy·gamma.
//   RMSNorm:   rstd = 1/sqrt(Σx²/C + eps), xhat = x·rstd, y = xhat·gamma;
//              dx = rstd·(g - xhat·mean(g·xhat)).
#include "common.hpp"

#include <cmath>

namespace gradspec::checkers::builtin {

template <class eT> mat<eT> layer_norm_forward(const mat<eT>& x, const ln_weights<eT>& w, eT eps, norm_cache<eT>& cache) {
  const uword N = x.n_rows, C = x.n_cols;
  cache.mean.set_size(N);
  cache.rstd.set_size(N);
  cache.xhat.set_size(N, C);
  mat<eT> y(N, C);
  for (uword r = 0; r < N; ++r) {
    eT sum = 0;
    for (uword j = 0; j < C; ++j) sum += x(r, j);
    const eT mean = sum / static_cast<eT>(C);
    eT sq = 0;
    for (uword j = 0; j < C; ++j) {
      const eT d = x(r, j) - mean;
      sq += d * d;
    }
    const eT rstd = eT(1) / std::sqrt(sq / static_cast<eT>(C) + eps);
    cache.mean(r) = mean;
    cache.rstd(r) = rstd;
    for (uword j = 0; j < C; ++j) {
      const eT xhat = (x(r, j) - mean) * rstd;
      cache.xhat(r, j) = xhat;
      y(r, j) = xhat * w.gamma(j) + w.beta(j);
    }
  }
  return y;
}

template <class eT> norm_grads<eT> layer_norm_backward(const mat<eT>& dy, const ln_weights<eT>& w, const norm_cache<eT>& cache) {
  const uword N = dy.n_rows, C = dy.n_cols;
  norm_grads<eT> g;
  g.dx.set_size(N, C);
  g.dw.gamma.zeros(C);
  g.dw.beta.zeros(C);
  for (uword r = 0; r < N; ++r) {
    eT mean_g = 0, mean_gx = 0;
    for (uword j = 0; j < C; ++j) {
      const eT gj = dy(r, j) * w.gamma(j);
      mean_g += gj;
      mean_gx += gj * cache.xhat(r, j);
    }
    mean_g /= static_cast<eT>(C);
    mean_gx /= static_cast<eT>(C);
    for (uword j = 0; j < C; ++j) {
      const eT gj = dy(r, j) * w.gamma(j);
      g.dx(r, j) = cache.rstd(r) * (gj - mean_g - cache.xhat(r, j) * mean_gx);
      g.dw.gamma(j) += dy(r, j) * cache.xhat(r, j);
      g.dw.beta(j) += dy(r, j);
    }
  }
  return g;
}

template <class eT> mat<eT> rms_norm_forward(const mat<eT>& x, const row<eT>& gamma, eT eps, norm_cache<eT>& cache) {
  const uword N = x.n_rows, C = x.n_cols;
  cache.rstd.set_size(N);
  cache.xhat.set_size(N, C);
  mat<eT> y(N, C);
  for (uword r = 0; r < N; ++r) {
    eT sq = 0;
    for (uword j = 0; j < C; ++j) sq += x(r, j) * x(r, j);
    const eT rstd = eT(1) / std::sqrt(sq / static_cast<eT>(C) + eps);
    cache.rstd(r) = rstd;
    for (uword j = 0; j < C; ++j) {
      cache.xhat(r, j) = x(r, j) * rstd;
      y(r, j) = cache.xhat(r, j) * gamma(j);
    }
  }
  return y;
}

template <class eT> norm_grads<eT> rms_norm_backward(const mat<eT>& dy, const row<eT>& gamma, const norm_cache<eT>& cache) {
  const uword N = dy.n_rows, C = dy.n_cols;
  norm_grads<eT> g;
  g.dx.set_size(N, C);
  g.dw.gamma.zeros(C);
  for (uword r = 0; r < N; ++r) {
    eT mean_gx = 0;
    for (uword j = 0; j < C; ++j) mean_gx += dy(r, j) * gamma(j) * cache.xhat(r, j);
    mean_gx /= static_cast<eT>(C);
    for (uword j = 0; j < C; ++j) {
      g.dx(r, j) = cache.rstd(r) * (dy(r, j) * gamma(j) - cache.xhat(r, j) * mean_gx);
      g.dw.gamma(j) += dy(r, j) * cache.xhat(r, j);
    }
  }
  return g;
}

template <class eT> ln_weights<eT> read_ln(const case_view<eT>& v, const std::string& prefix, uword C) {
  return {v.vector(prefix + "gamma", C), v.vector(prefix + "beta", C)};
}

template <class eT> void store(candidate_result& r, const std::string& prefix, const ln_weights<eT>& g) {
  put(r, "gradients." + prefix + "gamma", g.gamma, {static_cast<std::int64_t>(g.gamma.n_elem)});
  put(r, "gradients." + prefix + "beta", g.beta, {static_cast<std::int64_t>(g.beta.n_elem)});
}

template <class eT> candidate_result evaluate_layer_norm(const test_case& c) {
  case_view<eT> v(c);
  const shape_t& xs = v.shape("x");
  const mat<eT> x = v.rows("x");
  const ln_weights<eT> w = read_ln(v, "", x.n_cols);
  norm_cache<eT> cache;
  candidate_result r;
  put(r, "outputs.y", layer_norm_forward(x, w, v.real("eps"), cache), xs);
  put(r, "intermediates.mean", cache.mean, leading(xs, 1));
  put(r, "intermediates.rstd", cache.rstd, leading(xs, 1));
  if (v.backward()) {
    auto g = layer_norm_backward<eT>(v.cotangent("y", xs), w, cache);
    put(r, "gradients.x", g.dx, xs);
    store(r, "", g.dw);
  }
  return r;
}

template <class eT> candidate_result evaluate_rms_norm(const test_case& c) {
  case_view<eT> v(c);
  const shape_t& xs = v.shape("x");
  const mat<eT> x = v.rows("x");
  const row<eT> gamma = v.vector("gamma", x.n_cols);
  norm_cache<eT> cache;
  candidate_result r;
  put(r, "outputs.y", rms_norm_forward(x, gamma, v.real("eps"), cache), xs);
  put(r, "intermediates.rstd", cache.rstd, leading(xs, 1));
  if (v.backward()) {
    auto g = rms_norm_backward<eT>(v.cotangent("y", xs), gamma, cache);
    put(r, "gradients.x", g.dx, xs);
    put(r, "gradients.gamma", g.dw.gamma, v.shape("gamma"));
  }
  return r;
}

#define GRADSPEC_INSTANTIATE(eT)                                                                             \
  template mat<eT> layer_norm_forward(const mat<eT>&, const ln_weights<eT>&, eT, norm_cache<eT>&);           \
  template norm_grads<eT> layer_norm_backward(const mat<eT>&, const ln_weights<eT>&, const norm_cache<eT>&); \
  template mat<eT> rms_norm_forward(const mat<eT>&, const row<eT>&, eT, norm_cache<eT>&);                    \
  template norm_grads<eT> rms_norm_backward(const mat<eT>&, const row<eT>&, const norm_cache<eT>&);          \
  template ln_weights<eT> read_ln(const case_view<eT>&, const std::string&, uword);                          \
  template void store(candidate_result&, const std::string&, const ln_weights<eT>&);                         \
  template candidate_result evaluate_layer_norm<eT>(const test_case&);                                       \
  template candidate_result evaluate_rms_norm<eT>(const test_case&);
GRADSPEC_INSTANTIATE(double)
GRADSPEC_INSTANTIATE(float)
#undef GRADSPEC_INSTANTIATE

} // namespace gradspec::checkers::builtin
